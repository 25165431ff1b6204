"""preprocess_plate writes numpy's statistics at every level, in every layout, read back as is."""

import numpy as np
import pytest

from viscy_data.normalization import (
    LEVELS,
    STATS,
    TIMEPOINT,
    NormTable,
    blocks,
    compute_plate_statistics,
    preprocess_plate,
)
from viscy_data.readers import read_plate

from .conftest import CHANNELS, FOVS, assert_stats, exact, make_plate, plate_arrays, shifted_grid

LAYOUTS = {
    "0.4": dict(version="0.4"),
    "0.5": dict(version="0.5"),
    "0.5-sharded": dict(version="0.5", chunks=(1, 1, 2, 6, 6), shards=(1, 1, 2, 12, 12)),
    "0.4-multi-frame-chunks": dict(version="0.4", chunks=(2, 2, 1, 12, 12)),
}


def _check_exact(normalization: dict, arrays: dict, fov: str, channels=CHANNELS) -> None:
    """Every level and statistic of one FOV equals numpy's (all small enough to be exact)."""
    for c, channel in enumerate(CHANNELS):
        if channel not in channels:
            continue
        stats = STATS
        entry = normalization[channel]
        pooled = np.concatenate([a[:, c].ravel() for a in arrays.values()])
        assert_stats(entry["dataset_statistics"], exact(pooled), stats=stats)
        assert_stats(entry["fov_statistics"], exact(arrays[fov][:, c]), stats=stats)
        frames = entry[TIMEPOINT]
        assert list(frames) == [str(t) for t in range(arrays[fov].shape[0])]
        for t, got in frames.items():
            assert_stats(got, exact(arrays[fov][int(t), c]), stats=stats)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_level_equals_numpy_and_reads_back(tmp_path, layout):
    path, arrays = make_plate(tmp_path / "p.zarr", **LAYOUTS[layout])
    result = preprocess_plate(path, num_workers=2)
    plate = read_plate(path)
    assert result.channel_names == CHANNELS and result.levels == LEVELS
    for fov in plate.fovs:
        assert fov.normalization == result.attributes[fov.fov_name]
        _check_exact(fov.normalization, arrays, fov.fov_name)
    assert result.bytes_read == sum(a.nbytes for a in arrays.values())


def test_integer_pixels_and_a_constant_channel(tmp_path):
    arrays = {k: (v * 50).astype("uint16") for k, v in plate_arrays().items()}
    for a in arrays.values():
        a[:, 0] = 40_000  # constant: std must be exactly 0, not a rounding residue
    path, _ = make_plate(tmp_path / "p.zarr", arrays, version="0.5")
    preprocess_plate(path, num_workers=0)
    for fov in read_plate(path).fovs:
        _check_exact(fov.normalization, arrays, fov.fov_name)
        phase = fov.normalization["Phase"]
        assert phase["fov_statistics"] == {
            "mean": 40000.0,
            "std": 0.0,
            "median": 40000.0,
            "iqr": 0.0,
        }


def test_selected_channels_spread_over_one_chunk(tmp_path):
    arrays = plate_arrays((2, 3, 1, 8, 8))
    path, _ = make_plate(tmp_path / "p.zarr", arrays, ["a", "b", "c"], chunks=(1, 3, 1, 8, 8))
    result = preprocess_plate(path, channels=["c", "a"], num_workers=1)
    assert result.channel_names == ("c", "a")
    for fov in read_plate(path).fovs:
        assert sorted(fov.normalization) == ["a", "c"]
        for c, name in ((0, "a"), (2, "c")):
            got = fov.normalization[name]["fov_statistics"]
            assert_stats(got, exact(arrays[fov.fov_name][:, c]), stats=STATS)


def test_chunks_larger_than_the_block_limit_are_read_frame_by_frame(tmp_path, monkeypatch):
    path, arrays = make_plate(tmp_path / "p.zarr", chunks=(3, 2, 2, 12, 12))
    whole = compute_plate_statistics(path, num_workers=0).attributes
    monkeypatch.setattr(blocks, "MAX_BLOCK_BYTES", 12 * 12 * 2 * 4)
    plans = blocks.plan_blocks(0, read_plate(path).fovs[0], [0, 1])
    assert [(b.t0, b.t1, b.read) for b in plans[:2]] == [(0, 1, (0, 1)), (0, 1, (1, 2))]
    assert compute_plate_statistics(path, num_workers=2).attributes == whole
    _check_exact(whole["A/1/0"], arrays, "A/1/0")


