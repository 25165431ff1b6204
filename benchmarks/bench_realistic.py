"""Benchmark: the loader on plates as microscopes write them, random vs chunk-aware batches.

    uv run python benchmarks/bench_realistic.py --data-dir /tmp/realistic   # 26 GB; ~16 min
    uv run python benchmarks/bench_realistic.py --smoke                      # a few MB (CI)
    uv run python benchmarks/run.py --sections realistic --data-dir /tmp/realistic

Data (issue 14): :func:`dynaclr.demo.write_demo_dataset` writes two experiments, 2 wells x
``--realistic-fovs-per-well`` FOVs of ``--realistic-size`` squared pixels (2048), about
``--realistic-cells`` cells per FOV at frame 0, as iohub writes them: NGFF 0.4, one
``(1, 1, Z, Y, X)`` chunk per frame and channel, Blosc zstd level 1 with bit shuffle.
Experiment ``demo0`` is float32 (reconstructed phase), ``demo1`` uint16 (camera counts, see
:func:`uint16_plates`). One copy per ``--realistic-z`` with its ``--realistic-frames``.

Rows, ``--realistic-workers`` workers, batches of anchor + positive patches: ``random`` is
today's default (cache off); ``chunk-aware`` is ``groups_per_batch=--realistic-groups,
tau_per_group=True`` with the automatic chunk cache (``cache_pool_bytes=0``); both again on
a copy rechunked to ``(1, 1, Z, --realistic-rechunk-yx, ...)`` by
:func:`viscy_data.rechunk.rechunk_plate` (skipped, with a message, where it does not exist).
Timing as ``bench_loader.py`` (steady state, ``--realistic-repeats`` passes alternating with
the read ceiling of the same batches, same cache size); random rows on whole-plane chunks read
``--realistic-batches`` batches a pass, the others ``--realistic-fast-batches``. ``MB/sample``
and the read amplification (decoded chunk bytes / delivered patch bytes) count what the
batches decode, skipping chunks a least-recently-used model of the cache still holds.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import os
import statistics
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numcodecs
import numpy as np
import yaml
from bench_loader import LoaderResult, make_datamodule, reuse_data, run_passes
from read_ceiling import ReadCeiling
from spread import spread

from dynaclr.demo import write_demo_dataset
from dynaclr.registry import write_experiments

UINT16_PREFIX = "demo1_"  # the experiment written as uint16
PHASE_COUNTS = (2000.0, 1000.0)  # uint16 phase channel: counts = 2000 x phase + 1000
TARGETS = {"chunk-aware": 10.0, "random, rechunked": 5.0}  # x random on whole planes
MIB = 2.0**20


@dataclass
class RealisticResult(LoaderResult):
    """A :class:`LoaderResult` with its batching and the chunk cache the dataset used."""

    batching: str = "random"
    cache_bytes: int = 0


@contextmanager
def uint16_plates(prefix: str = UINT16_PREFIX):
    """While open, ``write_demo_dataset`` writes the plates named ``prefix*`` as uint16 counts.

    The demo writes float32 only (and must keep writing the same bytes), so two names of its
    module are swapped here: ``create_hcs_plate`` makes those plates uint16, and
    ``render_block``'s pixels become counts (phase x 2000 + 1000; the reporter is already in
    counts over a background of 100), rounded and clipped to [0, 65535], before the demo
    computes its normalization statistics from them.
    """
    demo = importlib.import_module("dynaclr.demo.dataset")
    create, render = demo.create_hcs_plate, demo.render_block
    current = {"uint16": False}

    def create_plate(path, *args, **kwargs):
        current["uint16"] = Path(path).name.startswith(prefix)
        return create(path, *args, dtype="uint16" if current["uint16"] else "float32", **kwargs)

    def render_counts(*args, **kwargs):
        pixels = render(*args, **kwargs)
        if current["uint16"]:
            pixels[:, 0] = pixels[:, 0] * PHASE_COUNTS[0] + PHASE_COUNTS[1]
            np.clip(np.rint(pixels, out=pixels), 0, 65535, out=pixels)
        return pixels

    with (
        mock.patch.object(demo, "create_hcs_plate", create_plate),
        mock.patch.object(demo, "render_block", render_counts),
    ):
        yield


def write_plates(root: Path, z: int, frames: int, args: argparse.Namespace) -> Path:
    """Write (or reuse) the two experiments with ``z`` planes; return their ``experiments.yml``."""
    size = args.realistic_size
    zstd = numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE)  # iohub's
    options = dict(
        n_frames=frames, image_size=size, z_slices=z, fovs_per_well=args.realistic_fovs_per_well,
        cells_per_fov=args.realistic_cells, cell_radius=max(4.0, size / 85),
        chunks=(1, 1, z, size, size),
    )  # fmt: skip
    record = {**options, "compressor": "blosc zstd 1 bitshuffle", "uint16": UINT16_PREFIX}
    if reuse_data(root, record):
        return root / "experiments.yml"
    start = time.perf_counter()
    with uint16_plates():
        experiments = write_demo_dataset(root, 2, compressors=zstd, **options)
    (root / "written_with.json").write_text(json.dumps(record))
    _report(root, "written", start)
    return experiments


def rechunk_copy(experiments: Path, root: Path, chunk_yx: int) -> Path | None:
    """A copy of the plates of ``experiments`` with ``(1, 1, Z, chunk_yx, chunk_yx)`` chunks.

    Written once by :func:`viscy_data.rechunk.rechunk_plate` into ``root`` with an
    ``experiments.yml`` that reads the copies and the original tracks; None (and a message)
    when ``viscy_data.rechunk`` does not exist in this checkout.
    """
    try:
        from viscy_data.rechunk import rechunk_plate
    except ImportError as err:
        print(f"bench_realistic: rechunked rows skipped, viscy_data.rechunk is missing ({err})")
        return None
    record = {"source": str(experiments), "chunks": [1, 1, -1, chunk_yx, chunk_yx]}
    if reuse_data(root, record):
        return root / "experiments.yml"
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    entries = yaml.safe_load(experiments.read_text())["experiments"]
    for entry in entries:
        plate, done = root / entry["data_path"], root / f"{entry['data_path']}.done"
        if not done.exists():
            rechunk_plate(experiments.parent / entry["data_path"], plate, record["chunks"])
            done.touch()
        tracks = os.path.relpath(experiments.parent / entry["tracks_path"], root)
        entry.update(data_path=plate.name, tracks_path=tracks)
    write_experiments(root / "experiments.yml", entries, [f"{experiments}, rechunked"])
    (root / "written_with.json").write_text(json.dumps(record))
    _report(root, "rechunked", start)
    return root / "experiments.yml"


def _report(root: Path, what: str, start: float) -> None:
    """Print the size on disk of ``root`` and the seconds since ``start``."""
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e9
    print(f"bench_realistic: {what} {root} ({size:.2f} GB) in {time.perf_counter() - start:.0f} s")


def measure_row(
    experiments: Path, z: int, chunks: str, grouped: bool, args: argparse.Namespace
) -> RealisticResult:
    """Loader and ceiling samples/s of one row, random or chunk-aware batches."""
    patch, workers = args.realistic_patch, args.realistic_workers
    grouping = dict(groups_per_batch=args.realistic_groups, tau_per_group=True) if grouped else {}
    batch = args.realistic_batch_size
    dm = make_datamodule(experiments, z, patch, batch, 0, num_workers=workers, **grouping)
    cache, index = dm.train_dataset.cache_pool_bytes, dm.train_dataset.index
    cells = index.tracks.height / sum(fov.shape[0] for fov in index.fovs.values())
    print(f"bench_realistic: {experiments}: {cells:.0f} cells per FOV and frame, cache {cache:,} B")
    ceiling = ReadCeiling(dm.train_dataset, cache, model_cache=cache > 0)
    case, kind = f"2x{z}x{patch}x{patch}", "chunk-aware" if grouped else "random"
    result = RealisticResult(case, z, workers, cache > 0, chunks, batching=kind, cache_bytes=cache)
    slow = not grouped and chunks == "whole planes"
    n_batches = args.realistic_batches if slow else args.realistic_fast_batches
    run_passes(dm, ceiling, result, n_batches, args.realistic_repeats, warmup=2)
    del dm, ceiling
    gc.collect()  # the loader's threads and both chunk caches: GBs on 2048 x 2048 planes
    with suppress(OSError, AttributeError):  # glibc keeps freed GBs in its arenas otherwise
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    print(f"bench_realistic: {result.case} {label(result)}: {_cell(result.loader)} samples/s")
    return result


def run_all(root: Path, args: argparse.Namespace) -> list[RealisticResult]:
    """Write (or reuse) the plates and their rechunked copies under ``root``; measure each row."""
    if len(args.realistic_frames) != len(args.realistic_z):
        raise ValueError(
            f"--realistic-frames {args.realistic_frames} needs one value per --realistic-z "
            f"{args.realistic_z}"
        )
    results = []
    for z, frames in zip(args.realistic_z, args.realistic_frames):
        plates = write_plates(root / f"z{z}", z, frames, args)
        layouts = [(plates, "whole planes")]
        if args.realistic_rechunk_yx:
            yx = args.realistic_rechunk_yx
            copy = rechunk_copy(plates, root / f"z{z}-c{yx}", yx)
            layouts += [(copy, f"{yx}x{yx}")] if copy else []
        for experiments, chunks in layouts:
            for grouped in (False, True):
                results.append(measure_row(experiments, z, chunks, grouped, args))
    return results


def speedups(results: list[RealisticResult]) -> list[float]:
    """Each row's median samples/s over the random row on whole planes of the same patch."""
    base = {r.case: statistics.median(r.loader) for r in results if label(r) == "random"}
    return [statistics.median(r.loader) / base[r.case] for r in results]


