"""MultiExperimentIndex on real plates and tracks files: columns, borders, filters, errors."""

import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dynaclr import ExperimentRegistry, MultiExperimentIndex

CONTRACT_COLUMNS = [
    "track_id", "t", "y", "x", "parent_track_id", "experiment", "condition", "well_name",
    "fov_name", "store_path", "global_track_id", "lineage_id", "hours_post_infection",
    "fluorescence_channel", "y_clamp", "x_clamp", "image_height", "image_width",
]  # fmt: skip


def index(*configs, z_range=(0, 1), patch=(16, 16), **kwargs) -> MultiExperimentIndex:
    return MultiExperimentIndex(ExperimentRegistry(list(configs)), z_range, patch, **kwargs)


def as_str(frame: pl.DataFrame, *columns: str) -> list[tuple]:
    return frame.select(pl.col(c).cast(pl.String) for c in columns).rows()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_columns_and_derived_values(write_experiment, version):
    config = write_experiment(version=version, interval_minutes=20.0, start_hpi=3.0)
    idx = index(config)
    tracks = idx.tracks
    assert set(CONTRACT_COLUMNS) <= set(tracks.columns)
    assert tracks.height == 2 * 25 and "infected" in tracks.columns  # extra column kept
    assert set(as_str(tracks, "fov_name", "well_name", "condition")) == {
        ("A/1/0", "A/1", "mock"), ("A/2/0", "A/2", "infected")
    }  # fmt: skip
    np.testing.assert_allclose(tracks["hours_post_infection"], 3.0 + tracks["t"] * 20.0 / 60)
    assert set(tracks["store_path"].cast(pl.String)) == {config.data_path}
    assert set(tracks["fluorescence_channel"].cast(pl.String)) == {"GFP"}
    assert (tracks["image_height"] == 64).all() and (tracks["image_width"] == 64).all()
    keys = tracks.select("fov_name", "track_id").unique()
    assert tracks["global_track_id"].n_unique() == keys.height == 8
    assert tracks.select("global_track_id", "t").is_duplicated().sum() == 0
    assert set(idx.fovs) == {("exp", "A/1/0"), ("exp", "A/2/0")}
    assert idx.fovs[("exp", "A/1/0")].shape == (10, 2, 3, 64, 64)
    assert idx.tau_frames("exp") == (2, 6)  # 0.5-2 h at 20 min per frame


def test_valid_anchors_are_rows_of_tracks(write_experiment):
    idx = index(write_experiment())
    anchors = idx.valid_anchors
    assert anchors.columns[0] == "row" and anchors.schema["row"] == pl.Int64
    assert anchors["row"].to_numpy().tolist() == idx.anchor_rows.tolist()
    assert anchors.drop("row").equals(idx.tracks[anchors["row"].to_numpy()])
    narrow = idx.valid_anchor_columns("experiment", "condition")
    assert narrow.columns == ["row", "experiment", "condition"]
    assert narrow.equals(anchors.select(narrow.columns))
    # tau 1-4 frames: only the last frames of tracks 2, 3 and 4 (t=9) have no positive
    assert anchors.height == 2 * (25 - 3)
    assert idx.tracks.filter(~pl.Series(idx._anchor_mask))["t"].unique().to_list() == [9]
    i, rows = idx.positive_candidates(idx.anchor_rows, np.ones(anchors.height, int))
    t = idx.tracks["t"].to_numpy()
    assert i.size > 0 and (t[rows] == t[idx.anchor_rows[i]] + 1).all()


def test_two_experiments_with_the_same_fov_names(write_experiment):
    a = write_experiment("a", interval_minutes=30.0)
    b = write_experiment("b", interval_minutes=15.0)
    idx = index(a, b)
    tracks = idx.tracks
    assert tracks["global_track_id"].n_unique() == 16 and tracks["lineage_id"].n_unique() == 8
    per_lineage = tracks.group_by("lineage_id").agg(pl.col("experiment").n_unique())
    assert (per_lineage["experiment"] == 1).all()
    assert idx.tau_frames("a") == (1, 4) and idx.tau_frames("b") == (2, 8)
    with pytest.raises(KeyError, match=r"no experiment named 'c'; known experiments: \['a', 'b'\]"):
        idx.tau_frames("c")
    report = idx.summary()
    assert "2 experiment(s), 4 FOV(s), 100 observations" in report
    assert "  a: interval 30 min, tau 1-4 frames, 50 observations" in report
    assert "  b: interval 15 min, tau 2-8 frames" in report
    assert "    infected: 1 FOV(s), 4 tracks, 25 observations" in report


