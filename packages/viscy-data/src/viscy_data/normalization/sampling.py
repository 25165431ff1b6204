"""The subsample rule for medians and IQRs: a shifted y/x grid per plane, then every k-th voxel.

Mean and std are always exact (all voxels). Median and IQR need the values themselves, so
they come from a deterministic subsample whenever a level covers more voxels than a budget:

- a level covering ``N`` voxels of one FOV and channel (``Z*Y*X`` for a frame, ``T*Z*Y*X``
  for the FOV) is exact when ``N <= budget`` (default :data:`SAMPLE_VOXELS`, 2^22); otherwise
  every (frame, z) plane keeps the regular y/x grid ``plane[oy::s, ox::s]`` with
  ``s = grid_step(N) = ceil(sqrt(N / budget))``, which keeps about ``budget`` voxels. The
  grid of plane ``k = t * Z + z`` is shifted by ``oy = k % s`` rows and
  ``ox = (k // s) % s`` columns (:func:`grid_offsets`), so consecutive frames and planes, which
  look alike, are sampled at different pixels;
- the dataset level pools the FOV-level samples of every FOV of the plate, each thinned to
  every ``k``-th voxel with ``k = thinning_step(total)`` so that at most
  ``DATASET_SAMPLE_VOXELS`` voxels per channel are pooled (``k = 1`` below that).

``dynaclr preprocess`` uses this rule (``docs/preprocess.md`` gives its measured error); the
demo writer uses :func:`grid_step` and :func:`dataset_sample` with an unshifted grid and a
budget of 2^18, which its data has always used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "DATASET_SAMPLE_VOXELS",
    "SAMPLE_VOXELS",
    "dataset_sample",
    "grid_offsets",
    "grid_sample",
    "grid_sample_size",
    "grid_step",
    "thinning_step",
]

SAMPLE_VOXELS = 1 << 22
"""Voxels kept, about, per channel for the median/IQR of one FOV or one frame (4,194,304)."""
DATASET_SAMPLE_VOXELS = 1 << 22
"""Voxels kept, at most, per channel for the median/IQR of a whole plate (4,194,304)."""


def grid_step(voxels: int, max_voxels: int = SAMPLE_VOXELS) -> int:
    """Step of the regular y/x grid that keeps about ``max_voxels`` of ``voxels``.

    Parameters
    ----------
    voxels : int
        Voxels the statistic covers (e.g. ``T * Z * Y * X`` of one channel of a FOV).
    max_voxels : int, default SAMPLE_VOXELS
        Budget; ``voxels <= max_voxels`` gives step 1 (every voxel: exact).

    Examples
    --------
    >>> grid_step(20 * 3 * 128 * 128), grid_step(50 * 5 * 2048 * 2048), grid_step(5 * 2048**2)
    (1, 16, 3)
    """
    if max_voxels < 1:
        raise ValueError(f"max_voxels must be >= 1, got {max_voxels!r}")
    return 1 if voxels <= max_voxels else math.ceil(math.sqrt(voxels / max_voxels))


def grid_offsets(planes: np.ndarray | int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of the grid of plane ``k = t * Z + z``: ``k % s``, ``k // s % s``.

    Examples
    --------
    >>> [a.tolist() for a in grid_offsets(np.arange(5), 2)]
    [[0, 1, 0, 1, 0], [0, 0, 1, 1, 0]]
    """
    planes = np.asarray(planes)
    return planes % step, planes // step % step


def grid_sample(block: np.ndarray, step: int, first_frame: int = 0) -> np.ndarray:
    """The grid sample of a ``(nt, nc, Z, Y, X)`` block: ``(nc, N)``, planes in (t, z) order.

    Parameters
    ----------
    block : numpy.ndarray
        Whole frames ``first_frame, first_frame + 1, ...`` of some channels.
    step : int
        Grid step (:func:`grid_step`); 1 keeps every voxel.
    first_frame : int, default 0
        Frame index of ``block[0]`` in its FOV (it sets the planes' offsets).

    Examples
    --------
    >>> block = np.arange(2 * 1 * 1 * 2 * 2).reshape(2, 1, 1, 2, 2)  # frames [[0, 1], [2, 3]], ...
    >>> grid_sample(block, 2).tolist()  # frame 0 at (0, 0), frame 1 at row 1
    [[0, 6]]
    """
    n_t, n_c, n_z = block.shape[:3]
    if step == 1:
        return block.swapaxes(0, 1).reshape(n_c, -1)
    rows, cols = grid_offsets(np.arange(first_frame * n_z, (first_frame + n_t) * n_z), step)
    parts = [
        block[k // n_z, :, k % n_z, rows[k] :: step, cols[k] :: step].reshape(n_c, -1)
        for k in range(n_t * n_z)  # planes, not pixels
    ]
    return np.concatenate(parts, axis=1)


def grid_sample_size(shape: Sequence[int], step: int, first_frame: int = 0) -> int:
    """Voxels per channel in :func:`grid_sample` of frames of shape ``(T, Z, Y, X)``.

    Examples
    --------
    >>> grid_sample_size((20, 3, 128, 128), 1), grid_sample_size((2, 1, 2, 2), 2)
    (983040, 2)
    """
    n_t, n_z, height, width = (int(s) for s in shape)
    rows, cols = grid_offsets(np.arange(first_frame * n_z, (first_frame + n_t) * n_z), step)
    return int((-(-(height - rows) // step) * -(-(width - cols) // step)).sum())


def thinning_step(total: int, max_voxels: int = DATASET_SAMPLE_VOXELS) -> int:
    """Keep every ``k``-th voxel of pooled samples of ``total`` voxels, at most ``max_voxels``.

    Examples
    --------
    >>> thinning_step(4 * 245760), thinning_step(100 * 262144)
    (1, 7)
    """
    if max_voxels < 1:
        raise ValueError(f"max_voxels must be >= 1, got {max_voxels!r}")
    return 1 if total <= max_voxels else math.ceil(total / max_voxels)


def dataset_sample(
    samples: Sequence[np.ndarray], max_voxels: int = DATASET_SAMPLE_VOXELS
) -> np.ndarray:
    """Pool per-FOV samples ``(C, N_f)`` into one ``(C, N)`` dataset sample, thinned evenly.

    Parameters
    ----------
    samples : sequence of numpy.ndarray
        The FOV-level sample of each FOV, ``(C, N_f)``, in FOV order.
    max_voxels : int, default DATASET_SAMPLE_VOXELS
        Most voxels kept per channel.

    Examples
    --------
    >>> dataset_sample([np.arange(6).reshape(1, 6), np.arange(4).reshape(1, 4)], 5).tolist()
    [[0, 2, 4, 0, 2]]
    """
    step = thinning_step(sum(s.shape[-1] for s in samples), max_voxels)
    return np.concatenate([s[..., ::step] for s in samples], axis=-1)
