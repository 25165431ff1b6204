"""Two small valid experiments on disk that the bad input matrix breaks, one thing at a time.

``exp_a`` (Phase3D + GFP) trains and ``exp_b`` (Phase3D + RFP) validates. Each plate has wells
``A/1`` (uninfected) and ``A/2`` (infected) with one FOV each, shape (T, C, Z, Y, X) =
(6, 2, 2, 24, 24) of non-zero float32 pixels (so every chunk exists on disk), and all three
normalization levels. Each FOV's tracks CSV holds two 6-frame tracks, with ids unique per
experiment (1, 2 in ``A/1/0``; 3, 4 in ``A/2/0``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from dynaclr.datamodule import MultiExperimentDataModule
from viscy_data.testing import write_hcs_plate
from viscy_data.transforms import Normalize

CHANNELS = {"exp_a": ["Phase3D", "GFP"], "exp_b": ["Phase3D", "RFP"]}
FOVS = ("A/1/0", "A/2/0")
SHAPE = (6, 2, 2, 24, 24)
STATS = {"mean": 0.5, "std": 0.25, "median": 0.5, "iqr": 0.3}


def tracks_table(first_id: int) -> pl.DataFrame:
    """Two root tracks over every frame, centroids (8, 8) and (16, 16)."""
    n_frames = SHAPE[0]
    return pl.DataFrame(
        {
            "track_id": [first_id] * n_frames + [first_id + 1] * n_frames,
            "t": list(range(n_frames)) * 2,
            "y": [8.0] * n_frames + [16.0] * n_frames,
            "x": [8.0] * n_frames + [16.0] * n_frames,
            "parent_track_id": [-1] * (2 * n_frames),
        }
    )


class BadInputs:
    """The valid inputs, their paths and the datamodule arguments; cases edit them in place.

    Parameters
    ----------
    root : Path
        Empty folder to write into.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.yaml = root / "experiments.yml"
        self.kwargs: dict[str, Any] = dict(
            z_range=(0, 2), yx_patch_size=(8, 8), final_yx_patch_size=(8, 8),
            val_experiments=["exp_b"], tau_range=(0.5, 1.0), batch_size=4, num_workers=0,
            normalizations=[Normalize(level="fov_statistics")], pin_memory=False,
        )  # fmt: skip
        rng = np.random.default_rng(0)
        self.entries: list[dict[str, Any]] = []
        for name, channels in CHANNELS.items():
            levels = {
                "dataset_statistics": STATS,
                "fov_statistics": STATS,
                "timepoint_statistics": {str(t): STATS for t in range(SHAPE[0])},
            }
            norm = {fov: dict.fromkeys(channels, levels) for fov in FOVS}
            pixels = {fov: rng.random(SHAPE, dtype=np.float32) + 0.5 for fov in FOVS}
            write_hcs_plate(self.store(name), pixels, channels, normalization=norm)
            for i, fov in enumerate(FOVS):
                self.write_tracks(name, fov, tracks_table(first_id=1 + 2 * i))
            self.entries.append(
                {
                    "name": name,
                    "data_path": f"{name}.zarr",
                    "tracks_path": f"{name}_tracks",
                    "channel_names": list(channels),
                    "source_channel": list(channels),
                    "condition_wells": {"uninfected": ["A/1"], "infected": ["A/2"]},
                    "interval_minutes": 30.0,
                }
            )
        self.write_yaml()

    # --- paths ---------------------------------------------------------------------------
    def store(self, name: str) -> Path:
        return self.root / f"{name}.zarr"

    def tracks(self, name: str) -> Path:
        return self.root / f"{name}_tracks"

    def csv(self, name: str, fov: str) -> Path:
        return self.tracks(name) / fov / "tracks.csv"

    def patterns(self) -> dict[str, str]:
        """Regex-escaped paths, for the ``{...}`` fields of a case's ``match``."""
        paths = {"yaml": self.yaml, "root": self.root}
        for key, name in (("a", "exp_a"), ("b", "exp_b")):
            paths[f"store_{key}"] = self.store(name)
            paths[f"tracks_{key}"] = self.tracks(name)
            paths[f"csv_{key}"] = self.csv(name, "A/1/0")
        return {key: re.escape(str(path)) for key, path in paths.items()}

    # --- edits ---------------------------------------------------------------------------
    def write_yaml(self, data: Any = None) -> None:
        data = {"experiments": self.entries} if data is None else data
        self.yaml.write_text(yaml.safe_dump(data, sort_keys=False))

    def set(self, index: int, **fields: Any) -> None:
        """Change fields of ``experiments[index]`` and rewrite the YAML."""
        self.entries[index].update(fields)
        self.write_yaml()

    def write_tracks(self, name: str, fov: str, table: pl.DataFrame | str) -> None:
        path = self.csv(name, fov)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(table, str):
            path.write_text(table)
        else:
            table.write_csv(path)

    def edit_tracks(self, name: str, fov: str, **columns: Any) -> None:
        """Replace columns of a FOV's tracks (polars expressions or values)."""
        table = pl.read_csv(self.csv(name, fov))
        self.write_tracks(name, fov, table.with_columns(**columns))

    def edit_normalization(self, name: str, fov: str, value: Any) -> None:
        """Set (or with None, delete) a FOV's ``normalization`` attribute (zarr v2 .zattrs)."""
        import json

        path = self.store(name) / fov / ".zattrs"
        attrs = json.loads(path.read_text())
        if value is None:
            attrs.pop("normalization")
        else:
            attrs["normalization"] = value
        path.write_text(json.dumps(attrs))

    def corrupt_chunks(self, name: str) -> int:
        """Overwrite every pixel chunk file of a plate with bytes no codec decodes."""
        chunks = [
            p for p in self.store(name).rglob("*") if p.is_file() and not p.name.startswith(".")
        ]
        for path in chunks:
            path.write_bytes(b"this is not a blosc frame")
        return len(chunks)

    def remove(self, path: Path) -> None:
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    # --- running -------------------------------------------------------------------------
    def datamodule(self) -> MultiExperimentDataModule:
        return MultiExperimentDataModule(self.yaml, **self.kwargs)
