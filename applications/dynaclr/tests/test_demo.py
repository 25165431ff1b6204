"""Demo and identity datasets: fast, seeded, valid on disk, and showing what they promise."""

import runpy
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tensorstore as ts

from dynaclr.demo import (
    IDENTITY_BACKGROUND,
    decode_identity,
    encode_identity,
    write_demo_dataset,
    write_identity_dataset,
)
from dynaclr.registry import ExperimentRegistry
from viscy_data.readers import read_plate, tensorstore_spec


def _pixels(fov) -> np.ndarray:
    return ts.open(tensorstore_spec(fov), read=True).result().read().result()


def _tracks(exp, fov_name: str) -> pl.DataFrame:
    return pl.read_csv(Path(exp.tracks_path) / fov_name / "tracks.csv")


@pytest.fixture(scope="module")
def demo(demo_yaml) -> ExperimentRegistry:
    return ExperimentRegistry.from_yaml(demo_yaml)


# --- demo dataset ---------------------------------------------------------------------------------


def test_default_demo_is_fast_and_seeded(tmp_path, demo_yaml):
    start = time.perf_counter()
    again = write_demo_dataset(tmp_path / "again")
    assert time.perf_counter() - start < 15.0  # ~1.5 s on one free core
    assert again.read_text() == demo_yaml.read_text()
    first, second = ExperimentRegistry.from_yaml(demo_yaml), ExperimentRegistry.from_yaml(again)
    for a, b in zip(first.experiments, second.experiments, strict=True):
        for fa, fb in zip(first.plates[a.name].fovs, second.plates[b.name].fovs, strict=True):
            np.testing.assert_array_equal(_pixels(fa), _pixels(fb))
            assert fa.normalization == fb.normalization
            assert _tracks(a, fa.fov_name).equals(_tracks(b, fb.fov_name))
    other = write_demo_dataset(tmp_path / "other", 1, n_frames=4, image_size=64, seed=1)
    fov = ExperimentRegistry.from_yaml(other).plates["demo0_SEC61B"].fovs[0]
    assert not np.array_equal(_pixels(fov), _pixels(first.plates["demo0_SEC61B"].fovs[0])[:4, ...])


def test_demo_layout_and_metadata(demo):
    assert [e.name for e in demo.experiments] == ["demo0_SEC61B", "demo1_TOMM20"]
    assert [e.interval_minutes for e in demo.experiments] == [30.0, 20.0]
    reporters = [e.channel_names[1] for e in demo.experiments]
    assert reporters[0] != reporters[1] and demo.num_source_channels == 2
    for exp in demo.experiments:
        assert exp.channel_names[0] == "Phase3D"
        assert exp.condition_wells == {"uninfected": ["A/1"], "infected": ["A/2"]}
        plate = demo.plates[exp.name]
        assert [f.fov_name for f in plate.fovs] == ["A/1/0", "A/1/1", "A/2/0", "A/2/1"]
        assert {f.shape for f in plate.fovs} == {(20, 2, 3, 160, 160)}
        assert {f.dtype for f in plate.fovs} == {"float32"}
        for fov in plate.fovs:
            tracks = _tracks(exp, fov.fov_name)
            assert tracks.columns == [
                "track_id", "t", "y", "x", "id", "parent_track_id", "parent_id", "infected"
            ]  # fmt: skip
            assert tracks.select(pl.col("y", "x").is_between(24, 135).all()).row(0) == (True, True)
            assert tracks["t"].min() == 0 and tracks["t"].max() == 19
            assert not tracks.select("track_id", "t").is_duplicated().any()
            assert tracks["id"].is_unique().all()


