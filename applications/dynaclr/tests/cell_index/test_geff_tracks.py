"""geff stores as tracks: chains become tracks, divisions become parents, merges are refused."""

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dynaclr import ExperimentRegistry, MultiExperimentIndex
from dynaclr.cell_index.geff_tracks import geff_to_tracks, is_geff_store, read_geff_tracks
from dynaclr.cell_index.tracks import find_fov_tracks_file, read_experiment_tracks

from ..geff_data import lineage_graph, write_geff


def experiment_with_geff(write_experiment, tmp_path, fovs=("A/1/0", "A/2/0"), **kwargs):
    config = write_experiment(fovs=fovs, tracks=dict.fromkeys(fovs))
    for i, fov in enumerate(fovs):
        nodes, edges = lineage_graph(offset=1000 * i)
        write_geff(Path(config.tracks_path) / fov / "tracks.geff", nodes, edges, **kwargs)
    return config


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_per_fov_geff_stores_build_the_index_with_divisions(
    write_experiment, tmp_path, zarr_format
):
    config = experiment_with_geff(write_experiment, tmp_path, zarr_format=zarr_format)
    idx = MultiExperimentIndex(ExperimentRegistry([config]), (0, 1), (16, 16), (0.5, 1.0))
    fov = idx.tracks.filter(pl.col("fov_name") == "A/1/0")
    per_track = fov.group_by("track_id").agg(
        pl.col("t").min(), pl.len(), pl.col("parent_track_id").first(), pl.col("id").min()
    )
    rows = sorted(per_track.rows())
    # tracks numbered by (first frame, first node id): mother 1, root 2, daughters 3 and 4
    assert rows == [(1, 0, 4, -1, 100), (2, 0, 10, -1, 400), (3, 4, 6, 1, 200), (4, 4, 6, 1, 300)]
    assert fov.filter(pl.col("track_id") >= 3)["lineage_id"].n_unique() == 1
    daughter_first = fov.filter((pl.col("track_id") == 3) & (pl.col("t") == 4))
    assert daughter_first["parent_id"].to_list() == [103]  # predecessor node id
    assert idx.tracks.height == 2 * 26
    # the mother's last frame (t=3) has its positives one frame later on both daughters
    tracks = idx.tracks.with_row_index("row")
    anchor = tracks.filter(
        (pl.col("fov_name") == "A/1/0") & (pl.col("track_id") == 1) & (pl.col("t") == 3)
    )["row"].to_numpy()
    _, rows = idx.positive_candidates(anchor.astype(np.int64), np.array([1]))
    assert sorted(tracks[rows.tolist()]["id"].to_list()) == [200, 300]


def test_one_geff_store_for_the_experiment_with_a_fov_name_property(write_experiment, tmp_path):
    config = write_experiment(tracks={"A/1/0": None, "A/2/0": None})
    a, edges_a = lineage_graph()
    b, edges_b = lineage_graph(offset=1000)
    nodes = a | b
    fov_names = np.array(["A/1/0"] * len(a) + ["A/2/0"] * len(b))
    store = write_geff(
        tmp_path / "all.geff",
        nodes,
        edges_a + edges_b,
        extra={"fov_name": fov_names, "area": np.arange(len(nodes), dtype=float)},
    )
    tracks, sources = read_experiment_tracks(store, ["A/1/0", "A/2/0"], ["A/1/0", "A/2/0"])
    assert sources == {"A/1/0": str(store), "A/2/0": str(store)}
    assert tracks.group_by("fov_name").len().sort("fov_name")["len"].to_list() == [26, 26]
    assert "area" in tracks.columns  # other scalar node properties ride along
    config.tracks_path = str(store)
    idx = MultiExperimentIndex(ExperimentRegistry([config]), (0, 1), (16, 16), (0.5, 1.0))
    assert idx.tracks.height == 52


def test_a_merge_is_an_error_naming_the_node(write_experiment, tmp_path):
    config = experiment_with_geff(write_experiment, tmp_path, fovs=("A/1/0",))
    nodes, edges = lineage_graph()
    store = Path(config.tracks_path) / "A/1/0/tracks.geff"
    write_geff(store.with_name("merged.geff"), nodes, edges + [(404, 205)])
    shutil.rmtree(store)
    with pytest.raises(
        ValueError,
        match=r"merged\.geff: node 205 \(t=9\) has 2 predecessors "
        r"\[204, 404\], a merge",
    ):
        MultiExperimentIndex(ExperimentRegistry([config]), (0, 1), (16, 16), (0.5, 1.0))


def test_axes_are_matched_by_name_or_by_order(tmp_path):
    nodes = {1: (0, 5.0, 7.0), 2: (1, 6.0, 8.0)}
    # declared x before y: matched by name
    by_name = write_geff(
        tmp_path / "n.geff",
        nodes,
        [(1, 2)],
        axes=[("t", "time"), ("x", "space"), ("y", "space")],
        names=("t", "x", "y"),
    )
    assert read_geff_tracks(by_name).select("y", "x").rows() == [(7.0, 5.0), (8.0, 6.0)]
    # other names: the space axes in order are (y, x), and the time axis is the typed one
    by_order = write_geff(
        tmp_path / "o.geff",
        nodes,
        [(1, 2)],
        axes=[("frame", "time"), ("row", "space"), ("col", "space")],
        names=("frame", "row", "col"),
    )
    out = read_geff_tracks(by_order)
    assert out.select("t", "y", "x").rows() == [(0, 5.0, 7.0), (1, 6.0, 8.0)]
    assert "frame" not in out.columns and "row" not in out.columns


