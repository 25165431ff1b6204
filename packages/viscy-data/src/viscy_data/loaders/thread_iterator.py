"""The iterator behind ThreadDataLoader: worker threads, bounded in-flight batches, sampler order.

The consuming thread draws index lists from the sampler and submits them as futures to a FIFO
task queue; daemon worker threads fetch them; the consumer waits on the oldest future, so batches
come out in sampler order. The workers hold no reference to the iterator, so dropping it (or
breaking out of a loop) lets it be collected, which stops them.

At interpreter exit, every worker still running is stopped and joined (bounded by
``EXIT_JOIN_SECONDS``): a daemon thread left inside native code such as a tensorstore read would
otherwise wake up during finalization and abort the process ("terminate called without an
active exception", exit status 134).
"""

from __future__ import annotations

import atexit
import functools
import itertools
import queue
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from viscy_data.loaders.thread import ThreadDataLoader

__all__ = ["ThreadBatchIterator", "pin_tensors"]

_ITERATOR_IDS = itertools.count()
EXIT_JOIN_SECONDS = 60.0
# Worker thread -> (its stop event, its task queue), for the exit hook; entries go with the thread.
_WORKERS: weakref.WeakKeyDictionary[threading.Thread, tuple[threading.Event, queue.SimpleQueue]]
_WORKERS = weakref.WeakKeyDictionary()


@atexit.register
def _stop_workers_at_exit() -> None:
    """Stop every live worker thread and wait for the fetches in progress to return."""
    workers = [(thread, *parts) for thread, parts in list(_WORKERS.items()) if thread.is_alive()]
    for _, stop, tasks in workers:
        stop.set()
        tasks.put(None)
    deadline = time.monotonic() + EXIT_JOIN_SECONDS
    for thread, _, _ in workers:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread, _, _ in workers if thread.is_alive()]
    if stuck:
        print(
            f"ThreadDataLoader: worker threads {stuck} were still fetching {EXIT_JOIN_SECONDS} s "
            "after the interpreter started to exit; the process may abort.",
            file=sys.stderr,
        )


def pin_tensors(data: Any) -> Any:
    """Return ``data`` with every tensor in it copied to pinned (page-locked) host memory.

    Walks dicts, lists, tuples and named tuples; other objects with a ``pin_memory()`` method are
    pinned through it; everything else is returned as is. Needs CUDA: callers check
    ``torch.cuda.is_available()`` first.
    """
    if isinstance(data, torch.Tensor):
        return data.pin_memory()
    if isinstance(data, Mapping):
        pinned = {key: pin_tensors(value) for key, value in data.items()}
        try:
            return type(data)(pinned)
        except TypeError:
            return pinned
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(pin_tensors(item) for item in data))
    if isinstance(data, list | tuple):
        return type(data)(pin_tensors(item) for item in data)
    if callable(getattr(data, "pin_memory", None)):
        return data.pin_memory()
    return data


def _preview(indices: Any, limit: int = 8) -> str:
    try:
        items = list(itertools.islice(iter(indices), limit + 1))
    except TypeError:
        return repr(indices)
    text = ", ".join(repr(i) for i in items[:limit])
    return f"[{text}, ...]" if len(items) > limit else f"[{text}]"


def _fetch(loader: ThreadDataLoader, pin: bool, indices: Any, position: int) -> Any:
    """Read and collate one batch; annotate any exception with the batch it was fetching."""
    try:
        batch = loader.fetch(indices)
        return pin_tensors(batch) if pin else batch
    except BaseException as exc:
        _annotate(exc, indices, position)
        raise


def _annotate(exc: BaseException, indices: Any, position: int) -> BaseException:
    exc.add_note(
        f"ThreadDataLoader: raised in thread {threading.current_thread().name!r} while "
        f"fetching batch {position} of this epoch, indices {_preview(indices)}."
    )
    return exc


def _run_task(task: tuple[Future, Any, int], fetch: Callable[[Any, int], Any]) -> None:
    future, indices, position = task
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fetch(indices, position)
    except BaseException as exc:  # forwarded to the consuming thread, which re-raises it
        future.set_exception(exc)
    else:
        future.set_result(result)


def _work(
    tasks: queue.SimpleQueue, stop: threading.Event, fetch: Callable[[Any, int], Any]
) -> None:
    """Worker thread body: run fetch tasks until a ``None`` sentinel arrives or ``stop`` is set.

    It holds no reference to the iterator, so dropping the iterator lets it be collected.
    """
    while not stop.is_set():
        task = tasks.get()
        if task is None or stop.is_set():
            return
        _run_task(task, fetch)
        del task  # do not keep the last batch alive while waiting for the next task


def _work_async(
    tasks: queue.SimpleQueue, stop: threading.Event, loader: ThreadDataLoader, pin: bool, depth: int
) -> None:
    """Reader thread body for datasets with ``start_batch``: keep ``depth`` batches in flight.

    Tasks are started in order (``dataset.start_batch``, which returns at once) until ``depth``
    are in flight, then the oldest is finished (its ``result()``, collation, pinning) and handed
    to its future, and the next task is started; so the dataset's own threads (tensorstore's)
    always have ``depth`` batches to work on and a single Python thread drives them.
    """
    started: deque[tuple[Future, Any, Any, int]] = deque()
    done = False
    while not stop.is_set():
        while not done and len(started) < depth:
            try:
                task = tasks.get() if not started else tasks.get_nowait()
            except queue.Empty:
                break
            if task is None or stop.is_set():
                done = True
                break
            future, indices, position = task
            del task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                handle = loader.start_batch(indices)
            except BaseException as exc:  # forwarded to the consuming thread
                future.set_exception(_annotate(exc, indices, position))
                continue
            started.append((future, handle, indices, position))
        if not started:
            return
        future, handle, indices, position = started.popleft()
        batch = None
        try:
            batch = loader.finish_batch(handle)
            batch = pin_tensors(batch) if pin else batch
        except BaseException as exc:
            future.set_exception(_annotate(exc, indices, position))
        else:
            future.set_result(batch)
        del future, handle, batch  # do not keep the batch alive while the next one reads


class ThreadBatchIterator(Iterator[Any]):
    """One pass over a :class:`ThreadDataLoader`; see there for the contract.

    Nothing starts until the first ``next()``: the index sampler is iterated then, so a
    ``set_epoch`` call made between ``iter(loader)`` and the first batch is honoured. Use
    :meth:`close` (or ``with``) to stop the threads early; deleting the iterator does the same.

    A pending resume (see :meth:`ThreadDataLoader.load_state_dict`) is taken over by the first
    iterator to start, too.

    Parameters
    ----------
    loader : ThreadDataLoader
        The loader to draw indices from and fetch batches with.
    """

    def __init__(self, loader: ThreadDataLoader) -> None:
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
            thread = threading.Thread(
                target=body,
                args=(self._tasks, self._stop, *extra),
                name=f"{name}-{role}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
            _WORKERS[thread] = (self._stop, self._tasks)

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
