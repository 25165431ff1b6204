"""Shared pieces of the fault tests and of the scripts they run in subprocesses.

Imported by the tests (``from .helpers import ...``) and by the scripts (``import helpers``
after putting this folder on ``sys.path``), so both build the same datamodule and trainer.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from dynaclr.datamodule import MultiExperimentDataModule
from dynaclr.demo import decode_identity

DATAMODULE_ARGS: dict[str, Any] = dict(
    z_range=(0, 2), yx_patch_size=(24, 24), final_yx_patch_size=(16, 16),
    val_experiments=["identity1"], tau_range=(0.5, 1.5), batch_size=6, num_workers=2,
    channel_dropout_prob=0.0, seed=11, pin_memory=False,
)  # fmt: skip


def identity_datamodule(yaml_path: str | os.PathLike, **kwargs: Any) -> MultiExperimentDataModule:
    """The datamodule every fault test uses on the pixel-identity dataset."""
    return MultiExperimentDataModule(yaml_path, **{**DATAMODULE_ARGS, **kwargs})


def trainer(root: str | os.PathLike, **kwargs: Any) -> pl.Trainer:
    """A quiet CPU trainer without logger or default checkpointing."""
    args = dict(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                enable_model_summary=False, use_distributed_sampler=False,
                default_root_dir=str(root), enable_checkpointing=False, max_epochs=2,
                limit_val_batches=0, num_sanity_val_steps=0)  # fmt: skip
    return pl.Trainer(**{**args, **kwargs})


def anchor_ids(batch: dict) -> list[list[int]]:
    """``[experiment, track_id, t]`` of every anchor, decoded from its centre pixel."""
    x = batch["anchor"]
    centre = x[:, 0, 0, x.shape[-2] // 2, x.shape[-1] // 2].cpu().numpy()
    return [list(map(int, ids)) for ids in zip(*decode_identity(centre))]


class Recorder(pl.LightningModule):
    """Trains one scalar and records ``(epoch, step, anchor ids)`` of every training batch.

    Parameters
    ----------
    log_path : path, optional
        Also append each record as a JSON line (flushed), so it survives the process.
    wait_for_sigterm_at : int, optional
        At this global step, write ``<log_path>.ready`` and wait (up to 60 s) until the
        trainer has received SIGTERM; the step then completes and Lightning stops.
    """

    def __init__(self, log_path: str | None = None, wait_for_sigterm_at: int | None = None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.log_path = log_path
        self.wait_for_sigterm_at = wait_for_sigterm_at
        self.records: list[list] = []

    def training_step(self, batch, batch_idx):
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
        return None

    def predict_step(self, batch, batch_idx):
        return batch["anchor"].mean(dim=(1, 2, 3, 4))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def tree_digest(root: str | os.PathLike) -> dict[str, tuple]:
    """``relative path -> (size, mtime_ns, sha256)`` of every file; folders map to ()."""
    root = Path(root)
    digest: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir():
            digest[rel] = ()
        else:
            stat = path.stat()
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            digest[rel] = (stat.st_size, stat.st_mtime_ns, sha)
    return digest


def loader_threads() -> list[threading.Thread]:
    """Live ThreadDataLoader worker threads of this process."""
    return [
        t for t in threading.enumerate() if t.name.startswith("ThreadDataLoader-") and t.is_alive()
    ]


def wait_for_no_loader_threads(timeout: float = 5.0) -> list[threading.Thread]:
    """Poll until no loader thread is alive (or ``timeout``); return those still alive."""
    deadline = time.monotonic() + timeout
    while (alive := loader_threads()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive
