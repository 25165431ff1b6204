"""Benchmark: train_dataloader() samples/s next to the read ceiling of the same patches.

    uv run python benchmarks/bench_loader.py                  # 2x1 and 2x5 x 160 x 160 patches
    uv run python benchmarks/bench_loader.py --workers 2 --batches 20 --loader-repeats 7
    uv run python benchmarks/bench_loader.py --smoke          # tiny sizes, seconds (CI)

Data: :func:`dynaclr.demo.write_demo_dataset` writes two experiments (2 wells x
``--fovs-per-well`` FOVs, ``--frames`` frames, 2 float32 channels, ``--image-size`` square
FOVs) once with Z = 1 and once with Z = 5, one ``(1, 1, Z, Y, X)`` chunk per frame and
channel (zarr v2, zarr-python's default blosc-lz4 compressor), and twice more, with the
same chunks uncompressed and with ``(1, 1, Z, 128, 128)`` chunks, to show what the layout does.

Loader: ``MultiExperimentDataModule.train_dataloader()`` (sampler, positives, tensorstore
reads, normalization metadata; no transforms, no model); one sample = one anchor and its
positive. A pass reads ``--batches`` batches (``--cached-batches`` with the cache on) from
fresh epochs, rolling over to the next epoch as training does, after an untimed warm-up pass
of 3 batches. Throughput is the steady state: timed from the first batch's arrival to the last
one's (an epoch's start-up is short next to a real epoch; a later epoch's start is timed).

Read ceiling: the same patches (same FOVs, frames, windows, replayed from the sampler's
epoch and the dataset's keyed positives) read by plain tensorstore through its own context
with the same cache size: one ``ts.stack`` view per batch, built before the clock starts,
read with one call per batch, with as many batches in flight as the loader keeps (1 for 0 or
1 worker, 2 for 2 workers: its reader thread keeps ``num_workers`` batches started), timed the
same way. ``ratio`` = loader / ceiling, pass by pass.

"cold": chunk cache off (the default; the files sit in the OS page cache, so this is decode
bound, not disk bound). "cached": ``cache_pool_bytes`` = 1.25 x the decoded working set,
filled before timing. ``MB/sample``: the decoded chunk bytes a sample costs when cold (chunks
shared by patches of one batch count once); ``amplif.``: those over the patch bytes delivered.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_train_step import demo_cli
from read_ceiling import ReadCeiling
from spread import spread

from dynaclr.datamodule import MultiExperimentDataModule
from dynaclr.demo import write_demo_dataset

UPSTREAM = {1: 1000.0, 5: 290.0}  # upstream DynaCLR, 2 workers, samples/s (issue 7)


@dataclass
class LoaderResult:
    """Samples/s of the loader and of the ceiling, pass by pass, for one configuration."""

    case: str
    z: int
    workers: int
    cached: bool
    chunks: str
    loader: list[float] = field(default_factory=list)
    ceiling: list[float] = field(default_factory=list)
    mb_per_sample: list[float] = field(default_factory=list)
    amplification: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.loader, self.ceiling)]


def write_data(
    root: Path, z: int, args: argparse.Namespace, chunk_yx: int | None = None, raw: bool = False
) -> Path:
    """Write the benchmark experiments with ``z`` planes; return their ``experiments.yml``.

    ``chunk_yx`` sets ``(1, 1, Z, chunk_yx, chunk_yx)`` chunks (default: one chunk per frame
    and channel); ``raw`` writes the chunks uncompressed. An existing dataset in ``root`` is
    reused.
    """
    size = args.image_size
    chunks = None if chunk_yx is None else (1, 1, z, chunk_yx, chunk_yx)
    options = dict(
        n_frames=args.frames, image_size=size, z_slices=z, fovs_per_well=args.fovs_per_well,
        cells_per_fov=args.cells_per_fov, cell_radius=max(4.0, size / 48), chunks=chunks,
    )  # fmt: skip
    if reuse_data(root, {**options, "raw": raw}):
        return root / "experiments.yml"
    yaml = write_demo_dataset(root, 2, compressors=None if raw else "auto", **options)
    (root / "written_with.json").write_text(json.dumps({**options, "raw": raw}))
    return yaml


def reuse_data(root: Path, options: dict) -> bool:
    """Whether ``root`` holds a dataset written with ``options`` (a different one raises)."""
    record = root / "written_with.json"
    if not record.is_file():
        return False
    written = json.loads(record.read_text())
    if written != json.loads(json.dumps(options)):
        raise ValueError(
            f"{root} holds data written with {written}, not {options}; pass another "
            "--data-dir or delete it."
        )
    return True


def make_datamodule(yaml: Path, z: int, patch: int, batch_size: int, cache: int, **options):
    """A set-up fit datamodule over every experiment of ``yaml`` (no transforms).

    ``options`` override or add datamodule arguments (``num_workers``, ``groups_per_batch``).
    """
    arguments = dict(
        z_range=(0, z), yx_patch_size=(patch, patch), final_yx_patch_size=(patch, patch),
        batch_size=batch_size, num_workers=0, cache_pool_bytes=cache, pin_memory=False,
        tau_range=(0.5, 1.5),
    )  # fmt: skip
    dm = MultiExperimentDataModule(yaml, **{**arguments, **options})
    dm.setup("fit")
    return dm


def working_set_bytes(dataset) -> int:
    """Decoded bytes of every array the dataset reads (at each array's dtype)."""
    fovs = dataset.index.fovs.values()
    return sum(np.dtype(f.dtype).itemsize * int(np.prod(f.shape)) for f in fovs)


def loader_pass(loader, dataset, n_batches: int) -> tuple[float, list[tuple[int, int]]]:
    """Samples/s over ``n_batches`` batches of ``loader``, and the ``(epoch, batches)`` read.

    Steady state: timed from the first batch's arrival to the last one's. Epochs roll over as
    in training (a new iterator, hence new threads, per epoch; that start-up is timed).
    """
    segments = []
    samples, start = 0, None
    while not segments or sum(n for _, n in segments) < n_batches:
        iterator = iter(loader)
        taken = 0
        for batch in iterator:
            if taken == 0:
                epoch = dataset.epoch  # set when this iteration drew its first batch
            if start is None:
                start = time.perf_counter()
            else:
                samples += batch["anchor"].shape[0]
            taken += 1
            if sum(n for _, n in segments) + taken == n_batches:
                break
        iterator.close()
        segments.append((epoch, taken))
    return samples / (time.perf_counter() - start), segments


def measure(
    yaml: Path, z: int, args: argparse.Namespace, cached: bool, chunks: str, workers: list[int]
) -> list[LoaderResult]:
    """Loader and ceiling samples/s for every worker count, passes interleaved."""
    patch = args.patch
    dm = make_datamodule(yaml, z, patch, args.batch_size, 0)
    cache = int(1.25 * working_set_bytes(dm.train_dataset)) + (64 << 20) if cached else 0
    if cached:
        dm = make_datamodule(yaml, z, patch, args.batch_size, cache)
    dataset = dm.train_dataset
    ceiling = ReadCeiling(dataset, cache)
    if cached:
        for key in dataset.reader.specs:
            dataset.reader.store(key).read().result()
        ceiling.warm()
    n_batches = args.cached_batches if cached else args.batches
    results = [LoaderResult(f"2x{z}x{patch}x{patch}", z, w, cached, chunks) for w in workers]
    for result in results:
        run_passes(dm, ceiling, result, n_batches, args.loader_repeats)
    del dm, dataset, ceiling
    gc.collect()
    return results


def run_passes(dm, ceiling, result, n_batches: int, repeats: int, warmup: int = 3) -> LoaderResult:
    """Fill ``result`` with ``repeats`` loader passes, each followed by the ceiling's replay.

    A first pass of ``warmup`` batches (at least 2) is not recorded. ``dm`` is set up for fit
    (its workers become ``result.workers``); ``ceiling`` reads from the same dataset.
    """
    dm.num_workers = result.workers
    loader = dm.train_dataloader()
    sampler = loader.batch_sampler.sampler
    for repeat in range(repeats + 1):
        rate, segments = loader_pass(loader, dm.train_dataset, n_batches if repeat else warmup)
        stacks, mb_per_sample, amplification = ceiling.plan(sampler, segments)
        top = ceiling.run(stacks, max(1, result.workers))
        del stacks
        if repeat:
            result.loader.append(rate)
            result.ceiling.append(top)
            result.mb_per_sample.append(mb_per_sample)
            result.amplification.append(amplification)
    return result


def measure_setup(make_datamodule: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds from a new datamodule's setup to its first training batch (index, sampler, read).

    ``make_datamodule`` builds a :class:`MultiExperimentDataModule` (not yet set up).
    """
    times = []
    for _ in range(repeats):
        dm = make_datamodule()
        start = time.perf_counter()
        dm.setup("fit")
        iterator = iter(dm.train_dataloader())
        next(iterator)
        times.append(time.perf_counter() - start)
        iterator.close()
        del dm, iterator
    return times


def run_all(root: Path, args: argparse.Namespace) -> list[LoaderResult]:
    """Write the data under ``root`` and measure every loader configuration."""
    results = []
    most = [max(args.workers)]
    for z in args.z:
        yaml = write_data(root / f"z{z}", z, args)
        for cached in (False, True):
            results += measure(yaml, z, args, cached, "full", args.workers)
        if args.raw:
            yaml = write_data(root / f"z{z}-raw", z, args, raw=True)
            results += measure(yaml, z, args, False, "full, uncompressed", most)
        if args.chunk_yx:
            yaml = write_data(root / f"z{z}-c{args.chunk_yx}", z, args, args.chunk_yx)
            results += measure(yaml, z, args, False, f"{args.chunk_yx}x{args.chunk_yx}", most)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Loader options (shared with ``benchmarks/run.py``)."""
    group = parser.add_argument_group("loader")
    group.add_argument("--image-size", type=int, default=512, help="FOV side (px)")
    group.add_argument("--frames", type=int, default=20)
    group.add_argument("--fovs-per-well", type=int, default=2)
    group.add_argument("--cells-per-fov", type=int, default=16)
    group.add_argument("--patch", type=int, default=160, help="patch side (px)")
    group.add_argument("--z", type=int, nargs="+", default=[1, 5], help="planes per patch")
    group.add_argument("--chunk-yx", type=int, default=128, help="extra chunked case; 0: off")
    group.add_argument("--raw", action=argparse.BooleanOptionalAction, default=True,
                       help="extra case: full-frame chunks without compression")  # fmt: skip
    group.add_argument("--batch-size", type=int, default=64)
    group.add_argument("--batches", type=int, default=24, help="batches per timed pass, cold")
    group.add_argument("--cached-batches", type=int, default=64, help="... with the cache on")
    group.add_argument("--loader-repeats", type=int, default=5,
                       help="timed passes per case (loader, ceiling alternate)")  # fmt: skip
    group.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])


