"""Step 4: batched, asynchronous patch reads through one shared tensorstore context."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorstore as ts

__all__ = ["PatchReadError", "PatchReader"]


class PatchReadError(RuntimeError):
    """A patch could not be read; the message names the store, FOV and frame."""


class PatchReader:
    """Read many ``(C, Z, Y, X)`` patches from many arrays at once.

    One reader holds one tensorstore ``Context`` for every store of a run, so the chunk cache
    is a single global budget (off by default: random patches rarely hit it). Arrays are
    opened lazily, read-only, the first time a key is read, and kept open for later batches.
    All reads of a batch are issued before any is awaited, so tensorstore decodes chunks
    concurrently on its own thread pool.

    Parameters
    ----------
    specs : Mapping[Hashable, dict]
        Tensorstore spec (``driver``, ``kvstore``...) of each array, keyed by a caller-chosen
        key such as ``(store_path, fov_name)``. Arrays must be 5-D ``(T, C, Z, Y, X)``.
    cache_pool_bytes : int, default 0
        Size of the shared chunk cache in bytes; 0 disables caching.
    data_copy_concurrency : int or None, default None
        Threads tensorstore may use to decode chunks; None keeps tensorstore's default
        (the number of CPUs this process may run on).

    Notes
    -----
    The reader pickles without its open handles, so it can be sent to worker processes;
    handles are reopened on first use there.
    """

    def __init__(
        self,
        specs: Mapping[Hashable, dict],
        cache_pool_bytes: int = 0,
        data_copy_concurrency: int | None = None,
    ) -> None:
        if cache_pool_bytes < 0:
            raise ValueError(f"cache_pool_bytes must be >= 0, got {cache_pool_bytes!r}")
        if data_copy_concurrency is not None and data_copy_concurrency < 1:
            raise ValueError(
                f"data_copy_concurrency must be None or >= 1, got {data_copy_concurrency!r}"
            )
        self.specs = dict(specs)
        self.cache_pool_bytes = int(cache_pool_bytes)
        self.data_copy_concurrency = data_copy_concurrency
        self._context: ts.Context | None = None
        self._stores: dict[Hashable, ts.TensorStore] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_context=None, _stores={}, _lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def context(self) -> ts.Context:
        """The tensorstore context shared by every array this reader opens."""
        if self._context is None:
            spec: dict[str, Any] = {"cache_pool": {"total_bytes_limit": self.cache_pool_bytes}}
            if self.data_copy_concurrency is not None:
                spec["data_copy_concurrency"] = {"limit": self.data_copy_concurrency}
            self._context = ts.Context(spec)
        return self._context

    def store(self, key: Hashable) -> ts.TensorStore:
        """Return the open array for ``key``, opening it read-only on first use."""
        store = self._stores.get(key)
        if store is not None:
            return store
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                if key not in self.specs:
                    raise KeyError(f"no tensorstore spec for {key!r}")
                try:
                    store = ts.open(self.specs[key], read=True, context=self.context).result()
                except Exception as err:
                    raise PatchReadError(f"cannot open array {key!r}: {err}") from err
                if store.rank != 5:
                    raise PatchReadError(
                        f"array {key!r} has {store.rank} dimensions; expected 5 (T, C, Z, Y, X)"
                    )
                self._stores[key] = store
        return store

    def read(
        self,
        keys: Sequence[Hashable],
        t: np.ndarray,
        channels: Sequence[Sequence[int]],
        z_range: slice,
        y0: np.ndarray,
        x0: np.ndarray,
        patch_yx: tuple[int, int],
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Read one patch per sample, all concurrently.

        Parameters
        ----------
        keys : sequence of Hashable, length B
            Array key of each sample (see ``specs``).
        t : np.ndarray of int, shape (B,)
            Frame of each sample.
        channels : sequence of sequence of int, length B
            Array channel indices of each sample, in the order of the output channels.
        z_range : slice
            Z planes to read (same for every sample).
        y0, x0 : np.ndarray of int, shape (B,)
            Top-left corner of each patch in pixels.
        patch_yx : tuple of int
            Patch height and width in pixels.
        out : np.ndarray, optional
            Preallocated ``(B, C, Z, Y, X)`` float32 output.

        Returns
        -------
        np.ndarray
            ``(B, C, Z, Y, X)`` float32 patches.

        Raises
        ------
        PatchReadError
            When a read fails; the message names the array key and the frame.
        """
        n = len(keys)
        height, width = patch_yx
        n_channels = len(channels[0]) if n else 0
        depth = len(range(*z_range.indices(1 << 30)))
        shape = (n, n_channels, depth, height, width)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        elif out.shape != shape:
            raise ValueError(f"out has shape {out.shape}; expected {shape}")
        futures = []
        for i in range(n):
            store = self.store(keys[i])
            ti, yi, xi = int(t[i]), int(y0[i]), int(x0[i])
            view = store[ti, list(channels[i]), z_range, yi : yi + height, xi : xi + width]
            futures.append(view.read())
        for i, future in enumerate(futures):
            try:
                out[i] = future.result()
            except Exception as err:
                raise PatchReadError(
                    f"cannot read array {keys[i]!r} at frame t={int(t[i])}, "
                    f"y={int(y0[i])}, x={int(x0[i])}: {err}"
                ) from err
        return out
