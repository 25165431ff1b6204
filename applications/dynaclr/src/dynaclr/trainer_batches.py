"""Batches driven by the Lightning trainer: its epoch, its rank, the batches it consumed.

Lightning never calls ``set_epoch`` on a custom ``batch_sampler``, and a loader only knows how
many batches it handed out (some of them prefetched, not trained on). These adapters take the
epoch from ``trainer.current_epoch`` each time an epoch's iterator is created, the resume
position from the batches the training loop actually consumed, and the DDP topology from the
trainer (:func:`trainer_topology`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from viscy_data import FlexibleBatchSampler, ThreadDataLoader

__all__ = [
    "AllRowsOnce",
    "FixedEpochBatches",
    "TrainLoader",
    "TrainerSyncedBatches",
    "trainer_topology",
]


def trainer_topology(trainer: Any) -> tuple[int, int]:
    """``(world_size, global_rank)`` of ``trainer``; ``(1, 0)`` when no trainer is attached."""
    if trainer is None:
        return 1, 0
    return int(getattr(trainer, "world_size", 1)), int(getattr(trainer, "global_rank", 0))


class TrainerSyncedBatches(Sampler[list[int]]):
    """Training batches whose epoch follows the attached trainer.

    Parameters
    ----------
    sampler : FlexibleBatchSampler
        The self-sharding batch sampler.
    dataset : object with ``set_epoch``
        Keyed on the same epoch so positives change every epoch.
    datamodule : LightningDataModule
        Its ``trainer`` (when attached) supplies the epoch and the consumed-batch count.
    """

    def __init__(self, sampler: FlexibleBatchSampler, dataset: Any, datamodule: Any) -> None:
        self.sampler = sampler
        self.dataset = dataset
        self.datamodule = datamodule
        self._resume: tuple[int, int] | None = None

    def trainer(self):
        """The datamodule's trainer, or None when none is attached."""
        return getattr(self.datamodule, "trainer", None)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[list[int]]:
        trainer = self.trainer()
        if trainer is not None:
            self.sampler.set_epoch(int(trainer.current_epoch))
        if self._resume is not None:
            saved_epoch, done = self._resume
            self._resume = None
            if trainer is None or saved_epoch == int(trainer.current_epoch):
                self.sampler.set_epoch(saved_epoch)
                self.sampler.set_start_batch(min(done, len(self.sampler)))
        return self._batches()

    def _batches(self) -> Iterator[list[int]]:
        # Without a trainer the sampler advances its own epoch when iteration starts; key the
        # dataset on the epoch the sampler settled on before the first batch is fetched.
        for i, batch in enumerate(self.sampler):
            if i == 0:
                self.dataset.set_epoch(self.sampler.epoch)
            yield batch

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches_done", "seed"}``: batches the training loop consumed this epoch."""
        trainer = self.trainer()
        if trainer is None:
            state = self.sampler.state_dict()
            return {k: int(state[k]) for k in ("epoch", "batches_done", "seed")}
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        done = min(int(progress.processed), len(self.sampler))
        return {
            "epoch": int(trainer.current_epoch),
            "batches_done": done,
            "seed": self.sampler.seed,
        }

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Start the next iteration of ``state["epoch"]`` after its consumed batches."""
        if int(state.get("seed", self.sampler.seed)) != self.sampler.seed:
            raise ValueError(
                f"the checkpoint's sampler used seed={state['seed']}, this run seed="
                f"{self.sampler.seed}; resume with the same data.seed."
            )
        self._resume = (int(state["epoch"]), int(state["batches_done"]))


class FixedEpochBatches(Sampler[list[int]]):
    """Validation batches: the sampler and dataset stay at epoch 0, so every epoch is the same.

    A row appears at most once per batch: the sampler refills a stratum smaller than its
    share of a batch, and a repeated row would count as a negative of itself in the loss,
    so repeats are dropped (the batch is smaller instead).
    """

    def __init__(self, sampler: FlexibleBatchSampler, dataset: Any) -> None:
        self.sampler = sampler
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[list[int]]:
        self.sampler.set_epoch(0)
        self.dataset.set_epoch(0)
        return (_unique_rows(batch) for batch in self.sampler)


def _unique_rows(batch: list[int]) -> list[int]:
    """``batch`` without repeats, first occurrences in their order."""
    rows = np.asarray(batch)
    _, first = np.unique(rows, return_index=True)
    return rows[np.sort(first)].tolist() if first.size < rows.size else list(batch)


class AllRowsOnce(Sampler[list[int]]):
    """Validation with fewer anchors than one batch per rank: one batch of every row, rank
    ``r`` taking rows ``r, r + world, ...`` (no padding, no repeated row).

    Raises
    ------
    ValueError
        When some rank would get no row (fewer anchors than ranks).
    """

    def __init__(self, dataset: Any, world: int, rank: int, batch_size: int) -> None:
        n = len(dataset)
        if n < world:
            raise ValueError(
                f"{n} validation anchor(s) cannot give each of {world} ranks a batch "
                f"(batch_size={batch_size}); add validation data or validate on fewer ranks."
            )
        self.dataset = dataset
        self.rows = list(range(rank, n, world))

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[list[int]]:
        self.dataset.set_epoch(0)
        return iter([list(self.rows)])


class TrainLoader(ThreadDataLoader):
    """The training :class:`ThreadDataLoader`, over :class:`TrainerSyncedBatches`.

    The loader's own count includes batches read ahead or prefetched by Lightning but not
    trained on, so it saves nothing in checkpoints itself: the datamodule saves
    :meth:`resume_state`, the batches actually consumed.
    """

    def resume_state(self) -> dict[str, int]:
        """Epoch and batches consumed in it, in :meth:`TrainerSyncedBatches.state_dict` form.

        With a trainer attached, its count of processed batches; without one, the position
        right after the last batch this loader handed out (not those it is reading ahead).
        """
        batches = self.batch_sampler
        if batches.trainer() is None:
            handed_out = super().state_dict()["sampler_state"]
            if handed_out:
                return dict(handed_out)
        return batches.state_dict()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None
