"""Read a ``dynaclr predict`` store for evaluation: features, observations, provenance.

Refuses, with the reason and what to do, anything that is not a predict output: a missing
path, a folder that is not an AnnData zarr store, a store without 2-D features in ``X`` or
without the track columns the metrics need.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = ["Embeddings", "read_embeddings"]

_NEEDED = ("t",)
_TRACK_KEYS = ("experiment", "fov_name", "track_id")


@dataclass(frozen=True)
class Embeddings:
    """What ``dynaclr evaluate`` reads from a predict store.

    Attributes
    ----------
    path : Path
        The store.
    features : np.ndarray
        ``(N, D)`` float32 encoder features (``X``).
    obs : pl.DataFrame
        One row per observation, with ``global_track_id`` and ``lineage_id`` (derived from
        the track keys when the store lacks them).
    provenance : dict
        ``uns["provenance"]`` (empty for stores written before it existed).
    """

    path: Path
    features: np.ndarray
    obs: pl.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)


def _not_predict_output(path: Path, why: str) -> ValueError:
    return ValueError(
        f"{str(path)!r} is not a dynaclr predict output: {why}. Give the embeddings.zarr that "
        "'dynaclr predict' wrote."
    )


def _column(values: Any) -> pl.Series | np.ndarray:
    """A pandas column as something polars takes without pyarrow."""
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        return pl.Series([None if v is None or v != v else str(v) for v in values.tolist()])
    return values.to_numpy()


def read_embeddings(path: str | os.PathLike) -> Embeddings:
    """Read ``path`` (an AnnData zarr store written by ``dynaclr predict``).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not a predict output (names what is missing).
    """
    import anndata as ad

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"embeddings store {str(path)!r} does not exist")
    if not path.is_dir() or not any((path / n).is_file() for n in ("zarr.json", ".zgroup")):
        raise _not_predict_output(path, "it is not a zarr store")
    try:
        adata = ad.read_zarr(path)
    except Exception as err:  # anndata raises many kinds for a zarr that is not AnnData
        raise _not_predict_output(path, f"AnnData cannot read it ({err})") from err
    features = np.asarray(adata.X, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] == 0:
        raise _not_predict_output(path, f"X has shape {features.shape}, not (cells, features)")
    obs = pl.DataFrame({name: _column(adata.obs[name]) for name in adata.obs.columns})
    missing = [c for c in _NEEDED if c not in obs.columns]
    has_ids = "global_track_id" in obs.columns or all(k in obs.columns for k in _TRACK_KEYS)
    if missing or not has_ids:
        raise _not_predict_output(
            path,
            f"obs lacks {missing or []} and/or a track identity (global_track_id, or "
            f"{list(_TRACK_KEYS)}); obs columns: {list(obs.columns)}",
        )
    if "global_track_id" not in obs.columns:
        keys = [k for k in _TRACK_KEYS if k in obs.columns]
        obs = obs.with_columns(global_track_id=pl.struct(keys).rank("dense").cast(pl.Int64) - 1)
    if "lineage_id" not in obs.columns:
        obs = obs.with_columns(lineage_id=pl.col("global_track_id"))
    provenance = dict(adata.uns.get("provenance", {}))
    return Embeddings(path, features, obs, provenance)
