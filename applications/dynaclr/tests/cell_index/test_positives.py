"""The positive rule: same track or a descendant at t + tau; valid anchors; lookups."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# Worked example (also in docs/positive-rule.md). FOV A/1/0:
#   track 1: t 0-2, divides into 2 (t 3-4) and 3 (t 3, 5: a gap at 4); 2 divides into 4 (t 5-6)
#   track 5: t 0-6, no relatives. FOV A/1/1 reuses track id 1 (t 0-6).
EXAMPLE = (
    [(1, t, -1) for t in (0, 1, 2)]
    + [(2, t, 1) for t in (3, 4)]
    + [(3, t, 1) for t in (3, 5)]
    + [(4, t, 2) for t in (5, 6)]
    + [(5, t, -1) for t in range(7)]
)


@pytest.fixture
def example(frame, build):
    other = frame([(1, t, -1) for t in range(7)], fov_name="A/1/1")
    return build(pl.concat([frame(EXAMPLE), other]), tau=(1, 3))


def row_of(tables, track_id, t, fov="A/1/0") -> int:
    tracks = tables.tracks.with_row_index("row")
    hit = tracks.filter(
        (pl.col("fov_name") == fov) & (pl.col("track_id") == track_id) & (pl.col("t") == t)
    )
    return int(hit["row"].item())


def positives(tables, track_id, t, tau) -> set[tuple[str, int, int]]:
    """(fov, track_id, t) of every candidate of one anchor."""
    i, rows = tables.positives.candidates(np.array([row_of(tables, track_id, t)]), np.array([tau]))
    assert (i == 0).all()
    picked = tables.tracks[rows].select(pl.col("fov_name").cast(pl.String), "track_id", "t")
    return set(picked.rows())


@pytest.mark.parametrize(
    ("anchor", "tau", "expected"),
    [
        ((1, 0), 1, {(1, 1)}),  # same track, next frame
        ((1, 2), 1, {(2, 3), (3, 3)}),  # both daughters after the division
        ((1, 2), 3, {(3, 5), (4, 5)}),  # a daughter and a granddaughter
        ((2, 3), 2, {(4, 5)}),  # its daughter, never its sibling 3 at t=5
        ((3, 3), 1, set()),  # gap at t=4; sibling 2 at t=4 is not a positive
        ((3, 3), 2, {(3, 5)}),  # own track across the gap
        ((3, 5), 1, set()),  # its niece 4 at t=6 is not a positive
        ((4, 5), 1, {(4, 6)}),  # never an ancestor
        ((5, 0), 3, {(5, 3)}),  # never the other FOV's track 1 at t=3
    ],
)
def test_rule_on_the_worked_example(example, anchor, tau, expected):
    assert positives(example, *anchor, tau) == {("A/1/0", k, t) for k, t in expected}


def test_valid_anchors_of_the_worked_example(example):
    tracks = example.tracks.with_columns(valid=pl.Series(example.anchor_mask))
    invalid = tracks.filter(~pl.col("valid")).select(
        pl.col("fov_name").cast(pl.String), "track_id", "t"
    )
    # last frames, and track 3 at t=5 (nothing of its own or below it later)
    assert set(invalid.rows()) == {
        ("A/1/0", 3, 5),
        ("A/1/0", 4, 6),
        ("A/1/0", 5, 6),
        ("A/1/1", 1, 6),
    }


def test_validity_depends_on_the_tau_range(frame, build):
    rows = [(1, 0, -1), (1, 3, -1)]  # a gap of three frames
    assert build(frame(rows), tau=(1, 2)).anchor_mask.tolist() == [False, False]
    assert build(frame(rows), tau=(1, 3)).anchor_mask.tolist() == [True, False]
    assert build(frame(rows), tau=(4, 5)).anchor_mask.tolist() == [False, False]


def test_tau_zero_and_taus_beyond_the_range_are_rejected(example):
    lookup = example.positives
    with pytest.raises(ValueError, match=r"taus must be >= 1 frame .* got 0"):
        lookup.candidates(np.array([0]), np.array([0]))
    with pytest.raises(
        ValueError, match=r"taus=4 exceeds the index's tau range .* \(max 3 frames\)"
    ):
        lookup.candidates(np.array([0]), np.array([4]))
    with pytest.raises(ValueError, match=r"anchor_rows must be row positions in \[0, 23\)"):
        lookup.candidates(np.array([23]), np.array([1]))
    with pytest.raises(ValueError, match=r"same shape"):
        lookup.candidates(np.array([0, 1]), np.array([1]))


def test_candidates_are_vectorised_over_a_batch(example):
    anchors = np.array([row_of(example, 1, 2), row_of(example, 5, 6), row_of(example, 1, 2)])
    i, rows = example.positives.candidates(anchors, np.array([1, 1, 3]))
    assert i.tolist() == [0, 0, 2, 2]  # anchor 1 (last frame) has none and is absent
    found = example.tracks[rows].select("track_id", "t").rows()
    assert found == [(2, 3), (3, 3), (3, 5), (4, 5)]


def test_has_positive_matches_candidates(example):
    rows = np.arange(example.tracks.height)
    lookup = example.positives
    any_tau = np.zeros(rows.size, bool)
    for tau in (1, 2, 3):
        i, _ = lookup.candidates(rows, np.full(rows.size, tau))
        hit = np.zeros(rows.size, bool)
        hit[i] = True
        assert (lookup.has_positive(rows, tau, tau) == hit).all()
        any_tau |= hit
    assert (lookup.has_positive(rows, 1, 3) == any_tau).all()
    assert (example.anchor_mask == any_tau).all()


def test_experiments_use_their_own_tau_range(frame, build):
    rows = [(1, 0, -1), (1, 3, -1)]
    tracks = pl.concat([frame(rows, experiment="fast"), frame(rows, experiment="slow")])
    tables = build(tracks, tau={"fast": (1, 2), "slow": (2, 4)})
    assert tables.anchor_mask.tolist() == [False, False, True, False]
    assert tables.positives.tau_bounds(np.array([0, 2]))[1].tolist() == [2, 4]


# --- property test against a slow, obvious reference ----------------------------------------


@st.composite
def lineages(draw):
    """Random forests in one or two FOVs (same track ids in both), frames with gaps."""
    rows = []
    for fov in draw(st.sampled_from([["A/1/0"], ["A/1/0", "B/2/0"]])):
        n = draw(st.integers(1, 7))
        ids = draw(st.permutations(range(1, n + 1)))
        for i in range(n):
            parent = draw(st.integers(-1, i - 1))
            frames = draw(st.sets(st.integers(0, 11), min_size=1, max_size=6))
            rows += [(fov, ids[i], t, ids[parent] if parent >= 0 else -1) for t in sorted(frames)]
    tau_min = draw(st.integers(1, 3))
    return rows, tau_min, draw(st.integers(tau_min, 5))


def reference_positives(rows, anchor, tau):
    """Observations at t + tau of the anchor's track or a descendant, by walking parents."""
    parent = {(fov, k): p for fov, k, _, p in rows}

    def descends(fov, track, ancestor):
        while track != -1:
            if track == ancestor:
                return True
            track = parent[(fov, track)]
        return False

    fov, track, t, _ = anchor
    return {(f, k, s) for f, k, s, _ in rows if f == fov and s == t + tau and descends(f, k, track)}


@settings(max_examples=60, deadline=None)
@given(lineages())
def test_every_valid_anchor_has_a_positive_by_the_reference(frame, build, case):
    rows, tau_min, tau_max = case
    tracks = pl.concat([frame([(k, t, p)], fov_name=fov) for fov, k, t, p in rows], how="vertical")
    tables = build(tracks, tau=(tau_min, tau_max))
    index_rows = tables.tracks.select(
        pl.col("fov_name").cast(pl.String), "track_id", "t", "parent_track_id"
    ).rows()
    assert sorted(index_rows) == sorted(rows)
    n = len(index_rows)
    for tau in range(tau_min, tau_max + 1):
        i, found = tables.positives.candidates(np.arange(n), np.full(n, tau))
        for r, anchor in enumerate(index_rows):
            got = {index_rows[s][:3] for s in found[i == r]}
            assert got == reference_positives(rows, anchor, tau), (anchor, tau)
    for r, anchor in enumerate(index_rows):
        expected = any(
            reference_positives(rows, anchor, tau) for tau in range(tau_min, tau_max + 1)
        )
        assert tables.anchor_mask[r] == expected, anchor