def test_three_space_axes_give_z(tmp_path):
    nodes = {1: (0, 2.0, 5.0, 7.0), 2: (1, 3.0, 6.0, 8.0)}
    store = write_geff(
        tmp_path / "z.geff",
        nodes,
        [(1, 2)],
        names=("t", "z", "y", "x"),
        axes=[("t", "time"), ("z", "space"), ("y", "space"), ("x", "space")],
    )
    assert read_geff_tracks(store).select("z", "y", "x").rows() == [
        (2.0, 5.0, 7.0),
        (3.0, 6.0, 8.0),
    ]


def test_without_axes_the_properties_must_be_named_t_y_x(tmp_path):
    store = write_geff(
        tmp_path / "a.geff", {1: (0, 1.0, 2.0)}, [], axes=None, names=("frame", "y", "x")
    )
    with pytest.raises(
        ValueError,
        match=r"a\.geff: no axes metadata and no node propert\(ies\) "
        r"\['t'\]; found \['frame', 'x', 'y'\]",
    ):
        read_geff_tracks(store)


def test_bad_graphs_name_the_store_and_nodes():
    props = {"t": (np.array([0.0, 1.5]), None), "y": (np.ones(2), None), "x": (np.ones(2), None)}
    with pytest.raises(
        ValueError,
        match=r"s: time property 't' must hold frame indices; nodes "
        r"\[2\] have \[1.5\]",
    ):
        geff_to_tracks(np.array([1, 2]), props, np.empty((0, 2)), source="s")
    props["t"] = (np.array([3, 1]), None)
    with pytest.raises(
        ValueError,
        match=r"do not go forward in time, e.g. node 1 \(t=3\) -> "
        r"node 2 \(t=1\)",
    ):
        geff_to_tracks(np.array([1, 2]), props, np.array([[1, 2]]), source="s")
    undirected = geff_to_tracks(np.array([1, 2]), props, np.array([[1, 2]]), directed=False)
    assert undirected.select("id", "t", "track_id").rows() == [(2, 1, 1), (1, 3, 1)]
    with pytest.raises(
        ValueError, match=r"edge\(s\) name nodes that do not exist, e.g. \[\[1, 9\]\]"
    ):
        geff_to_tracks(np.array([1, 2]), props, np.array([[1, 9]]), source="s")
    props["y"] = (np.ones(2), np.array([False, True]))
    with pytest.raises(
        ValueError,
        match=r"node property 'y' is missing or not finite for 1 "
        r"node\(s\), e.g. nodes \[2\]",
    ):
        geff_to_tracks(np.array([1, 2]), props, np.empty((0, 2)), source="s")


def test_layout_errors(write_experiment, tmp_path):
    config = experiment_with_geff(write_experiment, tmp_path, fovs=("A/1/0",))
    folder = Path(config.tracks_path) / "A/1/0"
    (folder / "tracks.csv").write_text("track_id,t,y,x\n1,0,2,3\n")
    with pytest.raises(
        ValueError,
        match=r"holds 2 tracks files \['tracks.csv', 'tracks.geff'\]; "
        "expected exactly one tracks CSV or \\*.geff store per FOV",
    ):
        find_fov_tracks_file(config.tracks_path, "A/1/0")
    (folder / "tracks.csv").unlink()
    assert is_geff_store(folder / "tracks.geff") and not is_geff_store(folder)
    nodes, edges = lineage_graph()
    store = write_geff(tmp_path / "whole.geff", nodes, edges)
    with pytest.raises(
        ValueError,
        match=r"whole\.geff: a geff store given as the whole "
        r"experiment's tracks_path needs a 'fov_name' node property",
    ):
        read_experiment_tracks(store, ["A/1/0"])
    (tmp_path / "plain.geff").mkdir()
    with pytest.raises(ValueError, match=r"plain\.geff: not a geff store"):
        read_experiment_tracks(tmp_path / "plain.geff", ["A/1/0"])


def test_edges_across_fovs_are_refused(tmp_path):
    nodes = {1: (0, 1.0, 1.0), 2: (1, 1.0, 1.0)}
    store = write_geff(
        tmp_path / "x.geff", nodes, [(1, 2)], extra={"fov_name": np.array(["A/1/0", "A/2/0"])}
    )
    with pytest.raises(
        ValueError,
        match=r"1 edge\(s\) link nodes of different FOVs, e.g. "
        r"\[\(1, 'A/1/0', 2, 'A/2/0'\)\]",
    ):
        read_experiment_tracks(store, ["A/1/0", "A/2/0"])
