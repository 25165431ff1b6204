"""PatchReader reads the right pixels from many arrays concurrently."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import zarr

from viscy_data.readers.tensorstore import PatchReader, PatchReadError

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
