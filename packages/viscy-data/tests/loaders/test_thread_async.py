"""ThreadDataLoader with a dataset that starts its own reads (``start_batch``): one reader thread
keeps ``num_workers`` batches in flight, in sampler order, with errors and shutdown as usual."""

import threading

import pytest

from viscy_data import ThreadDataLoader

from .conftest import (
    AsyncReads,
    FixedBatches,
    assert_loader_threads_stopped,
    batches_of,
    new_loader_threads,
)

pytestmark = pytest.mark.timeout(60)


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
    assert_loader_threads_stopped()


def test_zero_workers_reads_synchronously_in_the_consuming_thread():
    dataset = AsyncReads()
    loader = ThreadDataLoader(dataset, batch_sampler=FixedBatches(batches_of(12, 4)))
    assert [len(b["x"]) for b in loader] == [4, 4, 4]
    assert dataset.most_in_flight == 1
    assert dataset.starting_threads == {threading.current_thread().name}
    assert not new_loader_threads()


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
    assert_loader_threads_stopped()


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
    assert_loader_threads_stopped()


def test_breaking_out_stops_the_reader_and_bounds_reads_started():
    dataset = AsyncReads(n=400)
    loader = ThreadDataLoader(
        dataset, batch_sampler=FixedBatches(batches_of(400, 4)), num_workers=2, prefetch=1
    )
    for i, _ in enumerate(loader):
        if i == 2:
            break
    assert_loader_threads_stopped()
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
