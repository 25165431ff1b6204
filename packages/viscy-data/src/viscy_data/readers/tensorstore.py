"""Step 4: batched, asynchronous patch reads through one shared tensorstore context."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorstore as ts

from viscy_data.readers.missing_chunks import (
    MISSING_CHUNKS,
    MissingChunksError,
    MissingChunksWarning,
    missing_chunks_message,
    missing_planes,
    strict_spec,
)
from viscy_data.readers.patches import PatchReadError, PatchRequest, PendingPatches, _where

__all__ = ["PatchReader"]


class PatchReader:
    """Read many ``(C, Z, Y, X)`` patches from many arrays at once.

    One reader holds one tensorstore ``Context`` for every store of a run, so the chunk cache
    is a single global budget (off by default: random patches rarely hit it). Arrays are
    opened lazily, read-only, the first time a key is read, and kept open for later batches.
    The patches of a batch are stacked into one tensorstore view and read with one call, so
    tensorstore decodes every chunk the batch needs concurrently on its own thread pool (a
    chunk shared by several patches is decoded once) and copies each patch straight into the
    output: no per-patch future, intermediate array or copy in Python.

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
    missing_chunks : {"warn", "error"}, default "warn"
        A read that needs a chunk file the array lacks: ``"warn"`` once per array naming the
        frames and channels that lack chunks (:class:`MissingChunksWarning`), then read them
        as zeros; ``"error"`` raises :class:`MissingChunksError` (a :class:`PatchReadError`).
        See :mod:`viscy_data.readers.missing_chunks`; reads of complete arrays cost the same.
    labels : Mapping[Hashable, str], optional
        How messages name each array (e.g. ``"experiment 'a', FOV 'A/1/0' of plate.zarr"``).
    channel_names : Mapping[Hashable, Sequence[str]], optional
        Channel names of each array, for messages.

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
        missing_chunks: str = "warn",
        labels: Mapping[Hashable, str] | None = None,
        channel_names: Mapping[Hashable, Sequence[str]] | None = None,
    ) -> None:
        if missing_chunks not in MISSING_CHUNKS:
            raise ValueError(
                f"missing_chunks must be one of {list(MISSING_CHUNKS)}, got {missing_chunks!r}"
            )
        if cache_pool_bytes < 0:
            raise ValueError(f"cache_pool_bytes must be >= 0, got {cache_pool_bytes!r}")
        if data_copy_concurrency is not None and data_copy_concurrency < 1:
            raise ValueError(
                f"data_copy_concurrency must be None or >= 1, got {data_copy_concurrency!r}"
            )
        self.specs = dict(specs)
        self.cache_pool_bytes = int(cache_pool_bytes)
        self.data_copy_concurrency = data_copy_concurrency
        self.missing_chunks = missing_chunks
        self.labels = dict(labels or {})
        self.channel_names = dict(channel_names or {})
        self._filled: set[Hashable] = set()  # arrays found lacking chunks, read with zeros
        self._context: ts.Context | None = None
        self._stores: dict[Hashable, ts.TensorStore] = {}
        self._sources: dict[tuple, ts.TensorStore] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_context=None, _stores={}, _sources={}, _lock=None)
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
                spec = self.specs[key] if key in self._filled else strict_spec(self.specs[key])
                try:
                    store = ts.open(spec, read=True, context=self.context).result()
                except Exception as err:
                    raise PatchReadError(f"cannot open array {key!r}: {err}") from err
                if store.rank != 5:
                    raise PatchReadError(
                        f"array {key!r} has {store.rank} dimensions; expected 5 (T, C, Z, Y, X)"
                    )
                # zarr arrays are resizable, so their upper bounds are implicit and reading past
                # them would silently return fill values; make every bound explicit.
                store = store[ts.d[:].mark_bounds_implicit[False]]
                self._stores[key] = store
        return store

    def found_missing(self, key: Hashable, err: BaseException) -> None:
        """A read of ``key`` failed on a missing chunk: raise, or warn once and read zeros.

        Called by :meth:`PendingPatches.result`, which then reads the batch again.

        Raises
        ------
        MissingChunksError
            With ``missing_chunks="error"``, naming the array, channels and frames.
        """
        store = self.store(key)
        with self._lock:
            if key in self._filled:  # another thread got here first
                return
            message = missing_chunks_message(
                self.labels.get(key) or f"array {key!r}",
                missing_planes(store),
                self.channel_names.get(key),
                err,
            )
            if self.missing_chunks == "error":
                raise MissingChunksError(
                    f"{message}. Restore the chunk files, leave the FOV out, or set "
                    "missing_chunks to 'warn' to read them as zeros."
                ) from err
            warnings.warn(
                f"{message}; they read as zeros (missing_chunks='warn'; set it to 'error' to "
                "stop instead). Said once for this array.",
                MissingChunksWarning,
                stacklevel=2,
            )
            self._filled.add(key)
            self._stores.pop(key, None)
            for cached in [k for k in self._sources if k[0] == key]:
                del self._sources[cached]

    def _window_source(self, key: Hashable, channels: tuple[int, ...], z_range: slice):
        """``(T, C, Z, Y, X)`` float32 view of ``key`` restricted to ``channels`` and ``z_range``.

        Built once per (array, channels, planes) and reused, so a sample only slices T, Y, X.
        Contiguous increasing channels become a slice (cheaper than an index array).
        """
        cache_key = (key, channels, z_range.start, z_range.stop, z_range.step)
        source = self._sources.get(cache_key)
        if source is None:
            store = self.store(key)
            first = channels[0] if channels else 0
            if channels == tuple(range(first, first + len(channels))):
                source = store[:, first : first + len(channels), z_range]
            else:
                source = store[:, list(channels), z_range]
            if source.dtype != ts.float32:
                source = ts.cast(source, ts.float32)
            self._sources[cache_key] = source
        return source

    def read(
        self,
        keys: Sequence[Hashable],
        t: np.ndarray,
        channels: Sequence[Sequence[int]],
        z_range: slice,
        y0: np.ndarray,
        x0: np.ndarray,
        patch_yx: tuple[int, int],
    ) -> np.ndarray:
        """Read one patch per sample, all concurrently.

        The patches are stacked into one tensorstore view and read with a single call, so
        tensorstore decodes every chunk of the batch concurrently (a chunk that several
        patches need is decoded once) and copies straight into the output array.

        Parameters
        ----------
        keys : sequence of Hashable, length B
            Array key of each sample (see ``specs``).
        t : np.ndarray of int, shape (B,)
            Frame of each sample.
        channels : sequence of sequence of int, length B
            Array channel indices of each sample, in the order of the output channels; every
            sample has the same number of channels.
        z_range : slice
            Z planes to read (same for every sample): ``slice(start, stop)`` with integer
            bounds.
        y0, x0 : np.ndarray of int, shape (B,)
            Top-left corner of each patch in pixels.
        patch_yx : tuple of int
            Patch height and width in pixels.

        Returns
        -------
        np.ndarray
            ``(B, C, Z, Y, X)`` float32 patches, a new array.

        Raises
        ------
        PatchReadError
            When a patch lies outside its array (frame, channel, planes or window) or a read
            fails; the message names the array key, the frame, the corner and the array shape.
        """
        return self.read_async(keys, t, channels, z_range, y0, x0, patch_yx).result()

    def read_async(
        self,
        keys: Sequence[Hashable],
        t: np.ndarray,
        channels: Sequence[Sequence[int]],
        z_range: slice,
        y0: np.ndarray,
        x0: np.ndarray,
        patch_yx: tuple[int, int],
    ) -> PendingPatches:
        """Start :meth:`read` and return at once; ``.result()`` waits for the patches.

        Lets the caller do other work (or start another read) while tensorstore decodes.
        Arguments, return value of ``.result()`` and errors are those of :meth:`read`; a
        patch outside its array raises here, before anything is read; a failed read raises
        from ``.result()``.
        """
        request = PatchRequest(keys, t, channels, z_range, y0, x0, patch_yx)
        views, where, shape = self._views(*request)
        if not views:
            return PendingPatches(np.empty(shape, dtype=np.float32))
        return PendingPatches(None, ts.stack(views).read(), views, where, self, request)

    def view(self, request: PatchRequest) -> ts.TensorStore:
        """The patches of ``request`` as one checked, unread ``(B, C, Z, Y, X)`` float32 view.

        What :meth:`read_async` reads; for benchmarks and callers that schedule reads
        themselves (``view.read()``). Raises like :meth:`read` for a patch outside its array.
        """
        views, _, shape = self._views(*request)
        return ts.stack(views) if views else ts.array(np.empty(shape, dtype=np.float32))

    def _views(self, keys, t, channels, z_range, y0, x0, patch_yx) -> tuple[list, list, tuple]:
        """Checked per-patch views (not read), their ``(key, t, y, x)`` and the batch shape."""
        height, width = (int(v) for v in patch_yx)
        n = len(keys)
        t = np.asarray(t, dtype=np.int64).reshape(n)
        y0 = np.asarray(y0, dtype=np.int64).reshape(n)
        x0 = np.asarray(x0, dtype=np.int64).reshape(n)
        if not (
            isinstance(z_range.start, int)
            and isinstance(z_range.stop, int)
            and z_range.step in (None, 1)
        ):
            raise ValueError(
                f"z_range must be a slice of two integers with step 1 or None, got {z_range!r}"
            )
        depth = max(0, z_range.stop - z_range.start)
        n_channels = len(channels[0]) if n else 0
        shape = (n, n_channels, depth, height, width)
        if n == 0:
            return [], [], shape
        groups = _group_keys(keys, channels)
        for key, chans, members in groups:
            self._check_bounds(key, chans, z_range, t[members], y0[members], x0[members], shape)
        sources = {
            (key, chans): self._window_source(key, chans, z_range) for key, chans, _ in groups
        }
        t_list, y_list, x_list = t.tolist(), y0.tolist(), x0.tolist()
        views = [
            sources[key, tuple(chans)][ti, :, :, yi : yi + height, xi : xi + width].translate_to[0]
            for key, chans, ti, yi, xi in zip(keys, channels, t_list, y_list, x_list)
        ]
        return views, list(zip(keys, t_list, y_list, x_list)), shape

    def _check_bounds(
        self,
        key: Hashable,
        channels: tuple[int, ...],
        z_range: slice,
        t: np.ndarray,
        y0: np.ndarray,
        x0: np.ndarray,
        shape: tuple[int, ...],
    ) -> None:
        """Raise :class:`PatchReadError` for the first patch of ``key`` outside the array."""
        n_frames, n_channels, n_z, n_y, n_x = self.store(key).shape
        _, n_wanted, depth, height, width = shape
        if len(channels) != n_wanted:
            raise PatchReadError(
                f"array {key!r}: {len(channels)} channels {list(channels)} asked for where the "
                f"batch's first sample has {n_wanted}; every sample needs the same number"
            )
        bad_channels = [c for c in channels if not 0 <= c < n_channels]
        if bad_channels:
            raise PatchReadError(
                f"array {key!r} has {n_channels} channels; channel index {bad_channels[0]} "
                f"is outside it (channels asked for: {list(channels)})"
            )
        if not (0 <= z_range.start and z_range.stop <= n_z and depth > 0):
            raise PatchReadError(
                f"array {key!r} has {n_z} Z planes; z_range {z_range.start}:{z_range.stop} is "
                "empty or outside it"
            )
        outside = (t < 0) | (t >= n_frames) | (y0 < 0) | (y0 + height > n_y)
        outside |= (x0 < 0) | (x0 + width > n_x)
        if outside.any():
            i = int(np.argmax(outside))
            raise PatchReadError(
                f"{_where(key, int(t[i]), int(y0[i]), int(x0[i]))}: a {height}x{width} patch "
                f"there lies outside the array of shape (T, C, Z, Y, X) = "
                f"{(n_frames, n_channels, n_z, n_y, n_x)}"
            )


def _group_keys(
    keys: Sequence[Hashable], channels: Sequence[Sequence[int]]
) -> list[tuple[Hashable, tuple[int, ...], np.ndarray]]:
    """``(key, channels, sample positions)`` for each distinct (key, channels) of a batch."""
    members: dict[tuple, list[int]] = {}
    for i, pair in enumerate(zip(keys, map(tuple, channels))):
        members.setdefault(pair, []).append(i)
    return [(key, chans, np.asarray(rows)) for (key, chans), rows in members.items()]