def smoke_arguments(args: argparse.Namespace) -> None:
    """Tiny sizes for CI."""
    args.image_size, args.frames, args.fovs_per_well, args.cells_per_fov = 96, 6, 1, 4
    args.patch, args.chunk_yx, args.batch_size, args.batches, args.cached_batches = 32, 32, 8, 3, 3
    args.workers, args.z, args.loader_repeats = [0, 2], [1], 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3, help="setup-to-first-batch repeats")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        smoke_arguments(args)
        args.repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(Path(tmp), args)
        demo = write_demo_dataset(Path(tmp) / "demo", n_frames=4 if args.smoke else 20)
        setup = measure_setup(lambda: demo_cli(demo, 2).datamodule, args.repeats)
    print(
        f"samples/s median (min/max) over {args.loader_repeats} passes of {args.batches} batches"
        f" ({args.cached_batches} cached)"
    )
    print(f"{'case':<16}{'chunks':>8}{'cache':>7}{'workers':>8}{'loader':>24}{'ceiling':>24}"
          f"{'ratio':>7}{'MB/sample':>10}{'amplif.':>8}")  # fmt: skip
    for r in results:
        print(
            f"{r.case:<16}{r.chunks:>8}{'on' if r.cached else 'off':>7}{r.workers:>8}"
            f"{spread(r.loader, '.0f'):>24}{spread(r.ceiling, '.0f'):>24}"
            f"{statistics.median(r.ratios):>7.2f}"
            f"{statistics.median(r.mb_per_sample):>10.2f}{statistics.median(r.amplification):>8.1f}"
        )
    print(f"setup to first batch on the demo data (demo_fit.yml): {spread(setup, '.2f')} s")


if __name__ == "__main__":
    main()
