"""Runs on the pixel-identity dataset: the datamodule, the trainer and a recording model.

Shared by the tests (``from ..identity_runs import ...``) and by the scripts they start in
subprocesses (``import identity_runs`` after putting this folder on ``sys.path``), so every
run builds the same datamodule and trainer. Every anchor's centre pixel encodes its
``(experiment, track_id, t)`` (:func:`dynaclr.demo.decode_identity`), so a test sees exactly
which cells each batch held.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from dynaclr.datamodule import MultiExperimentDataModule
from dynaclr.demo import decode_identity
from viscy_data.testing import quiet_trainer

DATAMODULE_ARGS: dict[str, Any] = dict(
    z_range=(0, 2), yx_patch_size=(24, 24), final_yx_patch_size=(16, 16),
    val_experiments=["identity1"], tau_range=(0.5, 1.5), batch_size=6, num_workers=2,
    channel_dropout_prob=0.0, seed=11, pin_memory=False,
)  # fmt: skip
"""Training on ``identity0``, validation on ``identity1``: 10 training batches per epoch."""


def identity_datamodule(yaml_path: str | os.PathLike, **kwargs: Any) -> MultiExperimentDataModule:
    """The datamodule of :data:`DATAMODULE_ARGS` on the identity dataset; ``kwargs`` override."""
    return MultiExperimentDataModule(yaml_path, **{**DATAMODULE_ARGS, **kwargs})


def identity_trainer(root: str | os.PathLike, **kwargs: Any) -> pl.Trainer:
    """A quiet CPU trainer for two epochs without validation; ``kwargs`` override."""
    defaults = dict(max_epochs=2, limit_val_batches=0, num_sanity_val_steps=0)
    return quiet_trainer(default_root_dir=str(root), **{**defaults, **kwargs})


def anchor_ids(batch: dict) -> list[list[int]]:
    """``[experiment, track_id, t]`` of every anchor, decoded from its centre pixel."""
    x = batch["anchor"]
    centre = x[:, 0, 0, x.shape[-2] // 2, x.shape[-1] // 2].cpu().numpy()
    return [list(map(int, ids)) for ids in zip(*decode_identity(centre))]


class Interrupted(RuntimeError):
    """Raised by :class:`Recorder` to simulate a crash at a given step."""


class Recorder(pl.LightningModule):
    """Trains one scalar and records which cells every training and validation batch showed.

    ``records`` holds ``[epoch, global_step, anchor ids]`` per training batch and
    ``val_records`` ``[epoch, anchor ids]`` per validation batch; ``val_dropped`` says whether
    some validation anchor had channel 1 (which carries the identity code too) all zero.

    Parameters
    ----------
    log_path : path, optional
        Also append each training record as a JSON line (flushed), so it survives the process.
    wait_for_sigterm_at : int, optional
        At this global step, write ``<log_path>.ready`` and wait (up to 60 s) until the
        trainer has received SIGTERM; the step then completes and Lightning stops.
    fail_at_step : int, optional
        Raise :class:`Interrupted` at the start of this global step (nothing recorded).
    """

    def __init__(
        self,
        log_path: str | None = None,
        wait_for_sigterm_at: int | None = None,
        fail_at_step: int | None = None,
    ) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.log_path = log_path
        self.wait_for_sigterm_at = wait_for_sigterm_at
        self.fail_at_step = fail_at_step
        self.records: list[list] = []
        self.val_records: list[list] = []
        self.val_dropped = False

    def training_step(self, batch, batch_idx):
        if self.fail_at_step is not None and self.global_step == self.fail_at_step:
            raise Interrupted(f"stopped at step {self.global_step}")
        assert not any(k.endswith("norm_meta") for k in batch)
        record = [self.current_epoch, self.global_step, anchor_ids(batch)]
        self.records.append(record)
        if self.log_path is not None:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if self.global_step == self.wait_for_sigterm_at:
            Path(f"{self.log_path}.ready").touch()
            deadline = time.monotonic() + 60
            while not self.trainer.received_sigterm:
                if time.monotonic() > deadline:
                    raise TimeoutError("no SIGTERM arrived within 60 s")
                time.sleep(0.02)
        return (self.weight - batch["anchor"].mean()) ** 2

    def validation_step(self, batch, batch_idx):
        self.val_records.append([self.current_epoch, anchor_ids(batch)])
        self.val_dropped = self.val_dropped or bool(
            (batch["anchor"][:, 1] == 0).all(dim=(-1, -2, -3)).any()
        )

    def predict_step(self, batch, batch_idx):
        return batch["anchor"].mean(dim=(1, 2, 3, 4))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)
