"""A recording LightningModule: which cells each training and validation batch showed."""

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from dynaclr.demo import decode_identity


class Interrupted(RuntimeError):
    """Raised by RecordingModule to simulate a crash after k steps."""


class RecordingModule(pl.LightningModule):
    """Trains one scalar; records the decoded anchor identities of every batch it sees."""

    def __init__(self, fail_at_step: int | None = None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.fail_at_step = fail_at_step
        self.train_batches: list[tuple] = []
        self.val_batches: list[tuple] = []

    @staticmethod
    def _ids(batch) -> tuple:
        x = batch["anchor"]
        centre = x[:, 0, 0, x.shape[-2] // 2, x.shape[-1] // 2].cpu().numpy()
        return tuple(zip(*(a.tolist() for a in decode_identity(centre))))

    def training_step(self, batch, batch_idx):
        if self.fail_at_step is not None and self.global_step == self.fail_at_step:
            raise Interrupted(f"stopped at step {self.global_step}")
        assert not any(k.endswith("norm_meta") for k in batch)
        self.train_batches.append((self.current_epoch, self._ids(batch)))
        return (self.weight - batch["anchor"].mean()) ** 2

    def validation_step(self, batch, batch_idx):
        self.val_batches.append((self.current_epoch, self._ids(batch)))
        # Channel 1 carries the identity code too: zero means channel dropout ran.
        self.val_dropped = getattr(self, "val_dropped", False) or bool(
            (batch["anchor"][:, 1] == 0).all(dim=(-1, -2, -3)).any()
        )

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


@pytest.fixture
def recording_module():
    return RecordingModule


def identity_centres(batch) -> np.ndarray:
    x = batch["anchor"]
    return x[:, 0, 0, x.shape[-2] // 2, x.shape[-1] // 2].numpy()
