"""Benchmark: one reader thread (``start_batch``) vs worker threads, next to the read ceiling.

    uv run python benchmarks/bench_reader_modes.py              # Z = 1, 2 in flight, 30 batches
    uv run python benchmarks/bench_reader_modes.py --z 5 --batches 12 --in-flight 2 3
    uv run python benchmarks/bench_reader_modes.py --smoke      # tiny sizes, seconds (CI)

The same batches of one epoch of the loader benchmark's data (``bench_loader.py``: two
experiments of 512 x 512 FOVs, one ``(1, 1, Z, Y, X)`` chunk per frame and channel, 2 x Z x
160 x 160 patches, anchors and positives) are read ``--repeats`` times, the modes interleaved:

* ``ceiling``: plain tensorstore, one ``ts.stack`` view per batch built before the clock starts,
  ``--in-flight`` batches of reads outstanding (``read_ceiling.py``).
* ``reader thread``: ``ThreadDataLoader(num_workers=N)`` over the dataset, which has
  ``start_batch``: one thread keeps N batches started (the default for dynaclr).
* ``worker threads``: the same loader over a wrapper that hides ``start_batch``, so N threads
  each call ``__getitems__`` and wait for their batch (the loader's mode for other datasets).

Each pass is timed whole, from the start to the last batch. The table prints samples/s
(anchor + positive) as median (min/max) and the ratio of the medians to the ceiling's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np
from bench_loader import make_datamodule, write_data
from read_ceiling import ReadCeiling
from torch.utils.data import Dataset

from viscy_data import ThreadDataLoader


class GetitemsOnly(Dataset):
    """Forwards ``__len__`` and ``__getitems__`` only, so the loader uses worker threads."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, positions):
        return self.dataset.__getitems__(positions)


def ceiling_pass(dataset, batches: list[np.ndarray], in_flight: int) -> float:
    """Samples/s reading prebuilt stacked views of ``batches``, ``in_flight`` outstanding."""
    stacks = []
    for positions in batches:
        rows = np.concatenate([dataset.rows[positions], dataset.positive_rows(positions)])
        stacks.append(dataset.reader.view(dataset.patch_request(rows)))
    return ReadCeiling.run(stacks, in_flight, steady=False)


def loader_pass(dataset, batches: list[np.ndarray], workers: int) -> float:
    """Samples/s of a ThreadDataLoader over ``dataset`` delivering ``batches``."""
    loader = ThreadDataLoader(
        dataset, batch_sampler=[b.tolist() for b in batches], num_workers=workers
    )
    start = time.perf_counter()
    for _ in loader:
        pass
    return sum(b.size for b in batches) / (time.perf_counter() - start)


def measure(args: argparse.Namespace, root: Path) -> list[tuple[int, str, list[float]]]:
    yaml = write_data(root, args.z, args)
    dm = make_datamodule(yaml, args.z, args.patch, args.batch_size, 0)
    dataset = dm.train_dataset
    sampler = dm.train_dataloader().batch_sampler.sampler
    sampler.set_epoch(0)
    dataset.set_epoch(0)
    batches = [np.asarray(b, dtype=np.int64) for b in islice(iter(sampler), args.batches)]
    modes = {
        "ceiling": lambda n: ceiling_pass(dataset, batches, n),
        "reader thread (start_batch)": lambda n: loader_pass(dataset, batches, n),
        "worker threads (__getitems__)": lambda n: loader_pass(GetitemsOnly(dataset), batches, n),
    }
    results = []
    for n in args.in_flight:
        for run in modes.values():  # untimed warm-up
            run(n)
        rates: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.repeats):
            for name, run in modes.items():
                rates[name].append(run(n))
        results += [(n, name, values) for name, values in rates.items()]
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--z", type=int, default=1, help="planes per patch")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[2], help="num_workers")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", type=Path, help="write (and reuse) the data here")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    args = parser.parse_args(argv)
    args.image_size, args.frames, args.fovs_per_well, args.cells_per_fov = 512, 20, 2, 16
    args.patch, args.chunk_yx = 160, None
    if args.smoke:
        args.image_size, args.frames, args.fovs_per_well, args.cells_per_fov = 96, 6, 1, 4
        args.patch, args.batch_size, args.batches, args.repeats = 32, 8, 3, 1
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args, (args.data_dir or Path(tmp)) / f"z{args.z}")
    patch = f"2x{args.z}x{args.patch}x{args.patch}"
    print(f"{patch} cold, {args.batches} batches of {args.batch_size}, {args.repeats} passes")
    print(f"{'in flight':>9}  {'mode':<30}{'samples/s median (min/max)':>30}{'/ ceiling':>11}")
    ceilings = {n: statistics.median(v) for n, name, v in results if name == "ceiling"}
    for n, name, values in results:
        median = statistics.median(values)
        cell = f"{median:.0f} ({min(values):.0f}/{max(values):.0f})"
        print(f"{n:>9}  {name:<30}{cell:>30}{median / ceilings[n]:>11.2f}")


if __name__ == "__main__":
    main()
