"""Counter-based random numbers: the same (seed, stream, key) always gives the same value.

Loader threads may fetch batches in any order; drawing from a shared ``Generator`` would make
the values depend on that order. Hashing ``(seed, stream, key)`` instead gives each sample its
own reproducible draw, whatever thread computes it and whatever batch it lands in.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GOLDEN", "keyed_uniform", "mix64", "splitmix64"]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
"""SplitMix64's increment (2**64 / golden ratio), also used to spread keys before mixing."""
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)


def mix64(x: np.ndarray) -> np.ndarray:
    """Scramble 64-bit words elementwise (the SplitMix64 output function, without its step).

    Parameters
    ----------
    x : np.ndarray
        uint64 array (any shape); arithmetic wraps modulo 2**64.

    Returns
    -------
    np.ndarray
        uint64 array of the same shape.

    Examples
    --------
    >>> mix64(np.array([0, 1], dtype=np.uint64)).tolist()[0]
    0
    """
    z = np.asarray(x, dtype=np.uint64)
    z = (z ^ (z >> _S30)) * _MUL1
    z = (z ^ (z >> _S27)) * _MUL2
    return z ^ (z >> _S31)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """One SplitMix64 step: add :data:`GOLDEN`, then :func:`mix64`; wraps modulo 2**64."""
    with np.errstate(over="ignore"):
        return mix64(np.asarray(x, dtype=np.uint64) + GOLDEN)


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
    state = splitmix64(np.array([seed], dtype=np.uint64))
    for value in (stream, *extra):
        state = splitmix64(state ^ np.uint64(value & 0xFFFFFFFFFFFFFFFF))
    mixed = splitmix64(np.asarray(keys).astype(np.uint64) ^ state)
    mixed = splitmix64(mixed)
    return (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
