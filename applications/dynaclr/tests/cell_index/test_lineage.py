"""Lineages: root ancestors by pointer jumping, ancestry pairs, parent checks."""

import numpy as np
import polars as pl
import pytest

from dynaclr.cell_index.lineage import ancestry, find_roots, link_parents, parents_per_track


def test_roots_of_a_forest():
    #   0 -> 1 -> 3 -> 4     2 (alone)     5 -> 6, 5 -> 7
    parent = np.array([-1, 0, -1, 1, 3, -1, 5, 5])
    root, cyclic = find_roots(parent)
    assert root.tolist() == [0, 0, 2, 0, 0, 5, 5, 5]
    assert not cyclic.any()


@pytest.mark.timeout(10)
def test_cycles_and_self_loops_terminate_and_are_flagged():
    # 0 <-> 1 is a cycle, 2 hangs below it, 3 points to itself, 4 -> 5 is a normal lineage,
    # 6 -> 7 -> 8 -> 6 a 3-cycle
    parent = np.array([1, 0, 1, 3, -1, 4, 8, 6, 7])
    _, cyclic = find_roots(parent)
    assert cyclic.tolist() == [True, True, True, True, False, False, True, True, True]


@pytest.mark.timeout(10)
def test_deep_chain_is_resolved_in_log_passes():
    n = 200_000
    parent = np.arange(-1, n - 1)  # track g's parent is g - 1
    root, cyclic = find_roots(parent)
    assert (root == 0).all() and not cyclic.any()
    ring = np.roll(np.arange(n), 1)  # one cycle through every track
    assert find_roots(ring)[1].all()


def test_ancestry_lists_every_ancestor_or_self_once():
    parent = np.array([-1, 0, 1, 0, -1])  # 0 -> 1 -> 2, 0 -> 3, 4 alone
    table = ancestry(parent)
    assert table.columns == ["global_track_id", "ancestor_id"]
    pairs = set(table.rows())
    assert pairs == {(0, 0), (1, 1), (1, 0), (2, 2), (2, 1), (2, 0), (3, 3), (3, 0), (4, 4)}
    assert table.height == len(pairs)
    assert table["global_track_id"].is_sorted()


@pytest.mark.timeout(20)
def test_ancestry_of_a_deep_chain_is_quadratic_but_finishes():
    n = 1500
    table = ancestry(np.arange(-1, n - 1))
    assert table.height == n * (n + 1) // 2
    assert table.filter(pl.col("global_track_id") == n - 1)["ancestor_id"].to_list() == list(
        range(n - 1, -1, -1)
    )


def test_ancestry_rejects_cycles():
    with pytest.raises(ValueError, match="cycle"):
        ancestry(np.array([1, 0]))


def test_one_parent_per_track_roots_may_be_blank_on_some_rows():
    # track rows: [0, 1, 2] -> parents (-1, 5, 5); [3, 4] -> (7, 8); [5] -> (-1)
    parent, conflicting = parents_per_track(np.array([-1, 5, 5, 7, 8, -1]), np.array([0, 3, 5]))
    assert parent.tolist() == [5, 8, -1]
    assert conflicting.tolist() == [False, True, False]


LABELS = [("exp", "A/1/0"), ("exp", "A/2/0")]


def test_link_parents_resolves_within_the_fov_only():
    fov = np.array([0, 0, 1, 1])
    track = np.array([1, 2, 1, 2])
    parent = link_parents(fov, track, np.array([-1, 1, -1, 1]), LABELS)
    assert parent.tolist() == [-1, 0, -1, 2]  # FOV 1's track 2 -> FOV 1's track 1, not FOV 0's


def test_parent_in_another_fov_is_named():
    fov, track = np.array([0, 1]), np.array([1, 2])
    sources = {("exp", "A/2/0"): "/t/A/2/0/tracks.csv"}
    with pytest.raises(
        ValueError,
        match=r"/t/A/2/0/tracks\.csv \('exp' FOV 'A/2/0'\): track 2 has parent_track_id 1, but "
        r"it is a track of another FOV \(\['A/1/0'\]\)",
    ):
        link_parents(fov, track, np.array([-1, 1]), LABELS, sources)


def test_unknown_parent_is_named():
    with pytest.raises(
        ValueError, match=r"parent_track_id 9, but no track of this FOV has that id"
    ):
        link_parents(np.array([0]), np.array([1]), np.array([9]), LABELS)


# --- through the pure build ----------------------------------------------------------------


def test_lineage_id_is_the_root_global_track_id(frame, build):
    rows = [(10, 0, -1), (11, 1, 10), (12, 1, 10), (13, 2, 11), (20, 0, -1)]
    tracks = build(frame(rows)).tracks
    lineage = dict(zip(tracks["track_id"], tracks["lineage_id"]))
    gid = dict(zip(tracks["track_id"], tracks["global_track_id"]))
    assert {k: lineage[k] for k in (10, 11, 12, 13)} == dict.fromkeys((10, 11, 12, 13), gid[10])
    assert lineage[20] == gid[20] != gid[10]


def test_identical_fov_numbers_and_track_ids_in_two_wells_do_not_alias(frame, build):
    rows = [(1, 0, -1), (2, 1, 1), (3, 1, 1)]
    parts = [frame(rows, fov_name="A/1/0"), frame(rows, fov_name="B/1/0")]
    parts.append(frame(rows, experiment="other", fov_name="A/1/0"))
    tracks = build(pl.concat(parts)).tracks
    keys = tracks.select("experiment", "fov_name", "track_id").unique()
    assert tracks["global_track_id"].n_unique() == keys.height == 9
    assert tracks["lineage_id"].n_unique() == 3
    per_lineage = tracks.group_by("lineage_id").agg(
        pl.col("fov_name").n_unique(), pl.col("experiment").n_unique()
    )
    assert (per_lineage["fov_name"] == 1).all() and (per_lineage["experiment"] == 1).all()


@pytest.mark.timeout(10)
def test_cycle_in_tracks_is_a_value_error_naming_the_file(frame, build):
    rows = [(1, 0, 3), (2, 1, 1), (3, 2, 2), (4, 0, -1)]
    sources = {("exp", "A/1/0"): "/t/A/1/0/tracks.csv"}
    with pytest.raises(
        ValueError,
        match=r"/t/A/1/0/tracks\.csv \('exp' FOV 'A/1/0'\): parent_track_id links form a cycle "
        r"\(track ids \[1, 3, 2\] lead back to themselves\); 3 track\(s\)",
    ):
        build(frame(rows), sources=sources)


def test_rows_naming_two_parents_are_rejected(frame, build):
    rows = [(1, 0, -1), (2, 0, -1), (3, 1, 1), (3, 2, 2)]
    with pytest.raises(ValueError, match=r"rows of track 3 name different parent_track_id values"):
        build(frame(rows))


def test_parent_in_another_fov_through_the_build(frame, build):
    tracks = pl.concat(
        [frame([(1, 0, -1)], fov_name="A/1/0"), frame([(2, 1, 1)], fov_name="A/1/1")]
    )
    with pytest.raises(
        ValueError,
        match=r"'exp' FOV 'A/1/1': track 2 has parent_track_id 1, but it is a track of another FOV",
    ):
        build(tracks)
