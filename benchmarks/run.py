"""Run every benchmark of issue 7 and print one table: loader, index, sampler, loss, train step.

    uv run python benchmarks/run.py                     # full run, under 10 minutes on 2 cores
    uv run python benchmarks/run.py --smoke             # tiny sizes, well under a minute (CI)
    uv run python benchmarks/run.py --sections loader --z 1 --workers 2 --repeats 5

Sections (each reuses the functions of its own script, see their docstrings for methods):

* ``loader`` (``bench_loader.py``): samples/s (anchor + positive) through
  ``MultiExperimentDataModule.train_dataloader()`` next to the read ceiling of the same
  patches, cold and cached, 0/1/2 thread workers; setup to first batch on the demo data.
* ``index`` (``bench_index.py``): cell index build time and peak memory, one process each.
* ``sampler`` (``bench_sampler.py``): FlexibleBatchSampler (the datamodule's default
  experiment + condition axes) construction and one epoch of draws, next to torch's
  ``BatchSampler(RandomSampler)``.
* ``loss`` (``bench_loss.py``): NTXentHCL forward+backward, next to pytorch-metric-learning.
* ``train`` (``bench_train_step.py``): demo training steps/s fed by the loader, and the
  fraction of the time spent waiting for data.
* ``preprocess`` (``bench_preprocess.py``): ``dynaclr preprocess`` MB/s of pixels next to a
  plain tensorstore read of the same chunks, and the peak RSS of a fresh process
  preprocessing one FOV of ``T`` frames (run.py's default plate: 1024 x 1024, Z=5, T=10).
* ``rechunk`` (``bench_rechunk.py``): ``dynaclr rechunk`` MB/s of pixels (into the default
  ``(1, 1, Z, 256, 256)`` chunks, every box read back) next to a plain tensorstore read of the
  same source chunks, and random 160 x 160 patches/s from the source and from the copy (the
  preprocess section's plate).
* ``realistic`` (``bench_realistic.py``; 26 GB, so only when named or ``--smoke``): the loader
  on 2048 x 2048 whole-plane chunks and rechunked, random and chunk-aware batches (issue 14).

Every figure is a median over repeats with min and max; ``ratio`` compares it with the
reference measured in the same run; ``target`` checks the goals of issue 7.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import bench_index
import bench_loader
import bench_loss
import bench_preprocess
import bench_realistic
import bench_rechunk
import bench_sampler
import bench_train_step

from dynaclr.demo import write_demo_dataset

SECTIONS = ("loader", "index", "sampler", "loss", "train", "preprocess", "rechunk", "realistic")
GIB = 2.0**30


@dataclass
class Row:
    """One line of the table: a measured value, its reference and the target it checks."""

    section: str
    case: str
    metric: str
    values: list[float]
    reference: str = ""
    ref_values: list[float] | None = None
    ratio: float | None = None
    target: str = ""
    digits: int = 2


def _check(met: bool, text: str) -> str:
    return f"{text}: {'met' if met else 'MISSED'}"


def _num(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def format_table(rows: list[Row]) -> str:
    """A markdown table of ``rows``: median, min, max, reference median, ratio, target."""
    lines = [
        "| section | case | metric | median | min | max | reference | ref median | ratio "
        "| target |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        ref = _num(statistics.median(r.ref_values), r.digits) if r.ref_values else ""
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        lines.append(
            f"| {r.section} | {r.case} | {r.metric} | {_num(statistics.median(r.values), r.digits)}"
            f" | {_num(min(r.values), r.digits)} | {_num(max(r.values), r.digits)} | {r.reference}"
            f" | {ref} | {ratio} | {r.target} |"
        )
    return "\n".join(lines)


def loader_rows(root: Path, demo: Path, args: argparse.Namespace) -> list[Row]:
    results = bench_loader.run_all(root, args)
    rows = []
    for r in results:
        in_flight = max(1, r.workers)
        case = f"{r.case} {'cached' if r.cached else 'cold'}, {r.workers} workers"
        if r.chunks != "full":
            case += f", chunks {r.chunks}"
        ratio = statistics.median(r.ratios)
        targets = [_check(ratio >= 0.9, ">= 0.90 x ceiling")]
        if r.workers == 2 and r.z in bench_loader.UPSTREAM:
            goal = 1.5 * bench_loader.UPSTREAM[r.z]
            targets.append(_check(statistics.median(r.loader) >= goal, f">= {goal:.0f}/s"))
        rows.append(Row(
            "loader", case, "samples/s", r.loader,
            f"read ceiling, {in_flight} batch{'es' if in_flight > 1 else ''} in flight; "
            f"{statistics.median(r.mb_per_sample):.2f} MB decoded/sample, read amplification "
            f"{statistics.median(r.amplification):.1f}x",
            r.ceiling, ratio, "; ".join(targets), digits=0,
        ))  # fmt: skip
    setup = bench_loader.measure_setup(
        lambda: bench_train_step.demo_cli(demo, 2).datamodule, args.repeats
    )
    rows.append(Row(
        "loader", "setup to first batch, demo data and demo_fit.yml (index, sampler, read)",
        "s", setup, target=_check(statistics.median(setup) < 2.0, "< 2 s"),
    ))  # fmt: skip
    return rows


def index_rows(args: argparse.Namespace) -> list[Row]:
    rows = []
    for size in args.index_rows:
        runs = bench_index.run_size(size, args.repeats)
        n = int(statistics.median(r["rows"] for r in runs))
        build = [r["build_s"] for r in runs]
        sort = [r["sort_s"] for r in runs]
        delta = [(r["peak"] - r["before"]) / GIB for r in runs]
        big = size >= 10_000_000
        rows.append(Row(
            "index", f"build_cell_index, {n:,} rows", "s", build, "polars sort of the input",
            sort, statistics.median(b / s for b, s in zip(build, sort)),
            _check(statistics.median(build) < 30, "< 30 s") if big else "",
        ))  # fmt: skip
        peak = max(r["peak"] for r in runs) / GIB
        rows.append(Row(
            "index", f"build_cell_index, {n:,} rows", "peak GiB over input", delta,
            f"process peak {peak:.2f} GiB (imports + input included)",
            target=_check(max(delta) < 2.0, "< 2 GB") if big else "",
        ))  # fmt: skip
    return rows


def sampler_rows(args: argparse.Namespace) -> list[Row]:
    rows = []
    config = "experiment+condition"
    for size in args.index_rows:
        runs = bench_sampler.run_size(size, args.repeats, args.sampler_batch_size, [config])
        ours, base = runs[config], runs[bench_sampler.BASELINE]
        rows.append(Row(
            "sampler", f"FlexibleBatchSampler {config}, {size:,} rows", "construction s",
            [r["build"] for r in ours], digits=3,
        ))  # fmt: skip
        epoch, base_epoch = [r["epoch"] for r in ours], [r["epoch"] for r in base]
        rows.append(Row(
            "sampler", f"FlexibleBatchSampler {config}, {size:,} rows",
            f"epoch s (batch {args.sampler_batch_size})", epoch,
            "torch BatchSampler(RandomSampler)", base_epoch,
            statistics.median(epoch) / statistics.median(base_epoch), digits=3,
        ))  # fmt: skip
    return rows


def loss_rows(args: argparse.Namespace) -> list[Row]:
    results = bench_loss.run(
        args.loss_sizes, [0.0, 0.5], repeats=args.loss_repeats, one_process=args.smoke
    )
    pml = {r["n"]: r for r in results if r["loss"] == bench_loss.PML}
    rows = []
    for r in results:
        case = f"{r['loss']}, N={r['n']}, D=128, beta={r['beta']:g}"
        base = pml.get(r["n"]) if r["loss"] != bench_loss.PML else None
        target_ms = target_mb = ""
        if r["loss"] == bench_loss.OURS and r["n"] == bench_loss.TARGET_N:
            target_ms = _check(statistics.median(r["times_ms"]) < 50, "< 50 ms")
            target_mb = _check(r["peak_mb"] < 100, "< 100 MB")
        ms = statistics.median(r["times_ms"])
        rows.append(Row(
            "loss", case, "fwd+bwd ms", r["times_ms"], "pml NTXentLoss" if base else "",
            base["times_ms"] if base else None,
            ms / statistics.median(base["times_ms"]) if base else None, target_ms, digits=1,
        ))  # fmt: skip
        rows.append(Row(
            "loss", case, "peak MB (one call)", [r["peak_mb"]], "pml NTXentLoss" if base else "",
            [base["peak_mb"]] if base else None,
            r["peak_mb"] / max(base["peak_mb"], 1e-9) if base else None, target_mb, digits=1,
        ))  # fmt: skip
    return rows


def train_rows(demo: Path, args: argparse.Namespace) -> list[Row]:
    rows = []
    for workers in args.train_workers:
        r = bench_train_step.measure(
            demo, workers, args.steps, args.warmup, args.repeats, args.smoke
        )
        case = f"{r['description']}, {workers} workers, {r['threads']} torch threads"
        fed, alone = statistics.median(r["fed"]), statistics.median(r["alone"])
        rows.append(Row(
            "train", case, "steps/s", r["fed"], "same steps on a held batch (no loader)",
            r["alone"], fed / alone,
        ))  # fmt: skip
        rows.append(Row("train", case, "fraction of step time waiting for data", r["wait"]))
        rows.append(Row(
            "train", f"{r['description']}, finite-loss check on", "steps/s (held batch)",
            r["checked"], "check off", r["unchecked"],
            statistics.median(r["checked"]) / statistics.median(r["unchecked"]),
        ))  # fmt: skip
    return rows


def preprocess_rows(root: Path, args: argparse.Namespace) -> list[Row]:
    throughput, peaks = bench_preprocess.run_all(root, args)
    size, z, frames = args.preprocess_size, args.preprocess_z, args.preprocess_frames
    rows = []
    for r in throughput:
        ratio = statistics.median(a / b for a, b in zip(r["preprocess"], r["plain"]))
        rows.append(Row(
            "preprocess",
            f"2 FOVs x 2 ch x T={frames} x Z={z} x {size}^2 float32, {r['workers']} workers",
            "MB/s of pixels", r["preprocess"], "plain tensorstore read of the same chunks",
            r["plain"], ratio, digits=0,
        ))  # fmt: skip
    for p in peaks:
        rows.append(Row(
            "preprocess", f"one FOV {tuple(p['shape'])}, {p['workers']} workers",
            "peak RSS MB", [p["peak_mb"]], f"RSS after imports {p['imports_mb']:.0f} MB",
            [p["imports_mb"]], p["peak_mb"] / p["imports_mb"], digits=0,
        ))  # fmt: skip
    return rows


def rechunk_rows(root: Path, args: argparse.Namespace) -> list[Row]:
    throughput, patches = bench_rechunk.run_all(root, args)
    rows = []
    for r in throughput:
        ratio = statistics.median(a / b for a, b in zip(r["rechunk"], r["plain"]))
        rows.append(Row(
            "rechunk", f"{bench_rechunk.case(args)}, {r['workers']} workers",
            "MB/s of pixels", r["rechunk"], "plain tensorstore read of the same chunks",
            r["plain"], ratio, digits=0,
        ))  # fmt: skip
    if patches:
        copy, source = patches["copy"], patches["source"]
        rows.append(Row(
            "rechunk", f"{patches['n']} random 2 x Z x 160^2 patches, one read, copy "
            f"({patches['copy_mb']:.1f} MB decoded/patch)", "patches/s", copy,
            f"the source ({patches['source_mb']:.1f} MB decoded/patch)", source,
            statistics.median(copy) / statistics.median(source), digits=1,
        ))  # fmt: skip
    return rows


def machine() -> str:
    """CPU model, cores, memory, load, versions: the context of the numbers."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
            platform.processor(),
        )
    except OSError:
        model = platform.processor()
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 2**20
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{model}; {len(os.sched_getaffinity(0))} cores; {mem_gib:.1f} GiB RAM; load average "
        f"{load}; Python {platform.python_version()}, torch {version('torch')}, "
        f"tensorstore {version('tensorstore')}, zarr {version('zarr')}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, help="default: all but realistic (all: --smoke)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats of every measurement")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--data-dir", type=Path, help="write the data here (default: temp)")
    bench_loader.add_arguments(parser)
    group = parser.add_argument_group("index, sampler, loss")
    group.add_argument(
        "--index-rows", type=float, nargs="+", default=[1e5, 1e6, 1e7], help="observations"
    )
    group.add_argument("--sampler-batch-size", type=int, default=128)
    group.add_argument("--loss-sizes", type=int, nargs="+", default=[512, 2048, 8192])
    group.add_argument("--loss-repeats", type=int, default=7)
    bench_train_step.add_arguments(parser)
    bench_preprocess.add_arguments(parser)
    bench_rechunk.add_arguments(parser)
    bench_realistic.add_arguments(parser)
    parser.set_defaults(preprocess_size=1024, rechunk_size=1024)
    args = parser.parse_args(argv)
    args.index_rows = [int(n) for n in args.index_rows]
    if args.sections is None:
        args.sections = [s for s in SECTIONS if args.smoke or s != "realistic"]
    if args.smoke:
        bench_loader.smoke_arguments(args)
        args.repeats, args.index_rows, args.sampler_batch_size = 1, [2_000], 32
        args.loss_sizes, args.loss_repeats = [64, 128], 3
        args.steps, args.warmup = 1, 1
        bench_preprocess.smoke_arguments(args)
        bench_rechunk.smoke_arguments(args)
        bench_realistic.smoke_arguments(args)
    return args