def label(result: RealisticResult) -> str:
    """``random`` / ``chunk-aware``, with ``, rechunked`` on a rechunked copy."""
    return result.batching + (", rechunked" if result.chunks != "whole planes" else "")


def table_rows(results: list[RealisticResult]) -> list[dict]:
    """Rows for ``run.py``'s table (fields of its ``Row``), targets of issue 14 checked."""
    rows = []
    for r, gain in zip(results, speedups(results)):
        goal = TARGETS.get(label(r))
        target = f"{gain:.1f}x random"
        if goal is not None:
            met = "met" if gain >= goal else "MISSED"
            target += f" (>= {goal:.0f}x: {met})"
        reference = (
            f"read ceiling, {r.workers} batches in flight; "
            f"{statistics.median(r.mb_per_sample):.1f} MB decoded/sample, read amplification "
            f"{statistics.median(r.amplification):.1f}x; cache {r.cache_bytes / MIB:,.0f} MiB"
        )
        rows.append(dict(
            section="realistic", values=r.loader, reference=reference, ref_values=r.ceiling,
            case=f"{r.case} {label(r)}, chunks {r.chunks}, {r.workers} workers",
            metric="samples/s", ratio=statistics.median(r.ratios), target=target,
            digits=1 if statistics.median(r.loader) < 100 else 0,
        ))  # fmt: skip
    return rows


