"""The threads behind ThreadDataLoader: worker and reader bodies, pinning, the exit hook.

A worker thread runs fetch tasks (``(future, indices, position)``) from a FIFO queue until a
``None`` sentinel arrives or its stop event is set; a reader thread does the same for datasets
with ``start_batch``, keeping several batches in flight. Neither holds a reference to the
iterator that started it, so dropping the iterator (or breaking out of a loop) lets it be
collected, which stops them.

At interpreter exit, every worker still running is stopped and joined (bounded by
``EXIT_JOIN_SECONDS``): a daemon thread left inside native code such as a tensorstore read would
otherwise wake up during finalization and abort the process ("terminate called without an
active exception", exit status 134).
"""

from __future__ import annotations

import atexit
import itertools
import queue
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Protocol

import torch

__all__ = ["EXIT_JOIN_SECONDS", "BatchSource", "pin_tensors", "start_thread"]


class BatchSource(Protocol):
    """What the threads need of a loader (:class:`~viscy_data.ThreadDataLoader` is one)."""

    def fetch(self, indices: Any) -> Any: ...

    def start_batch(self, indices: Any) -> Any: ...

    def finish_batch(self, handle: Any) -> Any: ...


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


def _fetch(loader: BatchSource, pin: bool, indices: Any, position: int) -> Any:
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
    tasks: queue.SimpleQueue, stop: threading.Event, loader: BatchSource, pin: bool, depth: int
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


def start_thread(
    body: Callable[..., None],
    args: tuple,
    name: str,
    stop: threading.Event,
    tasks: queue.SimpleQueue,
) -> threading.Thread:
    """Start a daemon thread running ``body(tasks, stop, *args)``, known to the exit hook."""
    thread = threading.Thread(target=body, args=(tasks, stop, *args), name=name, daemon=True)
    thread.start()
    _WORKERS[thread] = (stop, tasks)
    return thread
