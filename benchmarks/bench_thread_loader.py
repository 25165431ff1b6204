"""Benchmark: ThreadDataLoader throughput with 0, 1, 2 thread workers on GIL-releasing datasets.

    uv run python benchmarks/bench_thread_loader.py                  # 40 batches of 16, 5 repeats
    uv run python benchmarks/bench_thread_loader.py --workers 0 2 4 --sleep-ms 20 --yx 512
    uv run python benchmarks/bench_thread_loader.py --smoke          # tiny sizes, seconds (CI)

Two datasets build whole batches in ``__getitems__``:

* ``sleep``: sleeps ``--sleep-ms`` per batch (stands in for waiting on network storage; the GIL is
  released while sleeping).
* ``zarr``: reads ``batch-size`` samples of shape ``(2, YX, YX)`` uint16 from a zstd-compressed
  zarr v3 array (one chunk per sample) written to a temporary directory, through tensorstore
  (chunk cache off), then stacks and converts them to float32. "batched" issues all reads of a
  batch at once, "per-sample" one after the other.

For each dataset and worker count, one repeat builds a loader and times, with
``time.perf_counter``, everything from ``iter(loader)`` to the last batch (thread start-up
included), after one untimed warm-up pass. The table prints batches/s as median (min/max) over
the repeats and the ratio of the median to the median with 0 workers, measured in the same run
(> 1: threads are faster). ``--step-ms`` adds a sleep per consumed batch, like a training step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorstore as ts
import torch
import zarr
from torch.utils.data import Dataset

from viscy_data import ThreadDataLoader


class SleepDataset(Dataset):
    """Each batch costs ``sleep_s`` of GIL-free waiting; samples are their own indices."""

    def __init__(self, n: int, sleep_s: float) -> None:
        self.n, self.sleep_s = n, sleep_s

    def __len__(self) -> int:
        return self.n

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        time.sleep(self.sleep_s)
        return torch.tensor(indices)


class ZarrDataset(Dataset):
    """Reads one ``(C, YX, YX)`` chunk per sample from a zarr v3 array through tensorstore.

    ``sequential=False`` issues the reads of a batch at once (tensorstore decodes them in parallel
    on its own threads); ``sequential=True`` waits for each read before issuing the next, like a
    per-sample reader loop.
    """

    def __init__(self, path: Path, sequential: bool = False) -> None:
        self.sequential = sequential
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
        context = ts.Context({"cache_pool": {"total_bytes_limit": 0}})
        self.array = ts.open(spec, read=True, context=context).result()

    def __len__(self) -> int:
        return self.array.shape[0]

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        if self.sequential:
            patches = np.stack([self.array[i].read().result() for i in indices])
        else:
            reads = [self.array[i].read() for i in indices]
            patches = np.stack([read.result() for read in reads])
        return torch.from_numpy(patches.astype(np.float32))


def write_store(path: Path, n: int, yx: int, seed: int = 0) -> Path:
    """Write an ``(n, 2, yx, yx)`` uint16 zarr v3 array, one chunk per sample; return its path."""
    rng = np.random.default_rng(seed)
    array = zarr.create_array(path, shape=(n, 2, yx, yx), chunks=(1, 2, yx, yx), dtype="uint16")
    # Smooth-ish images compress like microscopy (a pure-noise array would barely compress).
    base = rng.integers(0, 4000, size=(n, 2, yx // 8, yx // 8), dtype=np.uint16)
    array[:] = np.repeat(np.repeat(base, 8, axis=2), 8, axis=3) + rng.integers(
        0, 50, size=(n, 2, yx, yx), dtype=np.uint16
    )
    return path


def time_pass(loader: ThreadDataLoader, step_s: float) -> float:
    """Seconds to take every batch of one pass over ``loader``."""
    start = time.perf_counter()
    for _ in loader:
        if step_s:
            time.sleep(step_s)
    return time.perf_counter() - start


def measure(dataset: Dataset, args: argparse.Namespace, workers: int) -> tuple[float, float, float]:
    """(median, min, max) batches/s over ``args.repeats`` passes, after one warm-up pass."""
    loader = ThreadDataLoader(
        dataset, batch_size=args.batch_size, num_workers=workers, prefetch=args.prefetch
    )
    time_pass(loader, args.step_ms / 1000)
    rates = [len(loader) / time_pass(loader, args.step_ms / 1000) for _ in range(args.repeats)]
    return statistics.median(rates), min(rates), max(rates)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=40, help="batches per pass")
    parser.add_argument("--batch-size", type=int, default=16, help="samples per batch")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="thread counts")
    parser.add_argument("--prefetch", type=int, default=2, help="ThreadDataLoader prefetch")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per setting")
    parser.add_argument("--sleep-ms", type=float, default=10.0, help="sleep dataset: ms per batch")
    parser.add_argument("--yx", type=int, default=256, help="zarr dataset: patch side in pixels")
    parser.add_argument("--step-ms", type=float, default=0.0, help="consumer sleep per batch")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batches, args.batch_size, args.repeats = 6, 4, 2
        args.sleep_ms, args.yx, args.workers = 5.0, 32, [0, 2]
    if 0 not in args.workers:
        args.workers = [0, *args.workers]  # the baseline of the ratio column
    return args


def main(argv: list[str] | None = None) -> list[dict[str, float | int | str]]:
    """Run the benchmark, print the table and return its rows."""
    args = parse_args(argv)
    n = args.batches * args.batch_size
    rows: list[dict[str, float | int | str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = write_store(Path(tmp) / "s.zarr", n, args.yx)
        datasets = {
            f"sleep {args.sleep_ms:g} ms": SleepDataset(n, args.sleep_ms / 1000),
            f"zarr {args.yx} batched": ZarrDataset(store),
            f"zarr {args.yx} per-sample": ZarrDataset(store, sequential=True),
        }
        print(
            f"ThreadDataLoader: {args.batches} batches of {args.batch_size}, prefetch="
            f"{args.prefetch}, step {args.step_ms:g} ms, {args.repeats} repeats, "
            f"torch {torch.__version__}"
        )
        print(f"{'dataset':<22} {'workers':>7} {'batches/s median (min/max)':>30} {'ratio':>7}")
        for name, dataset in datasets.items():
            baseline = None
            for workers in sorted(set(args.workers)):
                median, low, high = measure(dataset, args, workers)
                baseline = median if workers == 0 else baseline
                ratio = median / baseline
                rows.append({"dataset": name, "workers": workers, "median": median, "ratio": ratio})
                spread = f"{median:8.1f} ({low:.1f}/{high:.1f})"
                print(f"{name:<22} {workers:>7} {spread:>30} {ratio:>6.2f}x")
    return rows


if __name__ == "__main__":
    main()
