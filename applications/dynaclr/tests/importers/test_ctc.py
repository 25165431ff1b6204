"""import_ctc on small real CTC sequences: plate, tracks, YAML, counts, all-or-nothing outputs."""

from dataclasses import asdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile
import yaml
import zarr

from dynaclr import ExperimentRegistry, MultiExperimentIndex
from dynaclr.importers import CTCCounts, ctc_frames, import_ctc
from dynaclr.importers import ctc as ctc_module
from dynaclr.importers.ctc_sequence import label_centroids
from viscy_data.readers import read_plate
from viscy_data.testing import tree_digest

from .ctc_data import IRREGULAR_CELLS, write_irregular, write_sequence, write_simple

EXPECTED = CTCCounts(
    sequences=1,
    frames=6,
    tracks=8,
    divisions=1,
    observations=18,
    unlisted_labels=1,
    unlisted_observations=2,
    unseen_tracks=1,
    orphaned_tracks=1,
    frames_without_mask=1,
    gaps=1,
    gap_links=1,
    outside_span=1,
)


def read_tracks(summary, fov: str) -> pl.DataFrame:
    return pl.read_csv(summary.tracks / fov / "tracks.csv")


def test_irregular_sequence_is_imported_and_every_mismatch_counted(tmp_path):
    seq = write_irregular(tmp_path)
    summary = import_ctc(seq, tmp_path / "ctc.zarr", interval_minutes=30)
    assert summary.counts == EXPECTED
    tracks = read_tracks(summary, "A/1/0")
    assert tracks.columns == ["track_id", "t", "y", "x", "parent_track_id", "mask_pixels"]
    parents = dict(tracks.group_by("track_id").agg(pl.col("parent_track_id").first()).rows())
    assert parents == {1: -1, 2: 1, 3: 1, 4: -1, 5: -1, 6: 5, 7: -1, 10: -1}
    assert tracks.filter(pl.col("track_id") == 4)["t"].to_list() == [0, 1, 2, 4]  # the gap
    assert tracks["t"].max() == 4  # frame 5 has no mask
    expected = [(k, t, *yx) for k, where in IRREGULAR_CELLS.items() for t, yx in where.items()]
    got = tracks.select("track_id", "t", "y", "x").rows()
    assert sorted(got) == sorted(e for e in expected if e[1] != 5)  # centroids exact
    text = str(summary)
    assert "labels in masks, not in the lineage file       1  (kept as root tracks" in text
    assert "frames without a mask                          1" in text


def test_unlisted_labels_can_be_dropped(tmp_path):
    summary = import_ctc(
        write_irregular(tmp_path), tmp_path / "ctc.zarr", interval_minutes=30, drop_unlisted=True
    )
    assert 7 not in read_tracks(summary, "A/1/0")["track_id"].to_list()
    assert summary.counts.unlisted_labels == 1 and summary.counts.observations == 16
    assert "(dropped; 2 observation(s))" in str(summary)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_plate_holds_the_images_one_fov_per_sequence(tmp_path, version):
    a, b = write_irregular(tmp_path), write_simple(tmp_path, dtype="uint16")
    summary = import_ctc(
        [a, b],
        tmp_path / "out" / "exp.zarr",
        interval_minutes=7.5,
        conditions=["mock", "infected"],
        channel_name="GFP",
        ngff_version=version,
        chunks=(2, 1, 1, 32, 32),
    )
    plate = read_plate(summary.plate)
    assert plate.ngff_version == version and plate.channel_names == ("GFP",)
    assert [(f.fov_name, f.shape, f.dtype, f.chunks) for f in plate.fovs] == [
        ("A/1/0", (6, 1, 1, 64, 64), "uint16", (2, 1, 1, 32, 32)),
        ("A/2/0", (6, 1, 1, 64, 64), "uint16", (2, 1, 1, 32, 32)),
    ]
    pixels = zarr.open_array(summary.plate / "A/2/0/0", mode="r")[4, 0, 0]
    np.testing.assert_array_equal(pixels, tifffile.imread(b / "t004.tif"))
    entry = yaml.safe_load(summary.experiments_yaml.read_text())["experiments"][0]
    assert entry == {
        "name": "exp",
        "data_path": "exp.zarr",
        "tracks_path": "exp_tracks",
        "channel_names": ["GFP"],
        "source_channel": ["GFP"],
        "condition_wells": {"mock": ["A/1"], "infected": ["A/2"]},
        "interval_minutes": 7.5,
    }
    assert summary.counts.sequences == 2 and summary.per_fov["A/2/0"].tracks == 2


def test_sequences_of_one_condition_share_a_well(tmp_path):
    seqs = [write_simple(tmp_path, name=n) for n in ("01", "02", "03")]
    summary = import_ctc(seqs, tmp_path / "x.zarr", interval_minutes=5, conditions="ctrl")
    assert list(summary.fovs) == ["A/1/0", "A/1/1", "A/1/2"]
    assert [summary.fovs[f].image_dir for f in summary.fovs] == seqs