def format_table(results: list[RealisticResult]) -> str:
    """The docs' table: one line per row with its ceiling, decoded bytes and speed-up."""
    lines = [
        "| patch | chunks | batching | cache MiB | samples/s | ceiling | loader / ceiling "
        "| MB decoded/sample | amplification | x random |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r, gain in zip(results, speedups(results)):
        lines.append(
            f"| {r.case} | {r.chunks} | {r.batching} | {r.cache_bytes / MIB:,.0f} "
            f"| {_cell(r.loader)} | {_cell(r.ceiling)} | {statistics.median(r.ratios):.2f} "
            f"| {statistics.median(r.mb_per_sample):.1f} "
            f"| {statistics.median(r.amplification):.1f} | {gain:.1f} |"
        )
    return "\n".join(lines)


def _cell(values: list[float]) -> str:
    digits = 1 if statistics.median(values) < 100 else 0
    return spread(values, f",.{digits}f", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the realistic section (shared with ``benchmarks/run.py``)."""
    group = parser.add_argument_group("realistic (issue 14)")
    add = group.add_argument
    add("--realistic-size", type=int, default=2048, help="FOV side (px)")
    add("--realistic-z", type=int, nargs="+", default=[1, 5], help="planes per patch")
    add("--realistic-frames", type=int, nargs="+", default=[30, 12], help="per --realistic-z")
    add("--realistic-fovs-per-well", type=int, default=2)
    add("--realistic-cells", type=int, default=120, help="cells per FOV at frame 0")
    add("--realistic-patch", type=int, default=160, help="patch side (px)")
    add("--realistic-batch-size", type=int, default=64)
    add("--realistic-workers", type=int, default=2)
    add("--realistic-groups", type=int, default=4, help="groups_per_batch, chunk-aware rows")
    add("--realistic-rechunk-yx", type=int, default=256, help="rechunked copy; 0: off")
    add("--realistic-batches", type=int, default=4, help="per pass, random on whole planes")
    add("--realistic-fast-batches", type=int, default=24, help="per pass, the other rows")
    add("--realistic-repeats", type=int, default=3, help="timed passes per row")


def smoke_arguments(args: argparse.Namespace) -> None:
    """A few MB for CI."""
    args.realistic_size, args.realistic_z, args.realistic_frames = 128, [1], [6]
    args.realistic_fovs_per_well, args.realistic_cells, args.realistic_patch = 1, 6, 32
    args.realistic_batch_size, args.realistic_rechunk_yx, args.realistic_repeats = 8, 64, 1
    args.realistic_batches, args.realistic_fast_batches = 3, 3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--data-dir", type=Path, help="write the data here (default: temp)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        smoke_arguments(args)
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(args.data_dir or Path(tmp), args)
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(format_table(results))


if __name__ == "__main__":
    main()
