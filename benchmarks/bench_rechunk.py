"""Benchmark: ``dynaclr rechunk`` MB/s next to a plain read of the same chunks; what it buys.

    uv run python benchmarks/bench_rechunk.py                 # 2048 x 2048, Z=5, T=10
    uv run python benchmarks/bench_rechunk.py --rechunk-workers 2 --repeats 5
    uv run python benchmarks/bench_rechunk.py --smoke         # tiny sizes, seconds (CI)

Data: the plate of ``bench_preprocess.py`` (:func:`bench_preprocess.write_data`, reused when
present): 2 wells x 1 FOV of ``--rechunk-size`` squared float32 pixels, ``--rechunk-z``
planes, ``--rechunk-frames`` frames and 2 channels, as iohub writes them: NGFF 0.4, one
``(1, 1, Z, Y, X)`` chunk per frame and channel, Blosc zstd level 1 with bit shuffle.

Throughput: :func:`viscy_data.rechunk.rechunk_plate` with its defaults (``(1, 1, Z, 256,
256)`` chunks, the source's compression, every box read back and compared), into a fresh
folder each pass, in MB of decoded pixels per second (layout, manifest and verification
included), next to the reference measured in the same run: a plain tensorstore read of the
same source chunks with the same number of threads (:func:`bench_preprocess.plain_read`).
``ratio`` = rechunk / plain read. The source sits in the OS page cache (written or read just
before), so both are decode and encode bound, not disk bound. Medians over ``--repeats``
passes, with min and max.

What it buys: ``--rechunk-patches`` random ``(2, Z, 160, 160)`` patches (both channels, every
plane) read in one batched call through :class:`viscy_data.readers.PatchReader` (no chunk
cache), from the source and from the copy: patches per second and MB decoded per patch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import bench_preprocess
import numpy as np
from spread import spread

from viscy_data.readers import PatchReader, read_plate, tensorstore_spec
from viscy_data.rechunk import rechunk_plate

MB = 1e6
PATCH_YX = 160


def source_plate(root: Path, args: argparse.Namespace) -> Path:
    """The plate of bench_preprocess.py at this benchmark's sizes (written once)."""
    sizes = argparse.Namespace(
        preprocess_size=args.rechunk_size, preprocess_z=args.rechunk_z,
        preprocess_frames=args.rechunk_frames,
    )  # fmt: skip
    return bench_preprocess.write_data(root, sizes)


def measure_throughput(plate: Path, workers: int, repeats: int) -> dict:
    """MB/s of rechunk_plate and of the plain read, ``repeats`` alternating passes each."""
    ours, plain, mb = [], [], 0.0
    with tempfile.TemporaryDirectory(prefix="bench_rechunk_") as tmp:
        bench_preprocess.plain_read(plate, workers)  # warm the page cache, untimed
        for i in range(repeats):
            summary = rechunk_plate(plate, Path(tmp) / f"copy{i}.zarr", num_workers=workers)
            mb = summary.bytes_copied / MB
            ours.append(mb / summary.seconds)
            plain.append(mb / bench_preprocess.plain_read(plate, workers))
            shutil.rmtree(summary.destination)
    return {"workers": workers, "mb": mb, "rechunk": ours, "plain": plain}


