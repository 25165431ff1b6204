"""Frame offsets (tau) between an anchor and its positive: hours -> frames, weights, draws.

A positive is drawn ``tau`` frames after its anchor, with ``tau`` in the frame range
``[tau_min, tau_max]`` of the anchor's experiment. The window is given in hours and converted
per experiment by :func:`tau_range_frames`::

    tau_min = max(1, round_half_up(min_hours * 60 / interval_minutes))
    tau_max = round_half_up(max_hours * 60 / interval_minutes)

Short offsets are favoured with exponentially decaying weights::

    w(tau) = exp(-decay_rate * (tau - tau_min) / (tau_max - tau_min))

Per-row bounds: ``PositiveLookup.tau_bounds``; the draw: ``positives.draw_positives``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from dynaclr.experiment_config import ConfigError

__all__ = [
    "round_half_up",
    "sample_tau",
    "sample_taus",
    "tau_probabilities",
    "tau_range_frames",
    "taus_from_uniform",
]


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves up; tolerant of float noise (2.4999999 -> 3).

    Examples
    --------
    >>> round_half_up(2.5), round_half_up(2.4999999999), round_half_up(2.4)
    (3, 3, 2)
    """
    return math.floor(value + 0.5 + 1e-9)


def _is_hours(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def tau_range_frames(
    tau_range_hours: Sequence[float],
    interval_minutes: float,
    *,
    parameter: str = "tau_range_hours",
    experiment: str | None = None,
    source: str | os.PathLike | None = None,
) -> tuple[int, int]:
    """Convert a positive-offset window in hours into frames of an experiment.

    ``min = max(1, round_half_up(min_h * 60 / interval))`` and
    ``max = round_half_up(max_h * 60 / interval)``; tau 0 (the anchor's own frame) is never
    allowed.

    Parameters
    ----------
    tau_range_hours : pair of float
        ``(min_hours, max_hours)``, 0 <= min <= max.
    interval_minutes : float
        Time between frames of the experiment (> 0).
    parameter : str, default "tau_range_hours"
        Name of the window in the caller's API, used in error messages (the DataModule and
        its YAML call it ``tau_range``).
    experiment : str, optional
        Experiment name, for messages.
    source : path, optional
        File the experiment came from, for messages.

    Returns
    -------
    tuple of int
        ``(min_frames, max_frames)``, 1 <= min <= max.

    Raises
    ------
    ConfigError
        (a ``ValueError``) when the window is malformed or holds no whole frame >= 1 for this
        interval; the message names ``parameter``, the experiment and its interval.

    Examples
    --------
    >>> tau_range_frames((0.5, 2.0), 20.0)
    (2, 6)
    """
    if (
        isinstance(tau_range_hours, str)
        or not isinstance(tau_range_hours, Sequence)
        or len(tau_range_hours) != 2
        or not all(_is_hours(h) for h in tau_range_hours)
        or tau_range_hours[0] > tau_range_hours[1]
    ):
        raise ConfigError(
            f"{parameter} must be a pair (min_hours, max_hours) with 0 <= min <= max, "
            f"got {tau_range_hours!r}"
        )
    low_h, high_h = tau_range_hours
    low = max(1, round_half_up(low_h * 60.0 / interval_minutes))
    high = round_half_up(high_h * 60.0 / interval_minutes)
    if high < low:
        where = f"{source}: " if source is not None else ""
        who = f"experiment {experiment!r} " if experiment is not None else ""
        raise ConfigError(
            f"{where}{who}(interval_minutes={interval_minutes}): "
            f"{parameter}={tuple(tau_range_hours)!r} holds no offset of at least one "
            f"frame (frames {low}..{high}); raise the maximum to at least "
            f"{interval_minutes / 60:.4g} hours"
        )
    return low, high


def _check_range(tau_min: int, tau_max: int, decay_rate: float) -> tuple[int, int, float]:
    for name, value in (("tau_min", tau_min), ("tau_max", tau_max)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer number of frames, got {value!r}.")
    tau_min, tau_max = int(tau_min), int(tau_max)
    if tau_min < 1:
        raise ValueError(
            f"tau_min must be at least 1 frame (a cell is never its own positive), got {tau_min!r}."
        )
    if tau_max < tau_min:
        raise ValueError(
            f"Empty tau range: tau_max={tau_max!r} < tau_min={tau_min!r}; "
            "use tau_min <= tau_max (both in frames)."
        )
    if isinstance(decay_rate, bool) or not isinstance(decay_rate, numbers.Real):
        raise ValueError(f"decay_rate must be a finite number >= 0, got {decay_rate!r}.")
    decay_rate = float(decay_rate)
    if not math.isfinite(decay_rate) or decay_rate < 0:
        raise ValueError(
            f"decay_rate must be a finite number >= 0 (0 = uniform), got {decay_rate!r}."
        )
    return tau_min, tau_max, decay_rate


def tau_probabilities(tau_min: int, tau_max: int, decay_rate: float = 2.0) -> np.ndarray:
    """Probability of each offset ``tau_min, ..., tau_max`` under the decaying weights.

    Parameters
    ----------
    tau_min, tau_max : int
        Inclusive range in frames, ``1 <= tau_min <= tau_max``.
    decay_rate : float, default 2.0
        Decay of the weights over the range; 0 gives a uniform distribution.

    Returns
    -------
    numpy.ndarray
        float64 array of length ``tau_max - tau_min + 1`` summing to 1.

    Raises
    ------
    ValueError
        For a non-integer or empty range, ``tau_min < 1``, or a negative/non-finite decay.

    Examples
    --------
    >>> tau_probabilities(1, 3, decay_rate=0.0).round(3).tolist()
    [0.333, 0.333, 0.333]
    """
    tau_min, tau_max, decay_rate = _check_range(tau_min, tau_max, decay_rate)
    n = tau_max - tau_min + 1
    if n == 1:
        return np.ones(1)
    weights = np.exp(-decay_rate * np.arange(n) / (n - 1))
    return weights / weights.sum()


def sample_tau(
    tau_min: int, tau_max: int, rng: np.random.Generator, decay_rate: float = 2.0
) -> int:
    """Draw a frame offset in ``[tau_min, tau_max]``, favouring short offsets.

    The weight of ``tau`` is ``exp(-decay_rate * (tau - tau_min) / (tau_max - tau_min))``:
    uniform at ``decay_rate=0``; with the default 2.0 the longest offset is ``e**2`` (7.4x)
    less likely than the shortest. Returns ``tau_min`` when ``tau_min == tau_max``.

    Parameters
    ----------
    tau_min, tau_max : int
        Inclusive range in frames; ``tau_min >= 1``, so a cell is never its own positive.
    rng : numpy.random.Generator
        Source of randomness (seed it for reproducible draws).
    decay_rate : float, default 2.0
        Decay of the weights over the range (>= 0).

    Returns
    -------
    int
        The offset in frames.

    Raises
    ------
    ValueError
        For a non-integer or empty range, ``tau_min < 1``, or a negative/non-finite decay.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> 1 <= sample_tau(1, 4, rng) <= 4
    True
    >>> sample_tau(3, 3, rng)
    3
    """
    probabilities = tau_probabilities(tau_min, tau_max, decay_rate)
    if probabilities.size == 1:
        return int(tau_min)
    return int(tau_min) + int(rng.choice(probabilities.size, p=probabilities))


def sample_taus(
    tau_min: int, tau_max: int, rng: np.random.Generator, size: int, decay_rate: float = 2.0
) -> np.ndarray:
    """Draw ``size`` independent offsets with the distribution of :func:`sample_tau`.

    Parameters
    ----------
    tau_min, tau_max : int
        Inclusive range in frames, ``1 <= tau_min <= tau_max``.
    rng : numpy.random.Generator
        Source of randomness.
    size : int
        Number of draws (>= 0).
    decay_rate : float, default 2.0
        Decay of the weights over the range (>= 0).

    Returns
    -------
    numpy.ndarray
        int64 array of shape ``(size,)``.

    Examples
    --------
    >>> sample_taus(2, 2, np.random.default_rng(0), size=3).tolist()
    [2, 2, 2]
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
        raise ValueError(f"size must be a non-negative integer, got {size!r}.")
    probabilities = tau_probabilities(tau_min, tau_max, decay_rate)
    if probabilities.size == 1:
        return np.full(int(size), int(tau_min), dtype=np.int64)
    return int(tau_min) + rng.choice(probabilities.size, size=int(size), p=probabilities)


def taus_from_uniform(
    u: np.ndarray, tau_min: np.ndarray, tau_max: np.ndarray, decay_rate: float = 2.0
) -> np.ndarray:
    """Offsets with the distribution of :func:`sample_tau`, from given uniforms (inverse CDF).

    Keyed draws (the same uniform for the same sample whatever the thread timing) become
    offsets here, row by row, each within its own range.

    Parameters
    ----------
    u : numpy.ndarray
        Uniforms in ``[0, 1)``, shape ``(N,)``.
    tau_min, tau_max : numpy.ndarray
        Inclusive range in frames per row, shape ``(N,)``, ``1 <= tau_min <= tau_max``.
    decay_rate : float, default 2.0
        Decay of the weights over each range (>= 0).

    Returns
    -------
    numpy.ndarray
        int64 offsets, ``tau_min <= tau <= tau_max`` per row.

    Examples
    --------
    >>> taus_from_uniform(np.array([0.0, 0.999]), np.array([1, 3]), np.array([4, 3])).tolist()
    [1, 3]
    """
    u = np.asarray(u, dtype=np.float64)
    tau_min = np.asarray(tau_min, dtype=np.int64)
    width = np.asarray(tau_max, dtype=np.int64) - tau_min + 1
    taus = tau_min.copy()
    for n in np.unique(width).tolist():
        if n == 1:
            continue
        cdf = np.cumsum(tau_probabilities(1, n, decay_rate))
        cdf[-1] = 1.0  # u < 1 never passes the last step
        rows = width == n
        taus[rows] += np.searchsorted(cdf, u[rows], side="right")
    return taus