def test_3d_sequence_results_folder_and_four_digit_frames(tmp_path):
    cells = {1: {t: (4, 10, 10 + t) for t in range(4)}, 2: {t: (4, 20, 20) for t in range(2, 4)}}
    seq = write_sequence(
        tmp_path,
        cells,
        ["1 0 3 0", "2 2 3 1"],
        frames=4,
        shape=(9, 32, 32),
        kind="RES",
        digits=4,
        dtype="uint8",
    )
    summary = import_ctc(seq, tmp_path / "z.zarr", interval_minutes=10, source="res")
    assert summary.fovs["A/1/0"].lineage_file.name == "res_track.txt"
    tracks = read_tracks(summary, "A/1/0")
    assert tracks.columns[:5] == ["track_id", "t", "z", "y", "x"]
    assert (
        tracks.filter(pl.col("track_id") == 2).select("z", "y", "x", "parent_track_id").rows()
        == [(4.0, 20.0, 20.0, 1)] * 2
    )
    plate = read_plate(summary.plate)
    assert plate.fovs[0].shape == (4, 1, 9, 32, 32) and plate.fovs[0].dtype == "uint8"


def test_imported_tracks_pass_the_index_unchanged(tmp_path):
    summary = import_ctc(
        [write_irregular(tmp_path), write_simple(tmp_path)],
        tmp_path / "ctc.zarr",
        interval_minutes=30,
    )
    idx = MultiExperimentIndex(
        ExperimentRegistry.from_yaml(summary.experiments_yaml), (0, 1), (16, 16), (0.5, 1.0)
    )
    assert idx.tracks.height == summary.counts.observations
    assert idx.tracks.select("fov_name", "track_id").unique().height == summary.counts.tracks


def test_label_centroids_match_a_slow_reference():
    rng = np.random.default_rng(1)
    for shape in [(5, 7), (3, 6, 5)]:
        mask = rng.choice(np.array([0, 3, 8, 70_000]), size=shape).astype(np.uint32)
        labels, pixels, centroids = label_centroids(mask)
        for label, count, centre in zip(labels, pixels, centroids):
            where = np.argwhere(mask == label)
            assert count == len(where)
            np.testing.assert_allclose(centre, where.mean(axis=0))
        assert labels.tolist() == sorted(set(np.unique(mask)) - {0})
    huge = np.zeros((4, 4), np.int64)
    huge[1, 1], huge[2, 3] = 2**40, 5  # sparse huge ids are numbered densely first
    assert label_centroids(huge)[0].tolist() == [5, 2**40]


def test_existing_outputs_are_refused_then_replaced_only_when_complete(tmp_path, monkeypatch):
    seq = write_irregular(tmp_path)
    out = tmp_path / "ctc.zarr"
    first = import_ctc(seq, out, interval_minutes=30)
    with pytest.raises(FileExistsError, match=r"already exists.*pass --overwrite"):
        import_ctc(seq, out, interval_minutes=30)
    before = {
        p: p.read_bytes() for p in (first.experiments_yaml, first.tracks / "A/1/0/tracks.csv")
    }

    def fail(*args, **kwargs):
        raise RuntimeError("injected failure while writing the YAML")

    monkeypatch.setattr(ctc_module, "write_experiments", fail)
    with pytest.raises(RuntimeError, match="injected"):
        import_ctc(seq, out, interval_minutes=60, overwrite=True)
    assert {p: p.read_bytes() for p in before} == before  # old outputs untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "01",
        "01_GT",
        "ctc.yml",
        "ctc.zarr",
        "ctc_tracks",
    ]
    monkeypatch.undo()
    import_ctc(seq, out, interval_minutes=60, overwrite=True)
    assert "interval_minutes: 60.0" in first.experiments_yaml.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # --overwrite replaces only what import-ctc wrote: a user's YAML of the same name stays
    first.experiments_yaml.write_text("experiments: []  # mine\n")
    before = tree_digest(tmp_path)
    with pytest.raises(FileExistsError, match=r"ctc\.yml' exists and holds nothing written by "):
        import_ctc(seq, out, interval_minutes=30, overwrite=True)
    assert tree_digest(tmp_path) == before


def test_an_interrupted_first_import_leaves_nothing(tmp_path, monkeypatch):
    seq = write_irregular(tmp_path)
    calls = []

    def flaky(path):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return tifffile.imread(path)

    monkeypatch.setattr(ctc_frames, "read_tiff", flaky)
    with pytest.raises(KeyboardInterrupt):
        import_ctc(seq, tmp_path / "out" / "ctc.zarr", interval_minutes=30)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("where", ["01/plate.zarr", "01_GT/TRA/plate.zarr", "."])
def test_outputs_inside_an_input_are_refused(tmp_path, where):
    seq = write_irregular(tmp_path)
    out = tmp_path / where if where != "." else tmp_path.parent
    with pytest.raises(ValueError, match=r"(lies inside|would replace) the \w+ folder"):
        import_ctc(
            seq,
            out,
            interval_minutes=30,
            tracks_out=tmp_path / "t",
            experiments_out=tmp_path / "e.yml",
        )


def test_counts_add_up():
    one = CTCCounts(tracks=2, gaps=1)
    assert asdict(one + one) == {**asdict(CTCCounts()), "tracks": 4, "gaps": 2}


def test_summary_lists_each_fov(tmp_path):
    summary = import_ctc(write_simple(tmp_path), tmp_path / "s.zarr", interval_minutes=30)
    assert f"A/1/0 <- {tmp_path / '02'}" in str(summary)
    assert Path(summary.plate).name == "s.zarr"
