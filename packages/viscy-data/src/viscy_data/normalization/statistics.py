"""Normalization statistics: their names, how they are computed and stored, the divisor rule.

A FOV's ``normalization`` attribute holds ``{channel_name: {level: {stat: value}}}`` with the
levels of :data:`LEVELS` and the statistics of :data:`STATS`; ``timepoint_statistics`` holds
one more level of keys, the frame index as a string (``{"0": {stat: value}, ...}``). This is
the layout upstream's ``viscy preprocess`` writes (see ``docs/data-layout.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "LEVELS",
    "STATS",
    "TIMEPOINT",
    "NormLevel",
    "NormMeta",
    "channel_statistics",
    "normalization_attribute",
    "quartiles",
    "unusable_divisor",
]

NormLevel = Literal["dataset_statistics", "fov_statistics", "timepoint_statistics"]
LEVELS: tuple[str, ...] = get_args(NormLevel)
"""Levels of the ``normalization`` attribute: all FOVs of a plate, one FOV, one FOV and frame."""
TIMEPOINT = "timepoint_statistics"
"""The level keyed by frame (the frame index as a string)."""
STATS = ("mean", "std", "median", "iqr")
"""Statistics stored at every level: mean, std (ddof 0), median and IQR (q75 - q25)."""

NormMeta = dict[int, dict[str, dict[str, "torch.Tensor"]]]
"""Per-sample statistics of a batch: model channel position -> level -> stat -> ``(B,)``."""


def unusable_divisor(divisor: Any, eps: float) -> Any:
    """Where dividing by ``max(divisor, eps)`` is refused: NaN, inf, negative, or 0 without eps.

    The one rule for every place that divides by a statistic (checks at setup and the
    normalization itself). Works elementwise on numpy arrays and torch tensors alike.

    Parameters
    ----------
    divisor : numpy.ndarray or torch.Tensor
        Statistic values (e.g. ``std``) to divide by.
    eps : float
        Smallest divisor used; with ``eps > 0`` a zero divisor (a constant channel) is allowed
        and replaced by ``eps``.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        bool, the shape of ``divisor``.

    Examples
    --------
    >>> unusable_divisor(np.array([1.0, 0.0, -1.0, np.nan, np.inf]), eps=0.0).tolist()
    [False, True, True, True, True]
    >>> unusable_divisor(np.array([0.0]), eps=1e-6).tolist()
    [False]
    """
    not_finite = (divisor != divisor) | (abs(divisor) == float("inf"))  # NaN, +-inf
    return not_finite | (divisor < 0) | ((divisor == 0) & (eps <= 0))


def quartiles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """25th, 50th and 75th percentiles over the last axis (numpy's default linear method).

    One ``np.partition`` places the six order statistics the three percentiles interpolate
    between (about twice as fast as sorting, several times faster than ``np.percentile``);
    the values are those of a full sort.

    Examples
    --------
    >>> [float(q) for q in quartiles(np.array([4.0, 1.0, 3.0, 2.0]))]
    [1.75, 2.5, 3.25]
    """
    n = values.shape[-1]
    positions = [(n - 1) * q for q in (0.25, 0.5, 0.75)]
    lows = [int(np.floor(pos)) for pos in positions]
    kth = sorted({k for low in lows for k in (low, min(low + 1, n - 1))})
    ordered = np.partition(values, kth, axis=-1)
    out = []
    for pos, low in zip(positions, lows):
        a = ordered[..., low].astype(np.float64)
        b = ordered[..., min(low + 1, n - 1)].astype(np.float64)
        out.append(a + (b - a) * (pos - low))
    return out[0], out[1], out[2]


def channel_statistics(
    values: np.ndarray, moments: tuple[float | np.ndarray, np.ndarray, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """The :data:`STATS` of ``values`` over the last axis.

    Parameters
    ----------
    values : np.ndarray
        ``(..., N)`` pixels; median and IQR come from them.
    moments : (count, sum, sum of squares), optional
        Exact moments of the full data when ``values`` is only a sample of it; mean and std
        then come from these.

    Returns
    -------
    dict
        ``{"mean", "std", "median", "iqr"}``, each an array of shape ``values.shape[:-1]``.

    Examples
    --------
    >>> {k: float(v) for k, v in channel_statistics(np.array([1.0, 2.0, 3.0, 4.0])).items()}
    {'mean': 2.5, 'std': 1.118033988749895, 'median': 2.5, 'iqr': 1.5}
    """
    q25, median, q75 = quartiles(values)
    if moments is None:  # float32 pairwise sums: ~1e-6 relative error, twice as fast as float64
        mean, std = values.mean(axis=-1), values.std(axis=-1)
    else:
        count, total, total_sq = moments
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return {"mean": mean, "std": std, "median": median, "iqr": q75 - q25}


def _entry(stats: Mapping[str, np.ndarray], index: tuple) -> dict[str, float]:
    return {name: float(stats[name][index]) for name in STATS}


def normalization_attribute(
    channel_names: Sequence[str],
    dataset: Mapping[str, np.ndarray] | None = None,
    fov: Mapping[str, np.ndarray] | None = None,
    timepoints: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, Any]]:
    """One FOV's ``normalization`` attribute from per-channel statistics, JSON-ready.

    Parameters
    ----------
    channel_names : sequence of str
        The FOV's channels, in array order.
    dataset, fov : mapping of stat name to array, optional
        ``dataset_statistics`` and ``fov_statistics``: each stat of :data:`STATS` as an array of
        shape ``(C,)``. A level left out is not written.
    timepoints : mapping of stat name to array, optional
        ``timepoint_statistics``: each stat as an array of shape ``(T, C)``, frame by frame.

    Returns
    -------
    dict
        ``{channel: {level: {stat: float}}}``; timepoints keyed ``"0"``, ``"1"``, ...

    Examples
    --------
    >>> one = {s: np.array([1.0]) for s in STATS}
    >>> normalization_attribute(["GFP"], fov=one)["GFP"]["fov_statistics"]["std"]
    1.0
    """
    out: dict[str, dict[str, Any]] = {}
    for c, channel in enumerate(channel_names):
        levels: dict[str, Any] = {}
        for level, stats in zip(LEVELS[:2], (dataset, fov)):
            if stats is not None:
                levels[level] = _entry(stats, (c,))
        if timepoints is not None:
            n_frames = len(timepoints[STATS[0]])
            levels[TIMEPOINT] = {str(t): _entry(timepoints, (t, c)) for t in range(n_frames)}
        out[str(channel)] = levels
    return out
