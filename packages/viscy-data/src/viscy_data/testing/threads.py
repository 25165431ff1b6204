"""Which ThreadDataLoader threads are alive: for tests that check a loader stops its threads.

Every thread an iterator of :class:`~viscy_data.ThreadDataLoader` starts is named
``ThreadDataLoader-<n>-<role>`` (``worker-<k>`` or ``reader``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

__all__ = ["LOADER_THREAD_PREFIX", "loader_threads", "wait_for_no_loader_threads"]

LOADER_THREAD_PREFIX = "ThreadDataLoader-"
"""The start of the name of every thread a ThreadDataLoader iterator starts."""


def loader_threads(ignore: Iterable[threading.Thread] = ()) -> list[threading.Thread]:
    """The ThreadDataLoader threads of this process that are alive now.

    Parameters
    ----------
    ignore : iterable of threading.Thread, optional
        Threads to leave out, e.g. those alive before a test started.

    Returns
    -------
    list of threading.Thread
        The live threads whose name starts with ``"ThreadDataLoader-"``, less ``ignore``.

    Examples
    --------
    >>> from viscy_data import ThreadDataLoader
    >>> before = loader_threads()
    >>> iterator = iter(ThreadDataLoader(list(range(8)), batch_size=2, num_workers=2))
    >>> _ = next(iterator)
    >>> len(loader_threads(ignore=before))
    2
    >>> iterator.close()
    >>> wait_for_no_loader_threads(ignore=before)
    []
    """
    skip = set(ignore)
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith(LOADER_THREAD_PREFIX) and t.is_alive() and t not in skip
    ]


def wait_for_no_loader_threads(
    timeout: float = 5.0, ignore: Iterable[threading.Thread] = ()
) -> list[threading.Thread]:
    """Wait until no ThreadDataLoader thread (less ``ignore``) is alive, or ``timeout`` passes.

    Parameters
    ----------
    timeout : float, default 5.0
        Seconds to wait at most.
    ignore : iterable of threading.Thread, optional
        Threads to leave out, as in :func:`loader_threads`.

    Returns
    -------
    list of threading.Thread
        The loader threads still alive at the end: empty when they all stopped in time, so a
        test writes ``assert wait_for_no_loader_threads() == []``.
    """
    skip = set(ignore)
    deadline = time.monotonic() + timeout
    while (alive := loader_threads(skip)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return alive
