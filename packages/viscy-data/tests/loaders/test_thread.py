"""ThreadDataLoader: order, collation, bounded prefetch, errors, shutdown, pickling, resume."""

import gc
import importlib.util
import pickle
import subprocess
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset, IterableDataset, Subset, default_collate

from viscy_data import ThreadDataLoader
from viscy_data.loaders.collate import identity_collate

from .conftest import (
    BatchDataset,
    FixedBatches,
    assert_loader_threads_stopped,
    batches_of,
    new_loader_threads,
)

pytestmark = pytest.mark.timeout(60)


class ItemDataset(Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": torch.tensor([float(i)])}


class CorruptChunkError(OSError):
    """Stands in for a reader error, to check the type survives the thread hop."""


class FailingDataset(BatchDataset):
    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        if 13 in indices:
            raise CorruptChunkError(f"chunk of index 13 unreadable (batch {indices})")
        return super().__getitems__(indices)


class GatedDataset(BatchDataset):
    """Blocks the fetch of every batch holding an index >= ``gate_from`` until ``gate`` is set."""

    def __init__(self, gate_from: int = 0) -> None:
        super().__init__()
        self.gate, self.gate_from, self.blocked = threading.Event(), gate_from, 0

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        if max(indices) >= self.gate_from:
            with self.lock:
                self.blocked += 1
            self.gate.wait(10.0)
        return super().__getitems__(indices)


@pytest.mark.parametrize("num_workers", [0, 1, 3])
def test_batches_come_out_in_sampler_order_whatever_the_thread_timing(num_workers):
    expected = batches_of()
    dataset = BatchDataset(jitter_s=0.002)
    loader = ThreadDataLoader(
        dataset, batch_sampler=FixedBatches(expected), num_workers=num_workers
    )
    assert loader.collate_fn is identity_collate
    assert [batch["idx"].tolist() for batch in loader] == expected
    assert len(loader) == len(expected) == dataset.started
    assert_loader_threads_stopped()


def test_zero_workers_start_no_thread():
    before = threading.active_count()
    loader = ThreadDataLoader(BatchDataset(), batch_sampler=FixedBatches(batches_of()))
    it = iter(loader)
    next(it)
    assert threading.active_count() == before and it.threads == ()


def test_per_item_dataset_uses_default_collate_and_batch_size_drop_last():
    loader = ThreadDataLoader(ItemDataset(), batch_size=4, drop_last=True, num_workers=2)
    assert loader.collate_fn is default_collate
    batches = [batch["x"] for batch in loader]
    assert len(loader) == len(batches) == 2
    assert torch.equal(batches[1], torch.tensor([[4.0], [5.0], [6.0], [7.0]]))


def test_subset_of_a_per_item_dataset_is_collated():
    loader = ThreadDataLoader(Subset(ItemDataset(), [9, 8, 7]), batch_size=3, num_workers=1)
    assert loader.collate_fn is default_collate
    assert next(iter(loader))["x"].flatten().tolist() == [9.0, 8.0, 7.0]


def test_batch_size_none_yields_single_samples():
    loader = ThreadDataLoader(ItemDataset(), batch_size=None, num_workers=2)
    samples = list(loader)
    assert len(loader) == len(samples) == 10
    assert torch.equal(samples[3]["x"], torch.tensor([3.0]))


def test_shuffle_gives_a_new_permutation_each_epoch_and_len_holds():
    loader = ThreadDataLoader(
        BatchDataset(n=30),
        batch_size=4,
        shuffle=True,
        num_workers=2,
        generator=torch.Generator().manual_seed(0),
    )
    epochs = [[i for batch in loader for i in batch["idx"].tolist()] for _ in range(2)]
    assert len(loader) == 8
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(30))
    assert epochs[0] != epochs[1]


@pytest.mark.parametrize(("num_workers", "prefetch"), [(1, 0), (2, 1), (3, 2)])
def test_batches_in_flight_are_bounded_and_prefetch_happens(num_workers, prefetch):
    dataset = BatchDataset(n=64)
    loader = ThreadDataLoader(dataset, batch_size=4, num_workers=num_workers, prefetch=prefetch)
    assert loader.max_batches_in_flight == num_workers + prefetch
    ahead = []
    for consumed, _ in enumerate(loader, start=1):
        time.sleep(0.01)  # a slow training step: the threads fill every free slot meanwhile
        ahead.append(dataset.started - consumed)
    assert max(ahead) == num_workers + prefetch


def test_worker_exception_is_reraised_with_type_traceback_and_note():
    loader = ThreadDataLoader(FailingDataset(), batch_size=4, num_workers=2)
    seen = []
    with pytest.raises(CorruptChunkError, match="index 13 unreadable") as info:
        for batch in loader:
            seen.append(batch["idx"].tolist())
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "__getitems__" in frames  # the worker's own frames are kept
    assert any("while fetching batch 3 of this epoch" in note for note in info.value.__notes__)
    assert any("ThreadDataLoader-" in note for note in info.value.__notes__)
    assert_loader_threads_stopped()


def test_exception_without_threads_is_raised_unchanged_with_note():
    loader = ThreadDataLoader(FailingDataset(), batch_size=4)
    with pytest.raises(CorruptChunkError) as info:
        list(loader)
    assert "indices [12, 13, 14, 15]" in info.value.__notes__[0]


def test_breaking_out_of_the_loop_stops_the_threads():
    loader = ThreadDataLoader(BatchDataset(n=400), batch_size=4, num_workers=2)
    for i, _ in enumerate(loader):
        assert len(new_loader_threads()) == 2
        if i == 2:
            break
    assert_loader_threads_stopped()


