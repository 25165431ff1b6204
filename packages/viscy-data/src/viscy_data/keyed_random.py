"""Counter-based random numbers: the same (seed, stream, key) always gives the same value.

Loader threads may fetch batches in any order; drawing from a shared ``Generator`` would make
the values depend on that order. Hashing ``(seed, stream, key)`` instead gives each sample its
own reproducible draw, whatever thread computes it and whatever batch it lands in.
"""

from __future__ import annotations

import numpy as np

__all__ = ["keyed_uniform"]

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Mix 64-bit integers (the SplitMix64 finaliser); wraps modulo 2**64."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return x ^ (x >> np.uint64(31))


def keyed_uniform(seed: int, stream: int, keys: np.ndarray, *extra: int) -> np.ndarray:
    """Uniform floats in [0, 1), one per key, determined by ``(seed, stream, *extra, key)``.

    Parameters
    ----------
    seed : int
        Run seed.
    stream : int
        Purpose of the draw (e.g. 0 for tau, 1 for tie-breaks), so two purposes never share
        values.
    keys : np.ndarray of int
        One key per draw, e.g. sample positions.
    *extra : int
        More integers mixed into the state, e.g. the epoch.

    Returns
    -------
    np.ndarray
        float64 array with the shape of ``keys``.

    Examples
    --------
    >>> a = keyed_uniform(0, 1, np.arange(3), 5)
    >>> bool(np.all(a == keyed_uniform(0, 1, np.arange(3), 5)))
    True
    >>> bool(np.all((a >= 0) & (a < 1)))
    True
    """
    state = _splitmix64(np.array([seed], dtype=np.uint64))
    for value in (stream, *extra):
        state = _splitmix64(state ^ np.uint64(value & 0xFFFFFFFFFFFFFFFF))
    mixed = _splitmix64(np.asarray(keys).astype(np.uint64) ^ state)
    mixed = _splitmix64(mixed)
    return (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