def test_exclude_fovs_names_a_fov_of_every_experiment_or_of_one(write_experiment):
    a, b = write_experiment("a"), write_experiment("b")
    assert set(index(a, b, exclude_fovs=["a/A/1/0"]).fovs) == {
        ("a", "A/2/0"), ("b", "A/1/0"), ("b", "A/2/0"),
    }  # fmt: skip
    assert set(index(a, b, exclude_fovs=["A/1/0"]).fovs) == {("a", "A/2/0"), ("b", "A/2/0")}
    with pytest.raises(ValueError, match=r"exclude_fovs lists \['c/A/1/0'\].*did you mean"):
        index(a, b, exclude_fovs=["c/A/1/0"])


def test_border_cells_are_shifted_inward_and_outside_ones_dropped(
    write_experiment, lineage, caplog
):
    table = lineage().with_columns(
        y=pl.Series([2.0, 63.5, -0.5, 30.0, 64.0] * 5),
        x=pl.Series([0.0, 10.0, 30.0, 70.0, 63.9] * 5),
    )
    config = write_experiment(fovs=("A/1/0",), tracks={"A/1/0": table})
    with caplog.at_level(logging.WARNING):
        idx = index(config)
    assert "dropped 15 of 25 observations whose centroid lies outside the image" in caplog.text
    assert idx.dropped_outside == {"exp": 15}
    kept = idx.tracks.select("y", "x", "y_clamp", "x_clamp").unique().sort("y").rows()
    # 16-pixel patch: centres stay in [8, 64 - 16 + 8] = [8, 56]
    assert kept == [(2.0, 0.0, 8, 8), (63.5, 10.0, 56, 10)]
    assert idx.tracks.schema["y_clamp"] == pl.Int32


def test_all_cells_outside_is_an_error(write_experiment, lineage):
    config = write_experiment(fovs=("A/1/0",), tracks={"A/1/0": lineage(y=100.0, x=5.0)})
    with pytest.raises(ValueError, match=r"Experiment 'exp': all 25 cell centroids lie outside"):
        index(config)


def test_patch_larger_than_image_and_z_outside_stack(write_experiment):
    config = write_experiment()
    with pytest.raises(
        ValueError,
        match=r"yx_patch_size=\(128, 16\) is larger than the image of experiment 'exp', "
        r".*exp\.zarr FOV 'A/1/0' \(height x width = 64 x 64",
    ):
        index(config, patch=(128, 16))
    with pytest.raises(
        ValueError,
        match=r"z_range=slice\(2, 4, None\) is outside the stack .* which has 3 z slice\(s\)",
    ):
        index(config, z_range=(2, 4))
    with pytest.raises(ValueError, match=r"z_range must be slice\(start, stop\) .* got \(3, 1\)"):
        index(config, z_range=(3, 1))
    assert index(config, z_range=slice(0, 3)).z_range == slice(0, 3)


def test_wells_in_no_condition_are_excluded_with_a_warning(write_experiment):
    config = write_experiment(conditions={"mock": ["A/1"]})
    with pytest.warns(
        UserWarning,
        match=r"experiment 'exp': well\(s\) \['A/2'\] of .* are in no condition .* "
        r"their 1 FOV\(s\) are excluded",
    ):
        idx = index(config)
    assert set(idx.tracks["well_name"].cast(pl.String)) == {"A/1"}


def test_include_wells_and_exclude_fovs(write_experiment):
    config = write_experiment(fovs=("A/1/0", "A/1/1", "A/2/0"))
    assert set(index(config, include_wells=["A/2"]).fovs) == {("exp", "A/2/0")}
    assert set(index(config, exclude_fovs=["A/1/0"]).fovs) == {("exp", "A/1/1"), ("exp", "A/2/0")}
    with pytest.raises(
        ValueError,
        match=r"include_wells lists \['B/7'\], which no experiment's plate has as a well",
    ):
        index(config, include_wells=["B/7"])
    with pytest.raises(ValueError, match=r"exclude_fovs lists \['A/1/9'\]"):
        index(config, exclude_fovs=["A/1/9"])
    with pytest.raises(ValueError, match=r"No FOV is left to index"):
        index(config, exclude_fovs=["A/1/0", "A/1/1", "A/2/0"])


