"""Keyed pseudo-random permutations of ``[0, n)`` evaluated one position at a time.

A shuffled queue over a stratum of ``n`` anchors needs "the item at queue position ``i``".
Materialising ``rng.permutation(n)`` costs O(n) before the first batch; a keyed bijection
gives the same answer in O(1) per position, so a sampler over 10^7 anchors starts at once
and holds no per-epoch state. The bijection is a small Feistel network (alternating
xor-with-hash half rounds on the high and low bits of ``i``) over the smallest power-of-two
domain that holds ``n``; values that land in ``[n, 2^bits)`` are encrypted again until they
fall inside ("cycle walking"), which keeps it a bijection of ``[0, n)``.
"""

import numpy as np

from viscy_data.keyed_random import GOLDEN, mix64

_S32, _ONE = np.uint64(32), np.uint64(1)
# Four Feistel rounds (two on each half), each keyed by the stream key xor its own constant.
_ROUND_CONSTANTS = tuple(
    np.uint64(c)
    for c in (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89)
)


def stream_keys(base: int, strata: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Key of the permutation used by stratum ``s`` on its ``c``-th pass through its queue.

    Parameters
    ----------
    base : int
        64-bit key derived from (seed, epoch).
    strata, cycles : np.ndarray
        Integer arrays of equal shape: stratum ids and pass numbers (both < 2^32).

    Returns
    -------
    np.ndarray
        uint64 keys, one per element.
    """
    word = (strata.astype(np.uint64) << _S32) | cycles.astype(np.uint64)
    return mix64((word * GOLDEN) ^ np.uint64(base))


def keyed_permutation(offsets: np.ndarray, sizes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Map each offset ``i < n`` to ``pi_key(i)``, a keyed pseudo-random permutation of ``[0, n)``.

    Parameters
    ----------
    offsets : np.ndarray
        Non-negative integers, each smaller than its size.
    sizes : np.ndarray
        Domain size ``n >= 1`` of each element's permutation.
    keys : np.ndarray
        uint64 key of each element's permutation (see :func:`stream_keys`).

    Returns
    -------
    np.ndarray
        int64 array of permuted offsets; for a fixed (size, key) distinct offsets give
        distinct results, so ``offsets = arange(n)`` yields a shuffle of ``arange(n)``.

    Examples
    --------
    >>> n = 10
    >>> out = keyed_permutation(np.arange(n), np.full(n, n), np.full(n, 7, dtype=np.uint64))
    >>> sorted(out.tolist()) == list(range(n))
    True
    """
    x = np.asarray(offsets).astype(np.uint64)
    size = np.asarray(sizes).astype(np.uint64)
    key = np.asarray(keys).astype(np.uint64)
    bits = np.frexp(np.maximum(size, _ONE).astype(np.float64) - 1.0)[1].astype(np.uint64)
    low_bits = bits >> _ONE
    low_mask = (_ONE << low_bits) - _ONE
    high_mask = (_ONE << (bits - low_bits)) - _ONE
    todo = np.arange(x.size)
    while todo.size:
        shift, lmask, hmask, k = low_bits[todo], low_mask[todo], high_mask[todo], key[todo]
        value = x[todo]
        low, high = value & lmask, value >> shift
        for c_high, c_low in zip(_ROUND_CONSTANTS[::2], _ROUND_CONSTANTS[1::2]):
            high ^= mix64(low ^ k ^ c_high) & hmask
            low ^= mix64(high ^ k ^ c_low) & lmask
        value = (high << shift) | low
        x[todo] = value
        todo = todo[value >= size[todo]]
    return x.astype(np.int64)
