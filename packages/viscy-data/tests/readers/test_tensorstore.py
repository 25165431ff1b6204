"""PatchReader reads the right pixels from many arrays concurrently."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import zarr

from viscy_data.readers import PatchReader, PatchReadError, PendingPatches

SHAPE = (3, 3, 4, 32, 40)  # T, C, Z, Y, X


def _write(path: Path, zarr_format: int, offset: float, shards=None) -> np.ndarray:
    data = (np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) + offset).astype(np.uint16)
    kwargs = {"shards": shards} if shards else {}
    arr = zarr.create_array(
        str(path),
        shape=SHAPE,
        chunks=(1, 1, 4, 16, 20),
        dtype="uint16",
        zarr_format=zarr_format,
        **kwargs,
    )
    arr[:] = data
    return data


def _spec(path: Path, zarr_format: int) -> dict:
    driver = "zarr" if zarr_format == 2 else "zarr3"
    return {"driver": driver, "kvstore": {"driver": "file", "path": str(path)}}


@pytest.fixture
def arrays(tmp_path):
    a = _write(tmp_path / "a.zarr", 2, 0)
    b = _write(tmp_path / "b.zarr", 3, 1000, shards=(1, 1, 4, 32, 40))
    specs = {"a": _spec(tmp_path / "a.zarr", 2), "b": _spec(tmp_path / "b.zarr", 3)}
    return specs, {"a": a, "b": b}


def test_reads_match_numpy_slicing(arrays):
    specs, data = arrays
    reader = PatchReader(specs)
    keys = ["a", "b", "a", "b"]
    t = np.array([0, 2, 1, 0])
    channels = [(2, 0), (1, 2), (0, 1), (0, 0)]
    y0, x0 = np.array([0, 5, 16, 10]), np.array([3, 0, 20, 24])
    out = reader.read(keys, t, channels, slice(1, 3), y0, x0, (16, 16))
    assert out.shape == (4, 2, 2, 16, 16) and out.dtype == np.float32
    for i, key in enumerate(keys):
        expected = data[key][t[i], list(channels[i]), 1:3, y0[i] : y0[i] + 16, x0[i] : x0[i] + 16]
        np.testing.assert_array_equal(out[i], expected.astype(np.float32))


def test_shared_context_and_cache_budget(arrays):
    specs, _ = arrays
    reader = PatchReader(specs, cache_pool_bytes=1 << 20)
    assert reader.store("a") is reader.store("a")
    assert reader.context is reader.context
    assert reader.context.spec.to_json()["cache_pool"]["total_bytes_limit"] == 1 << 20


def test_pickles_without_handles(arrays):
    specs, data = arrays
    reader = PatchReader(specs)
    reader.store("a")
    clone = pickle.loads(pickle.dumps(reader))
    out = clone.read(
        ["a"], np.array([1]), [(1,)], slice(0, 1), np.array([0]), np.array([0]), (4, 4)
    )
    np.testing.assert_array_equal(out[0, 0, 0], data["a"][1, 1, 0, :4, :4])


def test_errors_name_the_array(tmp_path, arrays):
    specs, _ = arrays
    specs = dict(specs, missing=_spec(tmp_path / "nope.zarr", 2))
    reader = PatchReader(specs)
    with pytest.raises(PatchReadError, match="missing"):
        reader.read(
            ["missing"], np.array([0]), [(0,)], slice(0, 1), np.zeros(1), np.zeros(1), (4, 4)
        )
    with pytest.raises(KeyError, match="unknown"):
        reader.store("unknown")
    with pytest.raises(ValueError, match="cache_pool_bytes"):
        PatchReader(specs, cache_pool_bytes=-1)


def test_corrupted_chunk_names_frame(tmp_path):
    path = tmp_path / "c.zarr"
    _write(path, 2, 0)
    (path / "1.0.0.0.0").write_bytes(b"not a chunk")
    reader = PatchReader({"c": _spec(path, 2)})
    with pytest.raises(PatchReadError, match=r"'c'.*t=1"):
        reader.read(["c"], np.array([1]), [(0,)], slice(0, 4), np.zeros(1), np.zeros(1), (8, 8))


def test_read_async_returns_before_waiting_and_matches_read(arrays):
    specs, data = arrays
    reader = PatchReader(specs)
    keys, t = ["b", "a", "b"], np.array([1, 2, 0])
    channels = [(0, 1), (2, 1), (1, 1)]
    y0, x0 = np.array([3, 16, 0]), np.array([7, 0, 24])
    pending = reader.read_async(keys, t, channels, slice(0, 2), y0, x0, (12, 16))
    assert isinstance(pending, PendingPatches)
    first = pending.result()
    assert first.shape == (3, 2, 2, 12, 16)
    np.testing.assert_array_equal(
        first, reader.read(keys, t, channels, slice(0, 2), y0, x0, (12, 16))
    )
    for i, key in enumerate(keys):
        expected = data[key][t[i], list(channels[i]), 0:2, y0[i] : y0[i] + 12, x0[i] : x0[i] + 16]
        np.testing.assert_array_equal(first[i], expected.astype(np.float32))


def test_empty_batch_has_the_requested_shape(arrays):
    specs, _ = arrays
    out = PatchReader(specs).read(
        [], np.array([]), [], slice(1, 4), np.array([]), np.array([]), (8, 6)
    )
    assert out.shape == (0, 0, 3, 8, 6) and out.dtype == np.float32


@pytest.mark.parametrize(
    ("t", "channels", "z_range", "y0", "x0", "message"),
    [
        (3, (0,), slice(0, 1), 0, 0, r"'b' at frame t=3, y=0, x=0: a 8x8 .* \(3, 3, 4, 32, 40\)"),
        (-1, (0,), slice(0, 1), 0, 0, r"'b' at frame t=-1"),
        (0, (0,), slice(0, 1), 25, 0, r"'b' at frame t=0, y=25, x=0: .*outside the array"),
        (0, (0,), slice(0, 1), 0, 33, r"x=33: .*outside the array"),
        (0, (0,), slice(0, 1), -2, 0, r"y=-2"),
        (0, (3,), slice(0, 1), 0, 0, r"'b' has 3 channels; channel index 3"),
        (0, (0,), slice(2, 5), 0, 0, r"has 4 Z planes; z_range 2:5 is empty or outside it"),
    ],
    ids=["frame-past-end", "frame-negative", "y-past-end", "x-past-end", "y-negative",
         "channel", "planes"],
)  # fmt: skip
def test_patch_outside_array_raises_before_reading(arrays, t, channels, z_range, y0, x0, message):
    """Zarr bounds are resizable (implicit), so an unchecked read would return fill values."""
    specs, _ = arrays
    reader = PatchReader(specs)
    ok = ("a", 0, (0,), 0, 0)
    keys = [ok[0], "b"]
    with pytest.raises(PatchReadError, match=message):
        reader.read_async(
            keys, np.array([ok[1], t]), [ok[2], channels], z_range,
            np.array([ok[3], y0]), np.array([ok[4], x0]), (8, 8),
        )  # fmt: skip


def test_mismatched_channel_counts_and_bad_z_range_are_rejected(arrays):
    specs, _ = arrays
    reader = PatchReader(specs)
    args = (np.array([0, 0]), [(0, 1), (0,)], slice(0, 1), np.zeros(2), np.zeros(2), (4, 4))
    with pytest.raises(PatchReadError, match=r"'b': 1 channels \[0\] .* has 2"):
        reader.read(["a", "b"], *args)
    with pytest.raises(ValueError, match=r"z_range must be a slice of two integers"):
        reader.read(["a"], np.array([0]), [(0,)], slice(None, 2), np.zeros(1), np.zeros(1), (4, 4))
