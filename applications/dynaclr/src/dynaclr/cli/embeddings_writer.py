"""Write ``dynaclr predict`` embeddings to one AnnData store, complete or not at all.

Before any batch, :meth:`EmbeddingWriter.setup` applies the output rule
(:func:`viscy_data.outputs.check_outputs`): the store may not be, hold or lie inside an input
of the run (plates, tracks, the experiments YAML, the checkpoint), and an existing store is
replaced only with ``overwrite`` and only when it is an embeddings store we wrote.

Each rank saves its share (rows of the index, features, projections) into a parts folder;
after a barrier, rank 0 checks that the shares cover every observation exactly once, builds
the AnnData (``X`` = features, ``obsm["X_projections"]``, ``obs`` from the cell index,
``uns["provenance"]``) in a temporary store beside the output, marks it as ours and renames it
into place. An interrupted run leaves the previous output (if any) untouched, and a rerun
starts from scratch; SIGTERM stops the run after the current batch (exit status 143).
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities.exceptions import SIGTERMException

from viscy_data.outputs import check_outputs, mark_output

__all__ = ["EMBEDDINGS_KIND", "OBS_COLUMNS", "EmbeddingWriter", "run_inputs"]

EMBEDDINGS_KIND = "dynaclr embeddings"
"""Marker kind of a predict store (:func:`viscy_data.outputs.mark_output`)."""

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


def run_inputs(datamodule: Any, ckpt_path: str | None) -> list[tuple[str, str]]:
    """What a run reads, as ``(description, path)``: the experiments YAML, every plate and
    tracks path of its registry, and the checkpoint."""
    from dynaclr.registry import ExperimentRegistry

    yaml_path = str(datamodule.experiments_yaml)
    registry = datamodule.registry or ExperimentRegistry.from_yaml(yaml_path)
    inputs = [("experiments YAML", yaml_path)]
    for exp in registry.experiments:
        inputs.append((f"plate of experiment {exp.name!r}", exp.data_path))
        inputs.append((f"tracks of experiment {exp.name!r}", exp.tracks_path))
    if ckpt_path:
        inputs.append(("checkpoint", str(ckpt_path)))
    return inputs


class EmbeddingWriter(BasePredictionWriter):
    """Collect ``predict_step`` outputs and write them as ``output_path`` (an AnnData ``.zarr``).

    Parameters
    ----------
    output_path : str or Path
        Destination store, e.g. ``embeddings.zarr``. It may not be, hold or lie inside an input
        of the run.
    overwrite : bool, default False
        Replace an existing embeddings store (one this writer wrote), once the new one is
        completely written. Without it an existing path is refused before any batch; any other
        existing file or folder is refused even with it.
    """

    def __init__(
        self, output_path: str | Path = "embeddings.zarr", overwrite: bool = False
    ) -> None:
        super().__init__(write_interval="epoch")
        self.output_path = Path(output_path)
        self.overwrite = overwrite
        self.provenance: dict[str, Any] = {}
        """Extra entries of ``uns["provenance"]`` (the CLI adds the config and random_init)."""

    def check_output(self, inputs: list[tuple[str, str]]) -> None:
        """Apply the output rule to :attr:`output_path`; raises before anything is written."""
        check_outputs(
            [(self.output_path, EMBEDDINGS_KIND)],
            inputs,
            overwrite=self.overwrite,
            command="dynaclr predict",
        )

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "predict":
            return
        self.check_output(run_inputs(trainer.datamodule, trainer.ckpt_path))

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args) -> None:
        """Stop after this batch when SIGTERM arrived: Lightning's prediction loop never checks,
        so a preempted predict would run to the end and write its store."""
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, *args)
        if trainer.received_sigterm:
            raise SIGTERMException

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
            self.provenance = {**provenance(trainer), **self.provenance}
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
        write_embeddings(self.output_path, features, projections, tracks, self.provenance)
        shutil.rmtree(self.parts_dir, ignore_errors=True)


def write_embeddings(
    output_path: Path,
    features: np.ndarray,
    projections: np.ndarray,
    tracks: pl.DataFrame,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write an AnnData store atomically: a temporary sibling, marked as ours, then a rename.

    ``obs`` holds the cell-index columns of :data:`OBS_COLUMNS` that ``tracks`` has, the
    columns upstream's embedding writer uses (:func:`upstream_columns`) and the tracks
    files' extra columns, one row per observation in ``tracks`` order; ``uns["provenance"]``
    holds ``provenance``.
    """
    import anndata as ad

    tracks = upstream_columns(tracks)
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
    if provenance:
        adata.uns["provenance"] = provenance
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(f".{output_path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with ad.settings.override(zarr_write_format=3):
            adata.write_zarr(tmp)
        mark_output(tmp, EMBEDDINGS_KIND)
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


def upstream_columns(tracks: pl.DataFrame) -> pl.DataFrame:
    """``tracks`` with the columns upstream's embedding writer uses, where they are missing.

    ``id`` (a running observation number), ``parent_id`` (the ``id`` of the same track's
    previous observation, or of the parent track's last one for a track's first observation
    after a division, else -1) and ``z`` (-1: the index does not locate cells in Z). Columns
    the tracks files already have are kept as they are.
    """
    added = []
    if "id" not in tracks.columns:
        added.append(pl.int_range(pl.len(), dtype=pl.Int64).alias("id"))
    if "z" not in tracks.columns:
        added.append(pl.lit(-1, dtype=pl.Int64).alias("z"))
    tracks = tracks.with_columns(added) if added else tracks
    if "parent_id" in tracks.columns or "global_track_id" not in tracks.columns:
        return tracks
    keyed = tracks.with_row_index("_row").sort("global_track_id", "t")
    keyed = keyed.with_columns(_previous=pl.col("id").shift(1).over("global_track_id"))
    if {"parent_track_id", "experiment", "fov_name", "track_id"} <= set(tracks.columns):
        last = keyed.group_by("experiment", "fov_name", "track_id").agg(
            _parent_last=pl.col("id").last()
        )
        keyed = keyed.join(
            last.rename({"track_id": "parent_track_id"}),
            on=["experiment", "fov_name", "parent_track_id"],
            how="left",
        ).with_columns(_previous=pl.coalesce("_previous", "_parent_last"))
    parent = keyed.sort("_row").get_column("_previous").fill_null(-1).cast(pl.Int64)
    return tracks.with_columns(parent.alias("parent_id"))


def provenance(trainer: Any) -> dict[str, Any]:
    """``uns["provenance"]`` of a predict store: checkpoint and its SHA-256, the experiments
    YAML's path and content, package versions and the creation time (UTC)."""
    import hashlib
    from datetime import datetime
    from importlib.metadata import PackageNotFoundError, version

    checkpoint = trainer.ckpt_path
    digest = ""
    if checkpoint and Path(checkpoint).is_file():
        sha = hashlib.sha256()
        with open(checkpoint, "rb") as file:
            for block in iter(lambda: file.read(1 << 22), b""):
                sha.update(block)
        digest = sha.hexdigest()
    yaml_path = Path(str(trainer.datamodule.experiments_yaml))
    versions = {}
    for package in ("dynaclr", "viscy-data", "viscy-models", "torch", "lightning"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "checkpoint": str(Path(checkpoint).resolve()) if checkpoint else "",
        "checkpoint_sha256": digest,
        "experiments_yaml": str(yaml_path.resolve()),
        "experiments_yaml_content": yaml_path.read_text() if yaml_path.is_file() else "",
        "versions": versions,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


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
