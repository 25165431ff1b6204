"""Write ``dynaclr predict`` embeddings to one AnnData store, complete or not at all.

Each rank saves its share (rows of the index, features, projections) into a parts folder;
after a barrier, rank 0 checks that the shares cover every observation exactly once, builds
the AnnData (``X`` = features, ``obsm["X_projections"]``, ``obs`` from the cell index) in a
temporary store beside the output and renames it into place. An interrupted run leaves the
previous output (if any) untouched, and a rerun starts from scratch.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

__all__ = ["OBS_COLUMNS", "EmbeddingWriter"]

OBS_COLUMNS = {
    "experiment": "experiment",
    "condition": "condition",
    "well_name": "well",
    "fov_name": "fov_name",
    "track_id": "track_id",
    "global_track_id": "global_track_id",
    "lineage_id": "lineage_id",
    "parent_track_id": "parent_track_id",
    "t": "t",
    "hours_post_infection": "hours_post_infection",
    "y": "y",
    "x": "x",
}
"""Cell-index column -> ``obs`` column of the written AnnData."""

_INTERNAL = {"store_path", "y_clamp", "x_clamp", "image_height", "image_width"}


class EmbeddingWriter(BasePredictionWriter):
    """Collect ``predict_step`` outputs and write them as ``output_path`` (an AnnData ``.zarr``).

    Parameters
    ----------
    output_path : str or Path
        Destination store, e.g. ``embeddings.zarr``. An existing store is replaced only once
        the new one is completely written.
    """

    def __init__(self, output_path: str | Path = "embeddings.zarr") -> None:
        super().__init__(write_interval="epoch")
        self.output_path = Path(output_path)

    @property
    def parts_dir(self) -> Path:
        return self.output_path.with_name(f".{self.output_path.name}.parts")

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        rows, features, projections = [], [], []
        for output in predictions:
            rows.append(np.asarray(output["index"]["row"], dtype=np.int64))
            features.append(_numpy(output["features"]))
            projections.append(_numpy(output["projections"]))
        part = self.parts_dir / f"rank{trainer.global_rank}.npz"
        if trainer.global_rank == 0:
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        trainer.strategy.barrier("dynaclr_predict_parts")
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        dim = (0, 0) if not features else (features[0].shape[1], projections[0].shape[1])
        np.savez(
            part,
            rows=np.concatenate(rows) if rows else np.zeros(0, np.int64),
            features=np.concatenate(features) if features else np.zeros((0, dim[0]), np.float32),
            projections=(
                np.concatenate(projections) if projections else np.zeros((0, dim[1]), np.float32)
            ),
        )
        trainer.strategy.barrier("dynaclr_predict_written")
        if trainer.global_rank == 0:
            tracks = trainer.datamodule.predict_dataset.index.tracks
            self._merge(trainer.world_size, tracks)
        trainer.strategy.barrier("dynaclr_predict_merged")

    def _merge(self, world_size: int, tracks: pl.DataFrame) -> None:
        parts = [np.load(self.parts_dir / f"rank{r}.npz") for r in range(world_size)]
        rows = np.concatenate([p["rows"] for p in parts])
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        expected = np.arange(tracks.height)
        if rows.shape != expected.shape or np.any(rows != expected):
            missing = np.setdiff1d(expected, rows).size
            duplicated = rows.size - np.unique(rows).size
            raise RuntimeError(
                f"predictions cover {np.unique(rows).size} of {tracks.height} observations "
                f"({missing} missing, {duplicated} duplicated); nothing written to "
                f"{self.output_path}."
            )
        features = np.concatenate([p["features"] for p in parts])[order]
        projections = np.concatenate([p["projections"] for p in parts])[order]
        write_embeddings(self.output_path, features, projections, tracks)
        shutil.rmtree(self.parts_dir, ignore_errors=True)


def write_embeddings(
    output_path: Path, features: np.ndarray, projections: np.ndarray, tracks: pl.DataFrame
) -> Path:
    """Write an AnnData store atomically: a temporary sibling, then a rename.

    ``obs`` holds the cell-index columns of :data:`OBS_COLUMNS` that ``tracks`` has, one row
    per observation in ``tracks`` order.
    """
    import anndata as ad

    present = [c for c in OBS_COLUMNS if c in tracks.columns]
    # Extra columns of the tracks files (e.g. annotations) ride along under their own name.
    present += [c for c in tracks.columns if c not in OBS_COLUMNS and c not in _INTERNAL]
    import pandas as pd

    # Object-dtype strings: pandas 3 infers its new "str" dtype, which anndata only writes
    # behind an opt-in (files older anndata cannot read).
    obs = pd.DataFrame(
        {OBS_COLUMNS.get(c, c): _obs_column(tracks.get_column(c)) for c in present},
        index=_string_index(tracks.height),
    )
    var = pd.DataFrame(index=_string_index(features.shape[1]))
    adata = ad.AnnData(X=features.astype(np.float32), obs=obs, var=var)
    adata.obsm["X_projections"] = projections.astype(np.float32)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(f".{output_path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with ad.settings.override(zarr_write_format=3):
            adata.write_zarr(tmp)
        if output_path.exists():
            old = output_path.with_name(f".{output_path.name}.old-{uuid.uuid4().hex[:8]}")
            output_path.rename(old)
            tmp.rename(output_path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(output_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return output_path


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _string_index(n: int):
    """``"0" .. "n-1"`` as object strings (see :func:`write_embeddings`)."""
    import pandas as pd

    return pd.Index([str(i) for i in range(n)], dtype=object)


def _obs_column(series: pl.Series):
    """A pandas-ready column (strings as categoricals of object strings), no pyarrow needed."""
    import pandas as pd

    if series.dtype in (pl.String, pl.Categorical, pl.Enum):
        values = series.cast(pl.String).to_list()
        categories = pd.Index(sorted({v for v in values if v is not None}), dtype=object)
        return pd.Categorical(values, categories=categories)
    return series.to_numpy()