def test_results_do_not_depend_on_the_number_of_workers(tmp_path):
    path, _ = make_plate(tmp_path / "p.zarr", plate_arrays((5, 2, 2, 40, 40)))
    runs = [
        compute_plate_statistics(path, num_workers=w, sample_voxels=500).attributes
        for w in (0, 1, 2, 3)
    ]
    assert all(run == runs[0] for run in runs[1:])


def test_subsample_follows_the_documented_grid_rule(tmp_path):
    arrays = plate_arrays((3, 2, 2, 40, 40))
    path, _ = make_plate(tmp_path / "p.zarr", arrays)
    # fov: 9600 voxels -> step ceil(sqrt(9600 / 500)) = 5; frame: 3200 -> step 3;
    # dataset: 3 FOVs x 3*2*8*8 = 1152 pooled voxels, at most 600 -> every 2nd
    stats = compute_plate_statistics(
        path, sample_voxels=500, dataset_sample_voxels=600, num_workers=2
    ).attributes
    for c, channel in enumerate(CHANNELS):
        pooled = []
        for fov, a in arrays.items():
            entry = stats[fov][channel]
            grid = shifted_grid(a[:, c], 5)
            assert_stats(entry["fov_statistics"], exact(grid), stats=("median", "iqr"))
            assert_stats(entry["fov_statistics"], exact(a[:, c]))  # mean and std stay exact
            frame = entry[TIMEPOINT]["1"]
            assert_stats(frame, exact(shifted_grid(a[1:2, c], 3, 1)), stats=("median", "iqr"))
            assert_stats(frame, exact(a[1, c]))
            pooled.append(grid[::2])
        want = exact(np.concatenate(pooled))
        assert_stats(stats[FOVS[0]][channel]["dataset_statistics"], want, stats=("median", "iqr"))


def test_default_subsample_is_within_one_percent_of_exact(tmp_path):
    # 4 * 2 * 768 * 768 = 4,718,592 voxels per FOV: the FOV level is subsampled (step 2)
    shape = (4, 1, 2, 768, 768)
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:768, :768]
    cells = 400 * np.exp(-(((yy % 64) - 32) ** 2 + ((xx % 64) - 32) ** 2) / 200.0)
    arrays = {
        name: (100 + i * 20 + cells + rng.gamma(2.0, 8.0, shape)).astype("float32")
        for i, name in enumerate(FOVS[:2])
    }
    path, _ = make_plate(tmp_path / "p.zarr", arrays, ["GFP"])
    stats = compute_plate_statistics(path).attributes
    want = {"dataset_statistics": exact(np.concatenate([a.ravel() for a in arrays.values()]))}
    for fov, a in arrays.items():
        want["fov_statistics"] = exact(a)
        for level, expected in want.items():
            got = stats[fov]["GFP"][level]
            assert_stats(got, expected)
            assert_stats(got, expected, rtol=0.01, stats=("median", "iqr"))


def test_written_statistics_feed_norm_table(tmp_path):
    path, arrays = make_plate(tmp_path / "p.zarr", version="0.5")
    preprocess_plate(path)
    plate = read_plate(path)
    table = NormTable(
        [fov.normalization for fov in plate.fovs],
        [("GFP", "Phase")] * len(plate.fovs),
        n_frames=3,
        fov_labels=[fov.fov_name for fov in plate.fovs],
    )
    for level in LEVELS:
        table.require(level, STATS, divisor="std")
    meta = table.gather(np.array([0, 2]), np.array([1, 2]))
    want = [exact(arrays[FOVS[0]][1, 1])["mean"], exact(arrays[FOVS[2]][2, 1])["mean"]]
    np.testing.assert_allclose(meta[0][TIMEPOINT]["mean"].numpy(), want, rtol=1e-6)
