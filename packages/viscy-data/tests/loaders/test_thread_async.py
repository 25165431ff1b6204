"""ThreadDataLoader with a dataset that starts its own reads (``start_batch``): one reader thread
keeps ``num_workers`` batches in flight, in sampler order, with errors and shutdown as usual."""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import torch
from torch.utils.data import Dataset

from viscy_data import ThreadDataLoader

from .test_thread import (  # noqa: F401  (fixture)
    FixedBatches,
    _ignore_earlier_loader_threads,
    batches_of,
    loader_threads,
    wait_for_no_loader_threads,
)

pytestmark = pytest.mark.timeout(60)


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


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_batches_come_in_sampler_order_with_workers_reads_in_flight(workers):
    batches = batches_of(40, 4)
    dataset = AsyncReads()
    loader = ThreadDataLoader(dataset, batch_sampler=FixedBatches(batches), num_workers=workers)
    got = [batch["x"].tolist() for batch in loader]
    assert got == [[i * 10 for i in b] for b in batches]
    assert dataset.most_in_flight == workers, "one reader keeps exactly num_workers started"
    assert len(dataset.starting_threads) == 1 and next(iter(dataset.starting_threads)).endswith(
        "-reader"
    )
    wait_for_no_loader_threads()


def test_zero_workers_reads_synchronously_in_the_consuming_thread():
    dataset = AsyncReads()
    loader = ThreadDataLoader(dataset, batch_sampler=FixedBatches(batches_of(12, 4)))
    assert [len(b["x"]) for b in loader] == [4, 4, 4]
    assert dataset.most_in_flight == 1
    assert dataset.starting_threads == {threading.current_thread().name}
    assert not loader_threads()


def test_read_error_surfaces_with_its_batch_and_stops_the_reader():
    batches = batches_of(40, 4)
    failing = next(i for i, b in enumerate(batches) if 13 in b)
    dataset = AsyncReads(fail_at=13)
    loader = ThreadDataLoader(dataset, batch_sampler=FixedBatches(batches), num_workers=2)
    seen = []
    with pytest.raises(OSError, match="chunk of index 13 unreadable") as info:
        for batch in loader:
            seen.append(batch["x"].tolist())
    assert seen == [[i * 10 for i in b] for b in batches[:failing]]
    notes = "\n".join(info.value.__notes__)
    assert f"while fetching batch {failing} of this epoch" in notes
    assert "-reader'" in notes
    wait_for_no_loader_threads()


def test_error_when_starting_a_batch_surfaces_too():
    class BadStart(AsyncReads):
        def start_batch(self, indices):
            if 5 in indices:
                raise IndexError(f"position 5 is not valid: {indices}")
            return super().start_batch(indices)

    loader = ThreadDataLoader(
        BadStart(), batch_sampler=FixedBatches([[0, 1], [5, 6]]), num_workers=2
    )
    iterator = iter(loader)
    assert next(iterator)["x"].tolist() == [0, 10]
    with pytest.raises(IndexError, match="position 5 is not valid"):
        next(iterator)
    wait_for_no_loader_threads()


def test_breaking_out_stops_the_reader_and_bounds_reads_started():
    dataset = AsyncReads(n=400)
    loader = ThreadDataLoader(
        dataset, batch_sampler=FixedBatches(batches_of(400, 4)), num_workers=2, prefetch=1
    )
    for i, _ in enumerate(loader):
        if i == 2:
            break
    wait_for_no_loader_threads()
    # 3 handed out + at most num_workers + prefetch more drawn before the loop stopped
    assert dataset.started <= 3 + 2 + 1


def test_resume_state_counts_consumed_batches():
    batches = batches_of(40, 4)
    loader = ThreadDataLoader(AsyncReads(), batch_sampler=FixedBatches(batches), num_workers=2)
    iterator = iter(loader)
    first = [next(iterator)["x"].tolist() for _ in range(3)]
    state = loader.state_dict()
    iterator.close()
    assert state["batches_yielded"] == 3
    again = ThreadDataLoader(AsyncReads(), batch_sampler=FixedBatches(batches), num_workers=2)
    again.load_state_dict(state)
    rest = [b["x"].tolist() for b in again]
    assert first + rest == [[i * 10 for i in b] for b in batches]