def main(argv: list[str] | None = None) -> str:
    """Run the chosen sections, print the table and return it."""
    args = parse_args(argv)
    start = time.perf_counter()
    header = machine()
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir or Path(tmp)
        demo, real = root / "demo" / "experiments.yml", root / "realistic"
        frames = {"n_frames": 6 if args.smoke else 20}
        if {"loader", "train"} & set(args.sections) and not bench_loader.reuse_data(
            demo.parent, frames
        ):
            write_demo_dataset(demo.parent, **frames)
            (demo.parent / "written_with.json").write_text(json.dumps(frames))
        runners = {
            "loader": lambda: loader_rows(root, demo, args),
            "index": lambda: index_rows(args),
            "sampler": lambda: sampler_rows(args),
            "loss": lambda: loss_rows(args),
            "train": lambda: train_rows(demo, args),
            "preprocess": lambda: preprocess_rows(root, args),
            "rechunk": lambda: rechunk_rows(root, args),
            "realistic": lambda: [
                Row(**r) for r in bench_realistic.table_rows(bench_realistic.run_all(real, args))
            ],
        }
        for section in (s for s in SECTIONS if s in args.sections):
            tic = time.perf_counter()
            rows += runners[section]()
            seconds[section] = time.perf_counter() - tic
    table = format_table(rows)
    print(f"# benchmarks/run.py{' --smoke' if args.smoke else ''}: {header}")
    print(
        f"# medians over {args.repeats} repeats (loss: {args.loss_repeats}); "
        f"{time.perf_counter() - start:.0f} s in all ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
        + "); load average at the end "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print(table)
    return table


if __name__ == "__main__":
    main()
