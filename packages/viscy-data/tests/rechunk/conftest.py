"""Small real plates whose pixels say where they are, and the helpers of the rechunk tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorstore as ts
import zarr

from viscy_data.readers import read_plate, tensorstore_spec
from viscy_data.rechunk import rechunk_plate
from viscy_data.testing import write_hcs_plate

FOVS = ("A/1/0", "A/1/1", "B/2/0")
CHANNELS = ("Phase3D", "GFP")
SHAPE = (3, 2, 3, 40, 36)


def encoded(shape: tuple[int, ...] = SHAPE, fov: int = 0, dtype: str = "float32") -> np.ndarray:
    """Pixel ``(t, c, z, y, x)`` of FOV number ``fov`` holds its flat index plus fov * size."""
    size = int(np.prod(shape))
    return (np.arange(size, dtype=np.int64).reshape(shape) + fov * size).astype(dtype)


def normalization(fov: int) -> dict:
    stats = {"mean": 100.0 + fov, "std": 5.0, "median": 99.0, "iqr": 6.0}
    return {c: {"fov_statistics": stats, "timepoint_statistics": {"0": stats}} for c in CHANNELS}


def make_plate(path: Path, version: str = "0.4", **kwargs) -> tuple[Path, dict[str, np.ndarray]]:
    """Three FOVs in two wells, a two-level pyramid, normalization and keys of other tools."""
    arrays = {name: encoded(fov=i) for i, name in enumerate(FOVS)}
    kwargs.setdefault("dataset_paths", ("0", "1"))
    write_hcs_plate(
        path, arrays, list(CHANNELS), version=version,
        normalization={name: normalization(i) for i, name in enumerate(FOVS)}, **kwargs,
    )  # fmt: skip
    root = zarr.open_group(path, mode="r+")
    root.attrs["acquired_with"] = {"microscope": "test"}
    root["A/1"].attrs["treatment"] = "mock"
    for i, name in enumerate(FOVS):
        root[name].attrs["tracking"] = {"fov": i, "tool": "ultrack"}
    return path, arrays


def read_pixels(plate: Path) -> dict[str, np.ndarray]:
    """Every FOV's full-resolution array, read through read_plate and tensorstore."""
    return {
        fov.fov_name: ts.open(tensorstore_spec(fov), read=True).result().read().result()
        for fov in read_plate(plate).fovs
    }


def interrupt_after(src: Path, dst: Path, boxes: int, **kwargs) -> None:
    """Run rechunk_plate and stop it with KeyboardInterrupt once ``boxes`` boxes are copied."""
    seen = []

    def progress(nbytes: int, total: int) -> None:
        seen.append(nbytes)
        if len(seen) > boxes:
            raise KeyboardInterrupt

    try:
        rechunk_plate(src, dst, progress=progress, **kwargs)
    except KeyboardInterrupt:
        return
    raise AssertionError(f"the copy of {src} finished before {boxes} boxes")
