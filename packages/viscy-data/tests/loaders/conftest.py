"""Datasets, batch samplers and thread checks shared by the ThreadDataLoader tests.

Every test here starts with the loader threads that earlier tests left behind recorded, so
:func:`new_loader_threads` and :func:`assert_loader_threads_stopped` see only its own.
"""

import gc
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import torch
from torch.utils.data import Dataset, Sampler

from viscy_data.testing import loader_threads, wait_for_no_loader_threads

# --- datasets ------------------------------------------------------------------------------------


class BatchDataset(Dataset):
    """Builds whole batches in ``__getitems__``, sleeping a jittered time so threads reorder.

    Each batch is ``{"idx": indices, "x": indices as float32}``; ``started`` counts fetches.
    """

    def __init__(self, n: int = 40, jitter_s: float = 0.0) -> None:
        self.n, self.jitter_s = n, jitter_s
        self.lock = threading.Lock()
        self.started = 0

    def __len__(self) -> int:
        return self.n

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        with self.lock:
            self.started += 1
        if self.jitter_s:
            time.sleep(self.jitter_s * ((indices[0] * 7919) % 5))
        return {"idx": torch.tensor(indices), "x": torch.tensor(indices, dtype=torch.float32)}


class AsyncReads(Dataset):
    """Reads run on a pool of its own (as tensorstore's do); records how many overlap.

    A batch takes a jittered time, so later batches often finish before earlier ones; its
    values are the indices times 10, so a test can check which batch came back.
    """

    def __init__(self, n: int = 40, delay_s: float = 0.02, fail_at: int | None = None) -> None:
        self.n, self.delay_s, self.fail_at = n, delay_s, fail_at
        self.pool = ThreadPoolExecutor(8, thread_name_prefix="storage")
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = self.started = 0
        self.starting_threads: set[str] = set()

    def __len__(self) -> int:
        return self.n

    def _read(self, indices: list[int]) -> dict[str, torch.Tensor]:
        time.sleep(self.delay_s * (1 + (indices[0] * 7919) % 4))
        with self.lock:
            self.in_flight -= 1
        if self.fail_at is not None and self.fail_at in indices:
            raise OSError(f"storage: chunk of index {self.fail_at} unreadable")
        return {"x": torch.tensor(indices) * 10}

    def start_batch(self, indices: list[int]) -> Future:
        with self.lock:
            self.started += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.starting_threads.add(threading.current_thread().name)
        return self.pool.submit(self._read, list(indices))

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return self.start_batch(indices).result()


# --- batch samplers ------------------------------------------------------------------------------


class FixedBatches(Sampler[list[int]]):
    """Yields ``batches`` rotated by the epoch; counts how often iteration started."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches, self.epoch, self.starts = batches, 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        self.starts += 1
        shift = self.epoch % len(self.batches)
        yield from self.batches[shift:] + self.batches[:shift]


class StatefulBatches(Sampler[list[int]]):
    """Seeded shuffled batches, a new order per epoch, with state ``{"epoch", "batches_done"}``."""

    def __init__(self, n: int = 40, batch_size: int = 4, seed: int = 0) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.epoch, self.batches_done = 0, 0

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self):
        order = torch.randperm(
            self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch)
        )
        batches = order[: len(self) * self.batch_size].view(len(self), self.batch_size).tolist()
        while self.batches_done < len(self):
            self.batches_done += 1
            yield batches[self.batches_done - 1]
        self.epoch, self.batches_done = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.batches_done = state["epoch"], state["batches_done"]


def batches_of(n: int = 40, size: int = 4) -> list[list[int]]:
    """A fixed shuffled split of ``range(n)`` into batches of ``size``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).tolist()
    return [order[i : i + size] for i in range(0, n, size)]


# --- loader threads ------------------------------------------------------------------------------

_EARLIER_THREADS: set[threading.Thread] = set()


@pytest.fixture(autouse=True)
def _ignore_earlier_loader_threads():
    if loader_threads():  # only then can an earlier test's iterator linger in a cycle
        gc.collect()  # closes iterators that earlier tests left in reference cycles (~0.4 s)
    _EARLIER_THREADS.clear()
    _EARLIER_THREADS.update(loader_threads())
    yield
    _EARLIER_THREADS.clear()


def new_loader_threads() -> list[threading.Thread]:
    """Loader threads alive now, less those other tests left behind before this one started."""
    return loader_threads(ignore=_EARLIER_THREADS)


def assert_loader_threads_stopped(timeout_s: float = 5.0) -> None:
    """Fail unless every loader thread this test started stops within ``timeout_s``."""
    alive = wait_for_no_loader_threads(timeout_s, ignore=_EARLIER_THREADS)
    assert not alive, f"threads still alive: {alive}"
