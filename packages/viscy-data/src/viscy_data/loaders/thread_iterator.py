"""The iterator behind ThreadDataLoader: bounded in-flight batches, in sampler order.

The consuming thread draws index lists from the sampler and submits them as futures to a FIFO
task queue; the threads of :mod:`viscy_data.loaders.workers` fetch them; the consumer waits on
the oldest future, so batches come out in sampler order.
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any, Protocol

import torch

from viscy_data.loaders.workers import BatchSource, _fetch, _work, _work_async, start_thread

__all__ = ["ThreadBatchIterator"]

_ITERATOR_IDS = itertools.count()


class _Loader(BatchSource, Protocol):
    """What the iterator reads of its loader (:class:`~viscy_data.ThreadDataLoader`)."""

    index_sampler: Any
    num_workers: int
    prefetch: int
    timeout: float
    pin_memory: bool
    batches_start_async: bool

    def _pop_resume(self) -> tuple[int, bool]: ...

    def _record(self, batches_yielded: int, sampler_state: Any) -> None: ...


class ThreadBatchIterator(Iterator[Any]):
    """One pass over a :class:`ThreadDataLoader`; see there for the contract.

    Nothing starts until the first ``next()``: the index sampler is iterated then, so a
    ``set_epoch`` call made between ``iter(loader)`` and the first batch is honoured. Use
    :meth:`close` (or ``with``) to stop the threads early; deleting the iterator does the same.

    A pending resume (see :meth:`ThreadDataLoader.load_state_dict`) is taken over by the first
    iterator to start, too.

    Parameters
    ----------
    loader : ThreadDataLoader (or any object with its attributes)
        The loader to draw indices from and fetch batches with.
    """

    def __init__(self, loader: _Loader) -> None:
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._loader = loader
        self._sampler = loader.index_sampler
        self._stateful = callable(getattr(self._sampler, "state_dict", None))
        self._index_iter: Iterator[Any] | None = None
        self._exhausted = False
        self._drawn = 0  # position in the epoch of the next index list
        self._yielded = 0  # batches of this epoch handed out, resumed ones included
        self._num_workers = loader.num_workers
        self._max_in_flight = loader.num_workers + loader.prefetch
        self._timeout = float(loader.timeout) if loader.timeout else None
        self._pin = bool(loader.pin_memory) and torch.cuda.is_available()
        self._fetch = functools.partial(_fetch, loader, self._pin)
        self._pending: deque[tuple[Future, Any]] = deque()
        self._stop = threading.Event()
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()

    def __iter__(self) -> ThreadBatchIterator:
        return self

    def __enter__(self) -> ThreadBatchIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The worker threads started by this iterator (empty until the first batch)."""
        return tuple(self._threads)

    def _start(self) -> None:
        start, skip = self._loader._pop_resume()
        self._yielded = start
        self._drawn = 0 if skip else start
        self._loader._record(self._yielded, self._sampler_state())
        self._index_iter = iter(self._sampler)
        for _ in range(start if skip else 0):
            if self._draw() is None:
                break
        name = f"ThreadDataLoader-{next(_ITERATOR_IDS)}"
        if self._num_workers and self._loader.batches_start_async:
            bodies = [(_work_async, (self._loader, self._pin, self._num_workers), "reader")]
        else:
            bodies = [
                (_work, (self._fetch,), f"worker-{rank}") for rank in range(self._num_workers)
            ]
        for body, extra, role in bodies:
            thread = start_thread(body, extra, f"{name}-{role}", self._stop, self._tasks)
            self._threads.append(thread)

    def _sampler_state(self) -> Any:
        return self._sampler.state_dict() if self._stateful else None

    def _draw(self) -> tuple[Any, Any, int] | None:
        """Next index list from the sampler with the sampler state right after drawing it."""
        if self._exhausted:
            return None
        try:
            indices = next(self._index_iter)
        except StopIteration:
            self._exhausted = True
            return None
        position = self._drawn
        self._drawn += 1
        return indices, self._sampler_state(), position

    def _fill(self) -> None:
        while len(self._pending) < self._max_in_flight:
            drawn = self._draw()
            if drawn is None:
                return
            indices, state, position = drawn
            future: Future = Future()
            self._tasks.put((future, indices, position))
            self._pending.append((future, state))

    def _take(self) -> tuple[Any, Any]:
        if self._num_workers == 0:
            drawn = self._draw()
            if drawn is None:
                raise StopIteration
            indices, state, position = drawn
            return self._fetch(indices, position), state
        self._fill()
        if not self._pending:
            raise StopIteration
        future, state = self._pending.popleft()
        try:
            batch = future.result(timeout=self._timeout)
        except TimeoutError:
            if future.done():
                raise
            raise TimeoutError(
                f"ThreadDataLoader: batch {self._yielded} was not ready after timeout="
                f"{self._loader.timeout} s; raise timeout or set it to 0 to wait forever."
            ) from None
        self._fill()
        return batch, state

    def __next__(self) -> Any:
        if self._closed:
            raise StopIteration
        try:
            if self._index_iter is None:
                self._start()
            batch, state = self._take()
        except StopIteration:
            self.close()
            raise
        except BaseException:
            self.close(timeout=0.0)
            raise
        self._yielded += 1
        self._loader._record(self._yielded, state)
        return batch

    def close(self, timeout: float = 1.0) -> None:
        """Stop the worker threads; later ``next()`` calls raise ``StopIteration``.

        Pending fetches are cancelled. Idle threads exit at once; a thread in the middle of a
        fetch exits when that fetch returns (the threads are daemons, so they never block the
        interpreter from exiting).

        Parameters
        ----------
        timeout : float
            Seconds to wait, in total, for the threads to exit (default 1.0; 0 does not wait).
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        for future, _ in self._pending:
            future.cancel()
        self._pending.clear()
        self._index_iter = None
        for _ in self._threads:
            self._tasks.put(None)
        if timeout <= 0:
            return
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout / len(self._threads))

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close(timeout=0.0)
