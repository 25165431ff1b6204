"""A batch of patches: what to read (:class:`PatchRequest`), a read in flight, a failed read."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["PatchReadError", "PatchRequest", "PendingPatches"]


class PatchReadError(RuntimeError):
    """A patch could not be read; the message names the store, FOV and frame."""


class PatchRequest(NamedTuple):
    """The patches of one batch, in the argument order of :meth:`PatchReader.read`.

    ``reader.read(*request)`` reads them; ``reader.view(request)`` gives the unread view.
    """

    keys: Sequence[Hashable]
    t: np.ndarray
    channels: Sequence[Sequence[int]]
    z_range: slice
    y0: np.ndarray
    x0: np.ndarray
    patch_yx: tuple[int, int]


class PendingPatches:
    """Patches being read by :meth:`PatchReader.read_async`; :meth:`result` waits for them."""

    def __init__(
        self, ready: np.ndarray | None, future=None, views=(), where=(), reader=None, request=None
    ) -> None:
        self._ready, self._future, self._views, self._where = ready, future, views, where
        self._reader, self._request = reader, request

    def result(self) -> np.ndarray:
        """The ``(B, C, Z, Y, X)`` float32 patches.

        Raises
        ------
        PatchReadError
            When the read failed; names the first patch that fails on its own.
        MissingChunksError
            When a chunk file is missing and the reader's ``missing_chunks`` is ``"error"``
            (with ``"warn"`` the reader warns and the batch is read again, zeros there).
        """
        if self._future is None:
            return self._ready
        try:
            return self._future.result()
        except Exception as err:
            cause = err
            failure, missing = self._failure(err)
        if missing is not None and self._reader is not None:
            self._reader.found_missing(*missing)  # raises, or warns and reads zeros from now
            return self._reader.read(*self._request)
        raise failure from cause

    def _failure(self, err: Exception) -> tuple[PatchReadError, tuple | None]:
        """Find the first patch whose own read fails, to name it; reads one patch at a time.

        Also returns ``(key, error)`` when that read failed on a missing chunk file.
        """
        for view, where in zip(self._views, self._where):
            try:
                view.read().result()
            except Exception as own:
                missing = (where[0], own) if is_missing_chunk(own) else None
                return PatchReadError(f"{_where(*where)}: {own}"), missing
        return PatchReadError(f"cannot read a batch of {len(self._views)} patches: {err}"), None


def is_missing_chunk(err: BaseException) -> bool:
    """Whether a tensorstore read failed because a chunk file is missing."""
    text = str(err)
    return "NOT_FOUND" in text and "chunk" in text


def _where(key: Hashable, t: int, y: int, x: int) -> str:
    return f"cannot read array {key!r} at frame t={t}, y={y}, x={x}"
