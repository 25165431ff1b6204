"""Evaluate during ``fit``: embed the validation cells every few epochs and log the metrics.

:class:`OnlineEvaluation` is a Lightning callback. Every ``every_n_epochs`` epochs, and after
the last one, it embeds each validation observation (evaluation transforms: normalization and
crop, no augmentation) with the encoder being trained, on global rank 0 (the other ranks wait
at the next collective), during ``fit`` only (not ``validate``), and logs
``eval/probe/<label>`` (linear probe, balanced accuracy, for each label column the
observations have), ``eval/temporal_smoothness`` and ``eval/effective_rank`` (definitions in
:mod:`dynaclr.evaluate.metrics`) to the trainer's loggers. The latest figures are kept in
:attr:`OnlineEvaluation.latest`, which ``dynaclr fit`` prints at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn

from dynaclr.evaluate.metrics import effective_rank, linear_probe, temporal_smoothness

__all__ = ["OnlineEvaluation"]


class OnlineEvaluation(Callback):
    """Embed the validation cells every few epochs; log probe, smoothness, effective rank.

    Parameters
    ----------
    every_n_epochs : int, default 5
        Evaluate after every this many training epochs (and after the last epoch).
    labels : sequence of str, default ()
        Observation columns to probe (e.g. ``["infected"]``); a label the validation cells do
        not have, or have with a single class, is skipped with a note in :attr:`latest`.
    max_cells : int, default 20000
        At most this many validation observations are embedded (whole tracks, chosen by a
        seeded draw), so the cost stays bounded on large experiments.
    seed : int, default 0
        Seed of the probe's lineage split, the random pairs and the track draw.
    """

    def __init__(
        self,
        every_n_epochs: int = 5,
        labels: Sequence[str] = (),
        max_cells: int = 20000,
        seed: int = 0,
    ) -> None:
        if int(every_n_epochs) < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs!r}")
        self.every_n_epochs = int(every_n_epochs)
        self.labels = list(labels)
        self.max_cells = int(max_cells)
        self.seed = int(seed)
        self.latest: dict[str, Any] = {}
        """``{"epoch", "n_cells", "probe": {label: (accuracy, chance)}, "temporal_smoothness",
        "effective_rank", "skipped": {label: why}}`` of the latest evaluation."""
        self._dataset = None

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        fitting = trainer.state.fn == TrainerFn.FITTING  # not in validate: no epochs to watch
        if trainer.sanity_checking or not trainer.is_global_zero or not fitting:
            return
        with torch.inference_mode(False), torch.enable_grad():  # the probe fits a regression
            self._evaluate(trainer, pl_module)

    def _evaluate(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        last = trainer.max_epochs is not None and epoch + 1 >= trainer.max_epochs
        if (epoch + 1) % self.every_n_epochs and not last:
            return
        datamodule = trainer.datamodule
        dataset = self._validation_cells(datamodule)
        if dataset is None:
            return
        features, tracks = self._embed(pl_module, datamodule, dataset)
        metrics = {
            "eval/temporal_smoothness": temporal_smoothness(features, tracks, self.seed),
            "eval/effective_rank": effective_rank(features),
        }
        probe, skipped = {}, {}
        for label in self.labels:
            if label not in tracks.columns:
                skipped[label] = "no such column"
                continue
            values = tracks.get_column(label)
            keep = ~values.is_null().to_numpy()
            if values.drop_nulls().n_unique() < 2:
                skipped[label] = "fewer than two classes"
                continue
            result = linear_probe(
                features[keep],
                values.cast(str).to_numpy()[keep],
                tracks.get_column("lineage_id").to_numpy()[keep],
                seed=self.seed,
            )
            probe[label] = (result.balanced_accuracy, result.chance)
            metrics[f"eval/probe/{label}"] = result.balanced_accuracy
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        self.latest = {
            "epoch": epoch,
            "n_cells": int(features.shape[0]),
            "probe": probe,
            "temporal_smoothness": metrics["eval/temporal_smoothness"],
            "effective_rank": metrics["eval/effective_rank"],
            "skipped": skipped,
        }

    def _validation_cells(self, datamodule):
        """A predict-mode dataset of the validation observations (built once), or None."""
        if self._dataset is None:
            self._dataset = datamodule.validation_cells(self.max_cells, self.seed)
        return self._dataset

    @torch.no_grad()
    def _embed(self, pl_module, datamodule, dataset):
        was_training = pl_module.training
        pl_module.eval()
        parts, rows = [], []
        try:
            for batch in datamodule.cells_dataloader(dataset):
                batch = datamodule.transform_batch(batch, training=False)
                features, _ = pl_module.encoder(batch["anchor"].to(pl_module.device))
                parts.append(features.float().cpu().numpy())
                rows.append(np.asarray(batch["index"]["row"]))
        finally:
            pl_module.train(was_training)
        rows = np.concatenate(rows)
        order = np.argsort(rows)
        return np.concatenate(parts)[order], dataset.index.tracks[rows[order].tolist()]