def test_demo_cells_move_and_divide(demo):
    exp = demo.experiments[0]
    for fov in demo.plates[exp.name].fovs:
        tracks = _tracks(exp, fov.fov_name)
        steps = tracks.sort("track_id", "t").select(
            pl.col("y").diff().over("track_id").abs(), pl.col("x").diff().over("track_id").abs()
        )
        assert steps.max().row(0)[0] > 0.5  # cells move
        daughters = tracks.filter(pl.col("parent_track_id") > 0)
        assert daughters["track_id"].n_unique() >= 2  # every FOV has a division
        births = daughters.group_by("track_id").agg(pl.col("t").min(), pl.col("parent_id").first())
        ends = tracks.group_by("track_id").agg(
            pl.col("t").max().alias("last_t"), pl.col("id").last()
        )
        linked = births.join(
            daughters.select("track_id", "parent_track_id").unique(), on="track_id"
        ).join(ends, left_on="parent_track_id", right_on="track_id")
        assert (linked["t"] == linked["last_t"] + 1).all()  # daughters start after the mother
        assert (linked["parent_id"] == linked["id"]).all()  # ... linked to her last observation
        assert (linked.group_by("parent_track_id").len()["len"] == 2).all()  # two daughters
        roots = tracks.filter(pl.col("parent_track_id") == -1)
        first = roots.group_by("track_id").agg(pl.col("parent_id").sort_by("t").first())
        assert (first["parent_id"] == -1).all()


def test_infected_cells_relocalise_reporter_at_similar_mean(demo):
    exp = demo.experiments[0]
    ratios = {0: [], 1: []}
    disk_means = {0: [], 1: []}
    off = np.arange(-8, 9)
    radius = np.hypot(off[:, None], off[None, :])
    for fov in demo.plates[exp.name].fovs:
        tracks = _tracks(exp, fov.fov_name)
        if fov.well_name == "A/1":
            assert tracks["infected"].sum() == 0
        pixels = _pixels(fov)
        t, y, x = (tracks[c].to_numpy() for c in ("t", "y", "x"))
        yy = np.clip(np.rint(y).astype(int)[:, None, None] + off[:, None], 0, 159)
        xx = np.clip(np.rint(x).astype(int)[:, None, None] + off[None, :], 0, 159)
        patch = pixels[t[:, None, None], 1, 1, yy, xx] - 100.0  # reporter, focal slice
        centre, ring = (
            patch[:, radius <= 2].mean(1),
            patch[:, (radius >= 5) & (radius <= 6)].mean(1),
        )
        for label in (0, 1):
            rows = tracks["infected"].to_numpy() == label
            ratios[label].extend(centre[rows] / ring[rows])
            disk_means[label].extend(patch[rows][:, radius <= 8].mean(1))
    assert np.median(ratios[0]) < 0.5 and np.median(ratios[1]) > 3.0  # nucleus lights up
    assert 0.8 < np.mean(disk_means[1]) / np.mean(disk_means[0]) < 1.25  # mean barely moves
    infected = pl.concat(
        [
            _tracks(exp, f.fov_name).with_columns(fov=pl.lit(f.fov_name))
            for f in demo.plates[exp.name].fovs
            if f.well_name == "A/2"
        ]
    )
    monotone = infected.sort("t").group_by("fov", "track_id").agg(pl.col("infected").diff().min())
    assert (monotone["infected"].fill_null(0) >= 0).all()  # once infected, always infected
    assert 0 < infected["infected"].mean() < 1


