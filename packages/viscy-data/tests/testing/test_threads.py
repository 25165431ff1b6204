"""loader_threads sees exactly the live ThreadDataLoader threads; the wait reports stragglers."""

import threading

from viscy_data import ThreadDataLoader
from viscy_data.testing import loader_threads, wait_for_no_loader_threads


def test_loader_threads_are_those_of_running_iterators_less_the_ignored():
    before = loader_threads()
    loader = ThreadDataLoader(list(range(40)), batch_size=4, num_workers=3)
    iterator = iter(loader)
    next(iterator)
    started = loader_threads(ignore=before)
    assert sorted(t.name.split("-", 2)[2] for t in started) == ["worker-0", "worker-1", "worker-2"]
    assert set(started) == set(iterator.threads) and len(started) == 3
    assert loader_threads(ignore=[*before, *started]) == []
    iterator.close()
    assert wait_for_no_loader_threads(ignore=before) == []
    assert all(not t.is_alive() for t in started)


def test_other_threads_are_not_loader_threads():
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="storage-0", daemon=True)
    other.start()
    try:
        assert other not in loader_threads()
    finally:
        release.set()
        other.join()


def test_the_wait_returns_the_threads_still_alive_after_the_timeout():
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="ThreadDataLoader-test-worker-0")
    stuck.start()
    try:
        assert wait_for_no_loader_threads(timeout=0.05) == [stuck]
        assert wait_for_no_loader_threads(timeout=0.05, ignore=[stuck]) == []
    finally:
        release.set()
        stuck.join()
    assert stuck not in wait_for_no_loader_threads(timeout=0.05)
