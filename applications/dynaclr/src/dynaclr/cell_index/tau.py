"""Frame offsets (tau) between an anchor and its positive.

A positive is drawn ``tau`` frames after its anchor, with ``tau`` in the experiment's
frame range ``[tau_min, tau_max]`` (``ExperimentRegistry.tau_range_frames``). Short
offsets are favoured with exponentially decaying weights::

    w(tau) = exp(-decay_rate * (tau - tau_min) / (tau_max - tau_min))
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["sample_tau", "sample_taus", "tau_probabilities"]


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
