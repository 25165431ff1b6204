"""The text files of a synthetic dataset: per-FOV tracks CSVs and the ``experiments.yml``.

Both go where ``docs/data-layout.md`` says; the plates are written by
:mod:`viscy_data.testing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dynaclr.registry import write_experiments

__all__ = ["TRACK_COLUMNS", "write_experiments_yaml", "write_tracks_csv"]

TRACK_COLUMNS = ["track_id", "t", "y", "x", "id", "parent_track_id", "parent_id"]


def write_tracks_csv(
    folder: Path, fov_name: str, columns: dict[str, np.ndarray], extra: Sequence[str] = ()
) -> None:
    """Write ``folder/fov_name/tracks.csv`` with the track columns (plus ``extra``)."""
    table = pl.DataFrame({k: columns[k] for k in [*TRACK_COLUMNS, *extra]})
    path = folder / fov_name / "tracks.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write_csv(path)


def write_experiments_yaml(root: Path, experiments: list[dict[str, Any]], header: str) -> Path:
    """Write ``root/experiments.yml`` (:func:`dynaclr.registry.write_experiments`); its path."""
    return write_experiments(root / "experiments.yml", experiments, [header])