def test_normalization_matches_pixels(demo):
    exp = demo.experiments[1]
    fovs = demo.plates[exp.name].fovs
    pixels = {fov.fov_name: _pixels(fov) for fov in fovs}
    for c, channel in enumerate(exp.channel_names):
        everything = np.concatenate([p[:, c].ravel() for p in pixels.values()]).astype(np.float64)
        for fov in fovs:
            norm = fov.normalization[channel]
            assert set(norm) == {"dataset_statistics", "fov_statistics", "timepoint_statistics"}
            data = pixels[fov.fov_name][:, c].astype(np.float64)
            for t in (0, 7, 19):
                q25, median, q75 = np.percentile(data[t], [25, 50, 75])
                expected = [data[t].mean(), data[t].std(), median, q75 - q25]
                stats = norm["timepoint_statistics"][str(t)]
                np.testing.assert_allclose(list(stats.values()), expected, rtol=1e-5)
            for level, values in (("fov_statistics", data), ("dataset_statistics", everything)):
                stats = norm[level]
                np.testing.assert_allclose([stats["mean"], stats["std"]],
                                           [values.mean(), values.std()], rtol=1e-5)  # fmt: skip
                q25, median, q75 = np.percentile(values, [25, 50, 75])  # yx-grid sample: close
                assert abs(stats["median"] - median) < 0.05 * (q75 - q25)
                assert abs(stats["iqr"] - (q75 - q25)) < 0.05 * (q75 - q25)
        assert len({str(f.normalization[channel]["dataset_statistics"]) for f in fovs}) == 1


def test_demo_writes_sharded_v05(tmp_path):
    path = write_demo_dataset(
        tmp_path, 3, n_frames=4, image_size=(48, 64), z_slices=2, fovs_per_well=1,
        cells_per_fov=3, version="0.5", chunks=(1, 1, 1, 16, 16), shards=(2, 1, 2, 48, 64),
    )  # fmt: skip
    registry = ExperimentRegistry.from_yaml(path)
    assert [e.interval_minutes for e in registry.experiments] == [30.0, 20.0, 15.0]
    fov = registry.plates["demo2_H2B"].fovs[0]
    assert fov.zarr_format == 3 and fov.chunks == (1, 1, 1, 16, 16)
    assert fov.shape == (4, 2, 2, 48, 64) and np.isfinite(_pixels(fov)).all()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_demo_writes_uncompressed_chunks_with_the_same_pixels(tmp_path, version):
    sizes = dict(n_frames=3, image_size=32, z_slices=1, fovs_per_well=1, cells_per_fov=2)
    plain = write_demo_dataset(tmp_path / "raw", 1, version=version, compressors=None, **sizes)
    packed = write_demo_dataset(tmp_path / "auto", 1, version=version, **sizes)
    raw_fov = ExperimentRegistry.from_yaml(plain).plates["demo0_SEC61B"].fovs[0]
    auto_fov = ExperimentRegistry.from_yaml(packed).plates["demo0_SEC61B"].fovs[0]
    np.testing.assert_array_equal(_pixels(raw_fov), _pixels(auto_fov))
    array = Path(raw_fov.store_path) / raw_fov.fov_name / "0"
    meta = array / (".zarray" if version == "0.4" else "zarr.json")
    text = meta.read_text()
    if version == "0.4":
        assert '"compressor": null' in text
    else:
        assert '"zstd"' not in text and '"blosc"' not in text
    chunk_files = [f for f in array.rglob("*") if f.is_file()]
    chunk_files = [f for f in chunk_files if f.name not in (".zarray", ".zattrs", "zarr.json")]
    assert {f.stat().st_size for f in chunk_files} == {32 * 32 * 4}  # one float32 plane each


def test_demo_rejects_bad_sizes(tmp_path):
    with pytest.raises(ValueError, match=r"image_size must be an int or \(Y, X\) pair >= 16"):
        write_demo_dataset(tmp_path, image_size=8)
    with pytest.raises(ValueError, match=r"cell_radius in \[2, image_size / 4\]; got 10 and 30"):
        write_demo_dataset(tmp_path, cells_per_fov=10, cell_radius=30, image_size=64)


# --- identity dataset ---------------------------------------------------------------------------


