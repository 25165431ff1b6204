"""Chunk files missing from a store: found on the read that needs them, never read as zeros
silently.

Zarr reads a chunk that has no file as its fill value (zeros), so a copy that lost files
trains on black patches without a word. :class:`~viscy_data.readers.PatchReader` opens every
zarr array with tensorstore's ``fill_missing_data_reads: false``, so such a read fails
(``NOT_FOUND``) instead; nothing is checked while every chunk is there, so reads cost the
same. On the first failure for an array, :func:`missing_planes` lists the (frame, channel)
planes of the array that lack chunks (metadata only: ``storage_statistics``) and
:func:`missing_chunks_message` names them. With ``missing_chunks="warn"`` (the default) the
reader warns once per array (:class:`MissingChunksWarning`) and from then on reads that array
with missing chunks as zeros; with ``"error"`` it raises :class:`MissingChunksError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorstore as ts

from viscy_data.readers.patches import PatchReadError, is_missing_chunk

__all__ = [
    "MISSING_CHUNKS",
    "MissingChunksError",
    "MissingChunksWarning",
    "is_missing_chunk",
    "missing_chunks_message",
    "missing_planes",
    "strict_spec",
]

MISSING_CHUNKS = ("warn", "error")
"""What a read does on a missing chunk file: warn once per array and read zeros, or raise."""

_STRICT_DRIVERS = ("zarr", "zarr2", "zarr3", "n5")
_SHOW = 10  # frames named per channel


class MissingChunksError(PatchReadError):
    """Chunk files are missing from an array (``missing_chunks="error"``)."""


class MissingChunksWarning(UserWarning):
    """Chunk files are missing from an array; they read as zeros (``missing_chunks="warn"``)."""


def strict_spec(spec: dict) -> dict:
    """``spec`` with ``fill_missing_data_reads: false`` for the chunked drivers that have it."""
    if spec.get("driver") in _STRICT_DRIVERS and "fill_missing_data_reads" not in spec:
        return {**spec, "fill_missing_data_reads": False}
    return spec


def missing_planes(store: ts.TensorStore) -> np.ndarray:
    """``(frame, channel)`` of every plane of a ``(T, C, Z, Y, X)`` array that lacks a chunk.

    Asks the key-value store which chunks exist (``storage_statistics``; no pixel is read),
    one query per plane, all in flight together.
    """
    n_t, n_c = store.shape[:2]
    queries = [
        store[t, c].storage_statistics(query_fully_stored=True)
        for t in range(n_t)
        for c in range(n_c)
    ]
    incomplete = np.array([not q.result().fully_stored for q in queries], dtype=bool)
    return np.argwhere(incomplete.reshape(n_t, n_c))


def missing_chunks_message(
    label: str, planes: np.ndarray, channel_names: Sequence[str] | None, first: BaseException
) -> str:
    """Name the array, and per channel the frames whose chunks are missing.

    Parameters
    ----------
    label : str
        The array (e.g. ``"experiment 'a', FOV 'A/1/0' of plate.zarr"``).
    planes : numpy.ndarray
        ``(frame, channel)`` rows from :func:`missing_planes`.
    channel_names : sequence of str, optional
        Name of each channel index.
    first : BaseException
        The failed read (names one missing chunk file).
    """
    parts = []
    for c in np.unique(planes[:, 1]) if planes.size else []:
        frames = planes[planes[:, 1] == c, 0].tolist()
        shown = frames[:_SHOW] + (["..."] if len(frames) > _SHOW else [])
        name = channel_names[c] if channel_names is not None else f"index {c}"
        parts.append(f"channel {name!r} at {len(frames)} frame(s) {shown}")
    where = "; ".join(parts) or "some planes"
    return f"{label}: chunk files are missing for {where} (first: {first})"