def test_missing_tracks_file_unless_the_fov_is_excluded(write_experiment, lineage):
    config = write_experiment(tracks={"A/1/0": lineage(), "A/2/0": None})
    with pytest.raises(
        FileNotFoundError,
        match=r"No tracks folder for FOV 'A/2/0': .*exp_tracks/A/2/0 does not exist",
    ):
        index(config)
    assert set(index(config, exclude_fovs=["A/2/0"]).fovs) == {("exp", "A/1/0")}


def test_several_tracks_files_unless_the_fov_is_excluded(write_experiment):
    config = write_experiment()
    folder = Path(config.tracks_path) / "A/2/0"
    shutil.copy(folder / "tracks.csv", folder / "tracks_v2.csv")
    with pytest.raises(ValueError, match=r"exp_tracks/A/2/0 holds 2 CSV files"):
        index(config)
    assert index(config, exclude_fovs=["A/2/0"]).tracks.height == 25


@pytest.mark.parametrize("layout", ["csv", "parquet"])
def test_one_table_for_the_experiment(write_experiment, layout):
    idx = index(write_experiment(layout=layout))
    assert idx.tracks.height == 50
    assert set(as_str(idx.tracks, "fov_name")) == {("A/1/0",), ("A/2/0",)}


def test_bad_rows_name_the_tracks_file(write_experiment, lineage):
    duplicated = pl.concat([lineage(), lineage().head(1)])
    config = write_experiment(fovs=("A/1/0",), tracks={"A/1/0": duplicated})
    with pytest.raises(
        ValueError,
        match=r"exp_tracks/A/1/0/tracks\.csv \('exp' FOV 'A/1/0'\): 1 duplicate "
        r"\(track_id, t\) row\(s\), e\.g\. track 1 at t=0",
    ):
        index(config)


def test_frames_beyond_the_movie_are_an_error(write_experiment, lineage):
    late = lineage().with_columns(t=pl.col("t") + 5)
    config = write_experiment(fovs=("A/1/0",), tracks={"A/1/0": late})
    with pytest.raises(
        ValueError,
        match=r"tracks\.csv \('exp' FOV 'A/1/0'\): 15 observation\(s\) at frames beyond the "
        r"store's 10 frames, e\.g\. track 2 at t=10",
    ):
        index(config)


def test_no_valid_anchor_is_an_error(write_experiment, lineage):
    single = lineage().filter(pl.col("t") == 0)
    config = write_experiment(fovs=("A/1/0",), tracks={"A/1/0": single})
    with pytest.raises(
        ValueError,
        match=r"No valid anchor: no observation has a positive \{'exp': \(1, 4\)\} frames later",
    ):
        index(config)


def test_index_pickles(write_experiment):
    idx = index(write_experiment())
    clone = pickle.loads(pickle.dumps(idx))
    assert clone.tracks.equals(idx.tracks)
    assert clone.anchor_rows.tolist() == idx.anchor_rows.tolist()
    assert clone.summary() == idx.summary()


HEADER = "track_id,t,y,x,parent_track_id\n"
BAD_TRACKS = {  # tracks.csv content -> expected message
    "missing column": ("track_id,t,y\n1,0,5\n", r"missing required column\(s\) \['x'\]"),
    "non numeric": (HEADER + "1,0,5,5,\n1,x1,5,5,\n", r"column 't' must hold integers; found"),
    "NaN coordinate": (HEADER + "1,0,5,5,\n1,1,NaN,5,\n", r"NaN, infinite or missing y coordin"),
    "duplicate (track_id, t)": (HEADER + "1,0,5,5,\n1,0,6,6,\n", r"1 duplicate \(track_id, t\)"),
    "self parent": (HEADER + "1,0,5,5,1\n", r"parent_track_id equal to its own track_id"),
    "cycle": (HEADER + "1,0,5,5,2\n2,1,5,5,1\n", r"parent_track_id links form a cycle"),
    "unknown parent": (HEADER + "1,0,5,5,-1\n2,1,5,5,7\n", r"parent_track_id 7, but no track"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(BAD_TRACKS))
def test_bad_tracks_files_fail_at_setup_naming_the_file(write_experiment, case):
    config = write_experiment(fovs=("A/1/0",))
    text, match = BAD_TRACKS[case]
    (Path(config.tracks_path) / "A/1/0/tracks.csv").write_text(text)
    with pytest.raises(ValueError, match=r"exp_tracks/A/1/0/tracks\.csv.*" + match):
        index(config)
