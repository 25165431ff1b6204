"""Data, loggers and a DDP rank for the engine tests (a plain module: spawned ranks import it)."""

import json
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import CSVLogger, Logger
from torch.utils.data import DataLoader, Dataset

from viscy_data.testing import quiet_trainer
from viscy_models import ContrastiveEncoder, ContrastiveModule, NTXentHCL

SHAPE = (2, 3, 32, 32)  # (C, Z, Y, X) of every sample


class PairDataset(Dataset):
    """Distinct random cells; a positive is its anchor plus as much noise (SNR 1)."""

    def __init__(self, n: int = 32, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.cells = torch.randn(n, *SHAPE, generator=gen)
        self.noise = torch.randn(n, *SHAPE, generator=gen)

    def __len__(self) -> int:
        return len(self.cells)

    def __getitem__(self, i: int) -> dict:
        return {"anchor": self.cells[i], "positive": self.cells[i] + self.noise[i], "index": i}


def make_module(**kwargs) -> ContrastiveModule:
    """A ContrastiveModule with a small ConvNeXt that trains on CPU in milliseconds."""
    encoder = ContrastiveEncoder(
        "convnext_atto", in_channels=SHAPE[0], in_stack_depth=SHAPE[1],
        stem_kernel_size=(3, 4, 4), stem_stride=(3, 4, 4), embedding_dim=320, projection_dim=32,
    )  # fmt: skip
    kwargs.setdefault("loss_function", NTXentHCL(temperature=0.2, beta=0.5))
    kwargs.setdefault("example_input_array_shape", (1, *SHAPE))
    return ContrastiveModule(encoder, **kwargs)


class ImageRecorder(Logger):
    """A logger with W&B's image call, ``log_image(key, images, step)``; keeps what it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, np.ndarray, int]] = []

    @property
    def name(self) -> str:
        return "image-recorder"

    @property
    def version(self) -> str:
        return "0"

    def log_metrics(self, metrics, step=None) -> None:
        pass

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_image(self, key: str, images: list, step: int | None = None) -> None:
        self.images.extend((key, image, step) for image in images)


class _Board:
    def __init__(self) -> None:
        self.images: list[tuple[str, torch.Tensor, int, str]] = []

    def add_image(self, tag, img_tensor, global_step=None, dataformats="CHW") -> None:
        self.images.append((tag, img_tensor, global_step, dataformats))


class BoardRecorder(ImageRecorder):
    """A logger whose experiment has TensorBoard's ``add_image``, and no ``log_image``."""

    log_image = None

    def __init__(self) -> None:
        super().__init__()
        self._board = _Board()

    @property
    def experiment(self) -> _Board:
        return self._board


def run_ddp_rank(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """Fit 2 epochs on CPU DDP (gloo) without fast_dev_run; save metrics and images."""
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
        NODE_RANK="0", LOCAL_RANK=str(rank), RANK=str(rank),
    )  # fmt: skip
    L.seed_everything(0, verbose=False)
    recorder = ImageRecorder()
    trainer = quiet_trainer(
        devices=world_size, strategy="ddp", use_distributed_sampler=True, max_epochs=2,
        logger=[CSVLogger(out_dir, name="csv"), recorder], log_every_n_steps=1,
    )  # fmt: skip
    module = make_module(log_batches_per_epoch=2)
    loader = DataLoader(PairDataset(16), batch_size=4)
    trainer.fit(module, loader, DataLoader(PairDataset(8, seed=1), batch_size=4))
    metrics = {k: v.item() for k, v in trainer.callback_metrics.items()}
    images = [(key, image.shape) for key, image, _ in recorder.images]
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"metrics": metrics, "images": images}))