def test_deleting_or_collecting_the_iterator_stops_the_threads():
    loader = ThreadDataLoader(BatchDataset(n=400), batch_size=4, num_workers=2)
    it = iter(loader)
    next(it)
    del it
    assert_loader_threads_stopped()
    it = iter(loader)
    next(it)
    cycle = [it]
    cycle.append(cycle)  # only the cyclic collector can free it now
    del it, cycle
    gc.collect()
    assert_loader_threads_stopped()


def test_close_during_a_blocked_fetch_returns_promptly_and_threads_finish_after():
    dataset = GatedDataset(gate_from=8)  # batches 0 and 1 pass, 2 and 3 block both threads
    loader = ThreadDataLoader(dataset, batch_size=4, num_workers=2)
    with iter(loader) as it:
        assert next(it)["idx"].tolist() == [0, 1, 2, 3]
        deadline = time.monotonic() + 5.0
        while dataset.blocked < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert dataset.blocked == 2
        start = time.monotonic()
        it.close(timeout=0.1)
        assert time.monotonic() - start < 1.0
        with pytest.raises(StopIteration):
            next(it)
    dataset.gate.set()
    assert_loader_threads_stopped()


def test_timeout_raises_when_a_batch_is_late():
    dataset = GatedDataset()
    loader = ThreadDataLoader(dataset, batch_size=4, num_workers=1, timeout=0.05)
    with pytest.raises(TimeoutError, match=r"batch 0 was not ready after timeout=0.05 s"):
        next(iter(loader))
    dataset.gate.set()
    assert_loader_threads_stopped()


def test_sampler_is_not_touched_before_the_first_batch_so_set_epoch_applies():
    sampler = FixedBatches(batches_of())
    loader = ThreadDataLoader(BatchDataset(), batch_sampler=sampler, num_workers=2)
    it = iter(loader)
    assert sampler.starts == 0 and it.threads == ()
    sampler.set_epoch(1)
    assert next(it)["idx"].tolist() == batches_of()[1]
    it.close()


def test_pin_memory_pins_with_cuda_and_is_a_silent_no_op_without():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loader = ThreadDataLoader(BatchDataset(), batch_size=4, num_workers=1, pin_memory=True)
        batches = list(loader)
    assert caught == []
    assert torch.equal(batches[0]["idx"], torch.arange(4))
    assert all(b["x"].is_pinned() == torch.cuda.is_available() for b in batches)


def test_loader_with_batch_sampler_and_collate_pickles_and_iterates_the_same():
    loader = ThreadDataLoader(
        ItemDataset(),
        batch_sampler=FixedBatches([[0, 1], [5, 6], [9]]),
        num_workers=2,
        collate_fn=default_collate,
        prefetch=1,
    )
    clone = pickle.loads(pickle.dumps(loader))
    assert (clone.num_workers, clone.prefetch, clone.collate_fn) == (2, 1, default_collate)
    assert [b["x"].flatten().tolist() for b in clone] == [[0.0, 1.0], [5.0, 6.0], [9.0]]
    list(loader)
    pickle.dumps(loader)  # still picklable after a pass: no live state is kept on it


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_workers": -1}, r"num_workers must be an integer >= 0, got -1"),
        ({"num_workers": 1.5}, r"num_workers must be an integer >= 0, got 1.5"),
        ({"prefetch": -2}, r"prefetch must be an integer >= 0, got -2"),
        ({"timeout": -1}, r"timeout must be a number of seconds >= 0 \(0: none\), got -1"),
        ({"collate_fn": "stack"}, r"collate_fn must be a callable or None .*got 'stack'"),
        ({"batch_sampler": [[0]], "batch_size": 4}, r"batch_sampler option is mutually"),
    ],
)
def test_invalid_arguments_are_rejected_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ThreadDataLoader(BatchDataset(), **kwargs)


def test_iterable_dataset_is_rejected():
    class Stream(IterableDataset):
        def __iter__(self):
            yield 1

    with pytest.raises(ValueError, match="needs a map-style dataset .* got the iterable-style"):
        ThreadDataLoader(Stream())


def test_benchmark_smoke_run_shows_two_threads_beat_none_on_a_sleeping_dataset(capsys):
    path = Path(__file__).parents[4] / "benchmarks" / "bench_thread_loader.py"
    spec = importlib.util.spec_from_file_location("bench_thread_loader", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--smoke"])
    assert "batches/s median (min/max)" in capsys.readouterr().out
    sleep_2 = next(r for r in rows if r["dataset"].startswith("sleep") and r["workers"] == 2)
    assert sleep_2["ratio"] > 1.2
    assert_loader_threads_stopped()


_EXIT_SCRIPT = """
import tensorstore as ts
from viscy_data import ThreadDataLoader

class BlocksInNativeCode:
    def __len__(self):
        return 64

    def __getitems__(self, indices):
        # Wait inside tensorstore's C++ future, as a worker does during a patch read.
        _, future = ts.Promise.new()
        try:
            future.result(timeout=0.05 * (1 + indices[0] % 7))
        except TimeoutError:
            pass
        return list(indices)

for batch in ThreadDataLoader(BlocksInNativeCode(), batch_size=4, num_workers=4):
    break
print("exiting", flush=True)
"""


@pytest.mark.parametrize("attempt", range(2))
def test_exit_right_after_breaking_out_does_not_abort(attempt):
    """Workers still inside native code at exit are joined, not left to wake in finalization.

    Without the exit hook this aborted with "terminate called without an active exception"
    (status 134) in 6 runs out of 6.
    """
    done = subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"
    assert "terminate" not in done.stderr
