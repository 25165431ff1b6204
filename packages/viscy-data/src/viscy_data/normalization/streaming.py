"""Statistics of a FOV read block by block: exact moments, per-frame quartiles, samples.

A block is ``(nt, nc, Z, Y, X)`` pixels, whole frames of some channels as read from the store.
:func:`block_statistics` reduces it to, per frame and channel, the voxel count, mean and sum
of squared deviations (``m2``, exact, in float64), the quartiles of the frame's grid sample
and the block's share of the FOV-level grid sample (:mod:`viscy_data.normalization.sampling`).
:func:`pool_moments` combines moments of disjoint parts exactly (Chan et al.'s pairwise
update, in one vectorised step), so a FOV's and a plate's mean and std never need all their
pixels at once and do not depend on the order blocks were read in.

Chan, Golub and LeVeque, "Algorithms for computing the sample variance: analysis and
recommendations", The American Statistician 37(3), 1983.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viscy_data.normalization.sampling import grid_sample
from viscy_data.normalization.statistics import quartiles

__all__ = ["BlockStatistics", "block_statistics", "moment_statistics", "pool_moments"]

_SLAB_VOXELS = 1 << 18  # float64 working buffer: 2 MiB, whatever the block size
_SHIFT_VOXELS = 4096  # voxels averaged for the shift that keeps the float64 sums stable


@dataclass(frozen=True)
class BlockStatistics:
    """Reductions of one ``(nt, nc, Z, Y, X)`` block.

    Attributes
    ----------
    count : int
        Voxels per frame and channel, ``Z * Y * X``.
    mean, m2 : numpy.ndarray
        ``(nt, nc)`` float64: exact mean and sum of squared deviations from it.
    median, iqr : numpy.ndarray or None
        ``(nt, nc)`` float64 over each frame's grid sample; None when not asked for.
    sample : numpy.ndarray or None
        ``(nc, N)``: the block's part of the FOV-level grid sample
        (:func:`~viscy_data.normalization.sampling.grid_sample`), in the block's dtype; None
        when not asked for.
    """

    count: int
    mean: np.ndarray
    m2: np.ndarray
    median: np.ndarray | None
    iqr: np.ndarray | None
    sample: np.ndarray | None


def _moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and m2 of each row of ``rows`` (R, N), in float64 slabs of bounded size."""
    n_rows, n = rows.shape
    # Sums of deviations from a rough mean lose no digits, and a constant row gets m2 = 0.
    shift = rows[:, :: max(1, n // _SHIFT_VOXELS)].mean(axis=1, dtype=np.float64)
    width = max(1, _SLAB_VOXELS // n_rows)
    buffer = np.empty((n_rows, min(width, n)))
    total = np.zeros(n_rows)
    total_sq = np.zeros(n_rows)
    for start in range(0, n, width):  # slabs, not pixels: N / 2^18 iterations
        part = rows[:, start : start + width]
        dev = buffer[:, : part.shape[1]]
        np.subtract(part, shift[:, None], out=dev, dtype=np.float64)
        total += dev.sum(axis=1)
        total_sq += np.einsum("ij,ij->i", dev, dev)
    mean = shift + total / n
    return mean, np.maximum(total_sq - total * total / n, 0.0)


def block_statistics(
    block: np.ndarray,
    timepoint_step: int | None = None,
    fov_step: int | None = None,
    first_frame: int = 0,
) -> BlockStatistics:
    """Reduce a ``(nt, nc, Z, Y, X)`` block to exact moments, quartiles and a sample.

    Parameters
    ----------
    block : numpy.ndarray
        Whole frames of some channels, any real dtype.
    timepoint_step : int, optional
        Grid step of each frame's median/IQR sample (1: every voxel); None skips them.
    fov_step : int, optional
        Grid step of the FOV-level sample; None skips it.
    first_frame : int, default 0
        Frame index of ``block[0]`` in its FOV (it sets the grids' offsets).

    Returns
    -------
    BlockStatistics

    Examples
    --------
    >>> block = np.arange(2 * 1 * 1 * 2 * 2, dtype="float32").reshape(2, 1, 1, 2, 2)
    >>> stats = block_statistics(block, timepoint_step=1, fov_step=2)
    >>> stats.mean.tolist(), stats.median.tolist(), stats.sample.tolist()
    ([[1.5], [5.5]], [[1.5], [5.5]], [[0.0, 6.0]])
    """
    if block.ndim != 5 or block.size == 0:
        raise ValueError(f"block must be a non-empty (nt, nc, Z, Y, X) array, got {block.shape}")
    nt, nc = block.shape[:2]
    rows = block.reshape(nt * nc, -1)
    mean, m2 = _moments(rows)
    median = iqr = sample = None
    if timepoint_step is not None:
        median, iqr = np.empty((nt, nc)), np.empty((nt, nc))
        for i in range(nt):  # frames: each has its own grid offsets, so its own sample size
            grid = grid_sample(block[i : i + 1], timepoint_step, first_frame + i)
            q25, median[i], q75 = quartiles(grid)
            iqr[i] = q75 - q25
    if fov_step is not None:
        sample = grid_sample(block, fov_step, first_frame)
    return BlockStatistics(
        count=rows.shape[1],
        mean=mean.reshape(nt, nc),
        m2=m2.reshape(nt, nc),
        median=median,
        iqr=iqr,
        sample=sample,
    )


def pool_moments(
    count: np.ndarray, mean: np.ndarray, m2: np.ndarray, axis: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and m2 of the union of disjoint parts, pooled along ``axis``.

    ``mean = sum(n_i * mean_i) / n`` and ``m2 = sum(m2_i) + sum(n_i * (mean_i - mean)^2)``:
    exact, whatever the order or size of the parts.

    Examples
    --------
    >>> parts = [np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])]
    >>> n = np.array([2, 3]); m = np.array([p.mean() for p in parts])
    >>> m2 = np.array([((p - p.mean()) ** 2).sum() for p in parts])
    >>> [float(v) for v in pool_moments(n, m, m2)]
    [5.0, 3.0, 10.0]
    """
    count = np.broadcast_to(np.asarray(count, dtype=np.float64), np.shape(mean))
    total = count.sum(axis=axis)
    pooled = (count * mean).sum(axis=axis) / total
    spread = (count * (mean - np.expand_dims(pooled, axis)) ** 2).sum(axis=axis)
    return total, pooled, m2.sum(axis=axis) + spread


def moment_statistics(count: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> dict[str, np.ndarray]:
    """``{"mean", "std"}`` (std with ddof 0) from a count, a mean and an m2."""
    return {"mean": np.asarray(mean), "std": np.sqrt(np.asarray(m2) / count)}
