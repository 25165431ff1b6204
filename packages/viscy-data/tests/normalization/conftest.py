"""Small real plates for the preprocessing tests, numpy's exact statistics, file snapshots."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from viscy_data.testing import write_hcs_plate

FOVS = ("A/1/0", "A/1/1", "B/2/0")
CHANNELS = ("Phase", "GFP")
METADATA_FILES = (".zattrs", "zarr.json")


def plate_arrays(
    shape: tuple[int, ...] = (3, 2, 2, 12, 12), dtype: str = "float32", seed: int = 0
) -> dict[str, np.ndarray]:
    """Distinct pixels per FOV and channel: a gamma background, offset and scaled per FOV."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, name in enumerate(FOVS):
        values = 100 + 10 * i + rng.gamma(3.0, 5.0 + i, shape)
        out[name] = values.astype(dtype)
    return out


def make_plate(
    path: Path,
    arrays: dict[str, np.ndarray] | None = None,
    channels: Sequence[str] = CHANNELS,
    **kwargs,
) -> tuple[Path, dict[str, np.ndarray]]:
    """Write ``arrays`` (default :func:`plate_arrays`) as a plate; kwargs go to the writer."""
    arrays = plate_arrays() if arrays is None else arrays
    return write_hcs_plate(path, arrays, list(channels), **kwargs), arrays


def exact(values: np.ndarray) -> dict[str, float]:
    """mean, std, median and IQR of every value, in float64, as numpy computes them."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    q25, q50, q75 = np.percentile(flat, [25, 50, 75])
    return {"mean": flat.mean(), "std": flat.std(), "median": q50, "iqr": q75 - q25}


def shifted_grid(frames: np.ndarray, step: int, first_frame: int = 0) -> np.ndarray:
    """The documented sample of ``(T, Z, Y, X)`` frames, plane by plane, written out longhand."""
    n_t, n_z = frames.shape[:2]
    out = []
    for t in range(n_t):
        for z in range(n_z):
            k = (first_frame + t) * n_z + z
            out.append(frames[t, z, k % step :: step, (k // step) % step :: step].ravel())
    return np.concatenate(out)


def assert_stats(got: dict, want: dict, rtol: float = 1e-12, stats=("mean", "std")) -> None:
    for stat in stats:
        np.testing.assert_allclose(got[stat], want[stat], rtol=rtol, err_msg=stat)


def snapshot(plate: Path) -> dict[str, str]:
    """sha256 of every file under the plate, keyed by relative path."""
    return {
        str(p.relative_to(plate)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(plate.rglob("*"))
        if p.is_file()
    }


def metadata_without_normalization(file: Path) -> dict:
    """A FOV metadata file's JSON without the ``normalization`` attribute (order kept)."""
    document = json.loads(file.read_text())
    attributes = document.get("attributes", document) if file.name == "zarr.json" else document
    attributes.pop("normalization", None)
    return document
