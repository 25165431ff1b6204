"""Shared fixtures of the dynaclr tests: small real experiments on disk.

Sections: (1) one-off experiments built per test, (2) the session-wide identity dataset (the
session-wide demo dataset, ``demo_yaml``, comes from the repository's root ``conftest.py``).
Session datasets are read-only: tests must not modify them.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dynaclr.demo import write_identity_dataset
from viscy_data.testing import write_hcs_plate

# --- (1) one-off experiments ---------------------------------------------------------------------


@pytest.fixture
def make_experiment(tmp_path: Path) -> Callable[..., dict]:
    """Factory writing a tiny plate (one FOV per well) and tracks; returns the YAML entry.

    ``make_experiment(name, channel_names=..., source_channel=..., wells=..., version=...,
    folder=...)``; paths in the entry are absolute, wells map to ``uninfected`` (first) and
    ``infected`` (the rest). Each FOV's tracks CSV holds two 4-frame tracks.
    """

    def make(
        name: str = "exp_a",
        channel_names: Sequence[str] = ("Phase3D", "GFP"),
        source_channel: Sequence[str] | None = None,
        wells: Sequence[str] = ("A/1", "A/2"),
        version: str = "0.4",
        interval_minutes: float = 30.0,
        folder: Path | None = None,
    ) -> dict:
        folder = folder or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        shape = (4, len(channel_names), 1, 16, 16)
        fovs = {f"{w}/0": np.zeros(shape, "float32") for w in wells}
        plate = write_hcs_plate(folder / f"{name}.zarr", fovs, channel_names, version=version)
        tracks = folder / f"{name}_tracks"
        table = pl.DataFrame({"track_id": [1] * 4 + [2] * 4, "t": list(range(4)) * 2})
        table = table.with_columns(y=pl.lit(8.0), x=pl.lit(8.0))
        for fov in fovs:
            (tracks / fov).mkdir(parents=True)
            table.write_csv(tracks / fov / "tracks.csv")
        return {
            "name": name,
            "data_path": str(plate),
            "tracks_path": str(tracks),
            "channel_names": list(channel_names),
            "source_channel": list(source_channel or channel_names[:2]),
            "condition_wells": {"uninfected": [wells[0]], "infected": list(wells[1:])},
            "interval_minutes": interval_minutes,
        }

    return make


# --- (2) session-wide datasets ------------------------------------------------------------------


@pytest.fixture(scope="session", params=["0.4", "0.5-sharded"])
def identity_yaml(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    """The pixel-identity dataset on NGFF 0.4 and on sharded 0.5 (64x64 FOVs, 2 z slices)."""
    if request.param == "0.4":
        return write_identity_dataset(tmp_path_factory.mktemp("identity04"))
    return write_identity_dataset(
        tmp_path_factory.mktemp("identity05"),
        version="0.5",
        chunks=(1, 1, 1, 32, 32),
        shards=(2, 1, 2, 64, 64),
    )
