"""How ``dynaclr preprocess`` reads a plate: blocks aligned to chunks, mapped on threads in order.

A block is the frames and channels of one chunk (``(1, 1, Z, Y, X)`` as iohub writes), or one
frame of one channel when a chunk would exceed :data:`MAX_BLOCK_BYTES`. :func:`ordered_map`
reduces blocks on worker threads but hands results back in plate order, with at most
``2 * workers`` blocks in flight, so memory does not depend on the plate size and results do
not depend on the number of threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from viscy_data.readers.ome_zarr import FOVInfo

__all__ = ["MAX_BLOCK_BYTES", "Block", "block_bytes", "ordered_map", "plan_blocks"]

MAX_BLOCK_BYTES = 256 << 20
"""Largest block read at once; a bigger chunk is read one frame of one channel at a time."""

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class Block:
    """Frames ``t0 <= t < t1`` of some channels of FOV number ``fov``.

    Attributes
    ----------
    fov : int
        Position of the FOV in the plate's FOV list.
    t0, t1 : int
        Frame range read.
    channels : tuple of int
        Positions among the computed channels.
    read : tuple of int
        Store channel range ``[lo, hi)`` read, covering ``channels``.
    pick : tuple of int or None
        Indices into the read range, None when all of it is used.
    """

    fov: int
    t0: int
    t1: int
    channels: tuple[int, ...]
    read: tuple[int, int]
    pick: tuple[int, ...] | None


def plan_blocks(fov_code: int, fov: FOVInfo, channels: Sequence[int]) -> list[Block]:
    """Blocks of one FOV in (t, channel) order, aligned to its chunks when they are small.

    Parameters
    ----------
    fov_code : int
        Position of the FOV in the plate.
    fov : FOVInfo
        The FOV (shape, chunks, dtype).
    channels : sequence of int
        Store channel indices to read, in the order they are computed.
    """
    n_t, _, n_z, n_y, n_x = fov.shape
    chunk_t, chunk_c = (fov.chunks or (1, 1))[:2]
    if chunk_t * chunk_c * n_z * n_y * n_x * np.dtype(fov.dtype).itemsize > MAX_BLOCK_BYTES:
        chunk_t = chunk_c = 1
    groups: dict[int, list[int]] = {}
    for position, c in enumerate(channels):
        groups.setdefault(c // chunk_c, []).append(position)
    blocks = []
    for t0 in range(0, n_t, chunk_t):
        for positions in groups.values():
            stored = [channels[p] for p in positions]
            lo, hi = min(stored), max(stored) + 1
            pick = None if stored == list(range(lo, hi)) else tuple(c - lo for c in stored)
            t1 = min(t0 + chunk_t, n_t)
            blocks.append(Block(fov_code, t0, t1, tuple(positions), (lo, hi), pick))
    return blocks


def block_bytes(fov: FOVInfo, block: Block) -> int:
    """Bytes of pixels the block reads (its whole channel range)."""
    frame = int(np.prod(fov.shape[2:])) * np.dtype(fov.dtype).itemsize
    return (block.t1 - block.t0) * (block.read[1] - block.read[0]) * frame


def ordered_map(fn: Callable[[_T], _R], items: Iterable[_T], workers: int) -> Iterator[_R]:
    """``map(fn, items)`` on ``workers`` threads, in order, at most ``2 * workers`` in flight.

    ``workers=0`` maps in the calling thread. An exception of ``fn`` is raised when its item's
    turn comes; the remaining items are cancelled.
    """
    if workers == 0:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="viscy-blocks")
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
