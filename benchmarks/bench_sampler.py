"""Benchmark FlexibleBatchSampler: construction, first batch, one epoch and peak memory.

    uv run python benchmarks/bench_sampler.py                    # 1e6 and 1e7 rows, 3 repeats
    uv run python benchmarks/bench_sampler.py --rows 1e5 1e6 --repeats 5 --batch-size 256
    uv run python benchmarks/bench_sampler.py --smoke            # tiny sizes, seconds (CI)

The anchors table is synthetic: 8 experiments of skewed sizes, 3 conditions, hours post
infection on a 0.5 h grid over 48 h, rows shuffled. Each configuration is built and iterated
for one full epoch (every batch turned into a list of Python ints, as a DataLoader receives
it). Columns: "build" is construction; "first" the wait for batch 0 after construction;
"epoch" the time from construction to the last batch; "resume s" the wait for the first
batch after ``load_state_dict`` to the middle of the epoch (the skipped half is re-planned,
not drawn); "peak MB" the largest resident-memory growth seen by a 2 ms poller during build
and epoch. The baseline, measured in the same run, is what a DataLoader does for
``shuffle=True``: ``BatchSampler(RandomSampler(range(N)))``; "x base" is the sampler's epoch
median over the baseline's (> 1: slower than a plain shuffle). Medians over the repeats,
with (min/max).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np
import polars as pl
import psutil
from spread import spread
from torch.utils.data import BatchSampler, RandomSampler

from viscy_data import FlexibleBatchSampler

CONFIGS: dict[str, dict] = {
    "experiment+condition": {},
    "+leaky 0.1": {"leaky": 0.1},
    "+leaky +temporal": {"leaky": 0.1, "temporal_enrichment": True},
    "plain (axes off)": {"experiment_aware": False, "condition_balanced": False},
}
BASELINE = "torch RandomSampler (base)"


def make_anchors(n_rows: int, seed: int = 0) -> pl.DataFrame:
    """Synthetic anchors: 8 skewed experiments, 3 conditions, hours on a 0.5 h grid."""
    rng = np.random.default_rng(seed)
    weights = np.array([8, 6, 5, 4, 3, 2, 1, 1], dtype=float)
    experiment = rng.choice(8, n_rows, p=weights / weights.sum())
    names = pl.Series([f"exp_{i}" for i in range(8)])
    return pl.DataFrame(
        {
            "experiment": names.gather(experiment),
            "condition": pl.Series(["mock", "infected", "drug"]).gather(rng.integers(0, 3, n_rows)),
            "hours_post_infection": rng.integers(0, 97, n_rows) * 0.5,
        }
    )


class PeakRSS:
    """Largest resident-memory growth (bytes) seen while the context is open."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.process = psutil.Process()
        self.peak = 0

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss - self.start)
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakRSS:
        self.start = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss - self.start)


def measure(build: Callable[[], Iterable[list[int]]]) -> dict[str, float]:
    """Build a batch sampler and draw one epoch; seconds, milliseconds and MB."""
    with PeakRSS() as memory:
        t0 = time.perf_counter()
        sampler = build()
        t1 = time.perf_counter()
        batches = iter(sampler)
        next(batches)
        t2 = time.perf_counter()
        n = 1 + sum(1 for _ in batches)
        t3 = time.perf_counter()
    resume = float("nan")
    if hasattr(sampler, "load_state_dict"):
        sampler.load_state_dict({"epoch": 0, "batches_done": n // 2})
        t4 = time.perf_counter()
        next(iter(sampler))
        resume = time.perf_counter() - t4
    del sampler, batches
    return {
        "build": t1 - t0,
        "first": 1e3 * (t2 - t1),
        "epoch": t3 - t1,
        "resume": resume,
        "batches": n,
        "peak": memory.peak / 2**20,
    }


def _builder(name: str, table: pl.DataFrame, batch_size: int) -> Callable[[], Iterable]:
    if name == BASELINE:
        return _Baseline(table.height, batch_size)
    return _Flexible(table, batch_size, CONFIGS[name])


class _Baseline:
    def __init__(self, n_rows: int, batch_size: int) -> None:
        self.n_rows, self.batch_size = n_rows, batch_size

    def __call__(self) -> BatchSampler:
        return BatchSampler(RandomSampler(range(self.n_rows)), self.batch_size, drop_last=True)


class _Flexible:
    def __init__(self, table: pl.DataFrame, batch_size: int, options: dict) -> None:
        self.table, self.batch_size, self.options = table, batch_size, options

    def __call__(self) -> FlexibleBatchSampler:
        return FlexibleBatchSampler(self.table, batch_size=self.batch_size, **self.options)


def run_size(
    n_rows: int, repeats: int, batch_size: int, configs: Iterable[str] | None = None
) -> dict[str, list[dict[str, float]]]:
    """:func:`measure` the baseline and each named configuration on ``n_rows`` anchors.

    Parameters
    ----------
    n_rows : int
        Rows of the synthetic anchors table (:func:`make_anchors`).
    repeats : int
        Measurements per configuration, interleaved across configurations.
    batch_size : int
        Samples per batch.
    configs : iterable of str, optional
        Keys of ``CONFIGS`` (default: all); the baseline is always measured first.

    Returns
    -------
    dict
        ``{name: [measure() dict per repeat]}``, the baseline under ``BASELINE``.
    """
    table = make_anchors(n_rows)
    names = [BASELINE, *(CONFIGS if configs is None else configs)]
    results: dict[str, list[dict[str, float]]] = {}
    for _ in range(repeats):
        for name in names:
            results.setdefault(name, []).append(measure(_builder(name, table, batch_size)))
    return results


def _median_or_dash(values: list[float]) -> str:
    median = statistics.median(values)
    return "-" if median != median else f"{median:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    args = parser.parse_args(argv)
    sizes = [2_000, 20_000] if args.smoke else [int(r) for r in args.rows]
    repeats = 1 if args.smoke else args.repeats
    batch_size = 32 if args.smoke else args.batch_size
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"FlexibleBatchSampler, batch_size={batch_size}, {repeats} repeat(s), "
        f"{len(os.sched_getaffinity(0))} CPU(s), load average {load}"
    )
    header = (
        f"{'rows':>10}  {'config':<26}{'build s':>22}{'first ms':>22}"
        f"{'epoch s':>22}{'resume s':>10}{'peak MB':>9}{'x base':>8}"
    )
    print(header)
    print("-" * len(header))
    for n_rows in sizes:
        results = run_size(n_rows, repeats, batch_size)
        base_epoch = statistics.median(r["epoch"] for r in results[BASELINE])
        for name, runs in results.items():
            col = {k: [r[k] for r in runs] for k in runs[0]}
            ratio = statistics.median(col["epoch"]) / base_epoch
            print(
                f"{n_rows:>10,}  {name:<26}{spread(col['build'], '.3f'):>22}"
                f"{spread(col['first'], '.2f'):>22}{spread(col['epoch'], '.2f'):>22}"
                f"{_median_or_dash(col['resume']):>10}"
                f"{statistics.median(col['peak']):>9.0f}{ratio:>7.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