def _patch_reads(plate: Path, n: int, repeats: int, seed: int = 0) -> tuple[list[float], float]:
    """Seconds per pass of ``n`` random patches read in one call, and MB decoded per patch."""
    fovs = read_plate(plate).fovs
    reader = PatchReader({fov.fov_name: tensorstore_spec(fov) for fov in fovs})
    rng = np.random.default_rng(seed)
    n_t, n_c, n_z, n_y, n_x = fovs[0].shape
    side = min(PATCH_YX, n_y, n_x)
    seconds, spans = [], []
    chunk = fovs[0].chunks
    for _ in range(repeats):
        y0, x0 = rng.integers(0, n_y - side + 1, n), rng.integers(0, n_x - side + 1, n)
        args = (
            list(rng.choice([f.fov_name for f in fovs], n)), rng.integers(0, n_t, n),
            [tuple(range(n_c))] * n, slice(0, n_z), y0, x0, (side, side),
        )  # fmt: skip
        tic = time.perf_counter()
        reader.read(*args)
        seconds.append(time.perf_counter() - tic)
        # chunks each patch touches, per channel (a chunk holds every plane here)
        spans += list(((y0 + side - 1) // chunk[3] - y0 // chunk[3] + 1)
                      * ((x0 + side - 1) // chunk[4] - x0 // chunk[4] + 1))  # fmt: skip
    chunk_bytes = int(np.prod(chunk[2:])) * np.dtype(fovs[0].dtype).itemsize
    return seconds, float(np.mean(spans)) * n_c * chunk_bytes / MB


def measure_patches(plate: Path, n: int, repeats: int) -> dict:
    """Patches/s from the source and from its default rechunked copy."""
    with tempfile.TemporaryDirectory(prefix="bench_rechunk_") as tmp:
        copy = rechunk_plate(plate, Path(tmp) / "copy.zarr").destination
        source, source_mb = _patch_reads(plate, n, repeats)
        rechunked, copy_mb = _patch_reads(copy, n, repeats)
    return {
        "n": n, "source": [n / s for s in source], "copy": [n / s for s in rechunked],
        "source_mb": source_mb, "copy_mb": copy_mb,
    }  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Rechunk options (shared with ``benchmarks/run.py``)."""
    group = parser.add_argument_group("rechunk")
    group.add_argument("--rechunk-size", type=int, default=2048, help="FOV side (px)")
    group.add_argument("--rechunk-z", type=int, default=5)
    group.add_argument("--rechunk-frames", type=int, default=10)
    group.add_argument("--rechunk-workers", type=int, nargs="+", default=[1, 2])
    group.add_argument(
        "--rechunk-patches", type=int, default=16,
        help="random (2, Z, 160, 160) patches read from the source and the copy (0: skip)",
    )  # fmt: skip


def smoke_arguments(args: argparse.Namespace) -> None:
    """Tiny sizes for CI."""
    args.rechunk_size, args.rechunk_z, args.rechunk_frames = 96, 2, 3
    args.rechunk_workers, args.rechunk_patches = [0, 2], 4


def run_all(root: Path, args: argparse.Namespace) -> tuple[list[dict], dict | None]:
    """Throughput per worker count, and the patch reads (None when skipped)."""
    plate = source_plate(root, args)
    throughput = [measure_throughput(plate, w, args.repeats) for w in args.rechunk_workers]
    patches = None
    if args.rechunk_patches:
        patches = measure_patches(plate, args.rechunk_patches, args.repeats)
    return throughput, patches


def case(args: argparse.Namespace) -> str:
    """The plate, in words, for tables."""
    size, z, frames = args.rechunk_size, args.rechunk_z, args.rechunk_frames
    side = min(256, size)
    return f"2 FOVs x 2 ch x T={frames} x Z={z} x {size}^2 float32 -> (1, 1, {z}, {side}, {side})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--data-dir", type=Path, help="the source plate's folder (default: temp)")
    args = parser.parse_args(argv)
    if args.smoke:
        smoke_arguments(args)
        args.repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        throughput, patches = run_all(args.data_dir or Path(tmp), args)
    print(f"plate: {case(args)}, {len(os.sched_getaffinity(0))} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'workers':>7} {'MB':>8} {'rechunk MB/s':>24} {'plain read MB/s':>24} {'ratio':>6}")
    for r in throughput:
        ratio = statistics.median(a / b for a, b in zip(r["rechunk"], r["plain"]))
        print(f"{r['workers']:>7} {r['mb']:>8.0f} {spread(r['rechunk']):>24} "
              f"{spread(r['plain']):>24} {ratio:>6.2f}")  # fmt: skip
    if patches:
        speedup = statistics.median(patches["copy"]) / statistics.median(patches["source"])
        print(f"{patches['n']} random patches of (2, Z, {PATCH_YX}, {PATCH_YX}), one call: "
              f"source {spread(patches['source'])}/s ({patches['source_mb']:.1f} MB decoded per "
              f"patch), copy {spread(patches['copy'])}/s ({patches['copy_mb']:.1f} MB); "
              f"{speedup:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
