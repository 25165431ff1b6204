"""Sequential batches over a rank's contiguous share of the rows (prediction)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

__all__ = ["ShardedSequentialBatchSampler"]


class ShardedSequentialBatchSampler(Sampler[list[int]]):
    """Batches of consecutive row positions, each row on exactly one rank.

    Rank ``r`` of ``num_replicas`` takes the ``r``-th of ``num_replicas`` contiguous blocks of
    ``range(n_rows)`` (sizes differ by at most one) and yields it in order, in batches of
    ``batch_size`` (the last one may be shorter). No row is dropped or repeated across ranks,
    which is what prediction needs; ranks may yield different numbers of batches.

    Parameters
    ----------
    n_rows : int
        Number of rows to cover.
    batch_size : int
        Rows per batch (>= 1).
    num_replicas : int, default 1
        World size.
    rank : int, default 0
        This process's rank, ``0 <= rank < num_replicas``.

    Examples
    --------
    >>> [list(b) for b in ShardedSequentialBatchSampler(7, 2, num_replicas=2, rank=1)]
    [[4, 5], [6]]
    """

    def __init__(self, n_rows: int, batch_size: int, num_replicas: int = 1, rank: int = 0) -> None:
        if n_rows < 0:
            raise ValueError(f"n_rows must be >= 0, got {n_rows!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"rank must satisfy 0 <= rank < num_replicas, got rank={rank!r}, "
                f"num_replicas={num_replicas!r}"
            )
        self.n_rows, self.batch_size = int(n_rows), int(batch_size)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        bounds = np.linspace(0, self.n_rows, self.num_replicas + 1).round().astype(np.int64)
        self.start, self.stop = int(bounds[self.rank]), int(bounds[self.rank + 1])

    def __len__(self) -> int:
        return -(-(self.stop - self.start) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for lo in range(self.start, self.stop, self.batch_size):
            yield list(range(lo, min(lo + self.batch_size, self.stop)))