def test_identity_pixels_decode_to_their_track_and_frame(identity_yaml):
    registry = ExperimentRegistry.from_yaml(identity_yaml)
    maps = registry.channel_maps
    assert maps == {"identity0": {0: 0, 1: 1}, "identity1": {0: 2, 1: 0}}
    for e, exp in enumerate(registry.experiments):
        for fov in registry.plates[exp.name].fovs:
            pixels, tracks = _pixels(fov), _tracks(exp, fov.fov_name)
            assert (tracks["parent_track_id"] > 0).sum() > 0  # a division in every FOV
            t, y, x = (tracks[c].to_numpy().astype(int) for c in ("t", "y", "x"))
            for channel in maps[exp.name].values():  # every source channel and z slice
                decoded = decode_identity(pixels[t, channel, :, y, x])
                expected = (e, tracks["track_id"].to_numpy()[:, None], t[:, None])
                for got, want in zip(decoded, expected, strict=True):
                    np.testing.assert_array_equal(got, np.broadcast_to(want, got.shape))
            # Each observation owns exactly one full disk of 49 pixels (radius 4); nothing else.
            codes, counts = np.unique(pixels[:, maps[exp.name][0], 0], return_counts=True)
            assert codes[0] == IDENTITY_BACKGROUND and len(codes) == len(tracks) + 1
            assert (counts[1:] == 49).all()
            if exp.name == "identity1":
                with pytest.raises(ValueError, match=r"decoy value -2\.0: a non-source channel"):
                    decode_identity(pixels[:, 1])
            assert fov.normalization[exp.channel_names[0]]["fov_statistics"]["std"] == 1.0


def test_identity_fov_names(tmp_path, identity_yaml):
    shared = ExperimentRegistry.from_yaml(identity_yaml)
    names = [[f.fov_name for f in shared.plates[e.name].fovs] for e in shared.experiments]
    assert names[0] == names[1] == ["A/1/0", "A/2/0"]
    path = write_identity_dataset(tmp_path, 3, shared_fov_names=False, decoy_channel=False,
                                  divisions=False, normalization=False)  # fmt: skip
    registry = ExperimentRegistry.from_yaml(path)
    assert [e.condition_wells["infected"] for e in registry.experiments] == [
        ["A/2"],
        ["B/2"],
        ["C/2"],
    ]
    assert all(m == {0: 0, 1: 1} for m in registry.channel_maps.values())
    fov = registry.plates["identity2"].fovs[0]
    assert fov.normalization is None
    assert (_tracks(registry.experiments[2], fov.fov_name)["parent_track_id"] == -1).all()


def test_identity_codes_round_trip_and_errors(tmp_path):
    e, k, t = np.array([0, 15, 3]), np.array([0, 999, 42]), np.array([999, 0, 7])
    values = encode_identity(e, k, t)
    assert values.dtype == np.float32
    for got, want in zip(decode_identity(values), (e, k, t), strict=True):
        np.testing.assert_array_equal(got, want)
    assert [int(a) for a in decode_identity(-1.0)] == [-1, -1, -1]
    with pytest.raises(ValueError, match=r"must be integers; got \[2\.5\]"):
        decode_identity([1.0, 2.5])
    with pytest.raises(ValueError, match=r"out of range"):
        decode_identity([-7.0])
    with pytest.raises(ValueError, match=r"0 <= track_id < 1000"):
        encode_identity(0, 1000, 0)
    with pytest.raises(ValueError, match=r"each needs >= 4 \* cell_radius \+ 6 = 26 px"):
        write_identity_dataset(tmp_path, image_size=32, cells_per_fov=4, cell_radius=5)


def test_identity_plate_reads_back(tmp_path):
    path = write_identity_dataset(tmp_path, 1, n_frames=3, version="0.5", shards=(1, 2, 2, 64, 64))
    plate = read_plate(path.parent / "identity0.zarr")
    assert plate.ngff_version == "0.5" and plate.fovs[0].shape == (3, 2, 2, 64, 64)


def test_benchmark_smoke(monkeypatch, capsys):
    script = Path(__file__).parents[3] / "benchmarks" / "bench_demo.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--smoke"])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "64x64" in out and "baseline 64" in out and "median" in out
