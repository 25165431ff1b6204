"""Benchmark: ``dynaclr preprocess`` MB/s next to a plain read of the same chunks; peak memory.

    uv run python benchmarks/bench_preprocess.py                 # 2048 x 2048, Z=5, T=10
    uv run python benchmarks/bench_preprocess.py --preprocess-peak-frames 5 20 50 --error
    uv run python benchmarks/bench_preprocess.py --smoke         # tiny sizes, seconds (CI)

Data: :func:`dynaclr.demo.write_demo_dataset` writes one experiment, 2 wells x 1 FOV of
``--preprocess-size`` squared float32 pixels, ``--preprocess-z`` planes, ``--preprocess-frames``
frames and 2 channels (textured cells on a background), as iohub writes them: NGFF 0.4, one
``(1, 1, Z, Y, X)`` chunk per frame and channel, Blosc zstd level 1 with bit shuffle.

Throughput: :func:`viscy_data.normalization.preprocess_plate` (all channels, all levels, every
statistic; reading, reducing and writing the attributes) in MB of decoded pixels per second,
next to the reference measured in the same run: a plain tensorstore read of the same chunks
with the same number of threads and nothing computed. ``ratio`` = preprocess / plain read.
The files sit in the OS page cache after the first pass (written just before), so both are
decode and compute bound, not disk bound. Medians over ``--repeats`` passes, with min and max.

Peak memory: a fresh process preprocesses a one-FOV, one-channel plate of ``T`` frames
(``--preprocess-peak-frames``; frames repeated from the data above) and reports its peak RSS
(``VmHWM``) next to its RSS after imports; equal peaks for several ``T`` show that memory
does not grow with the plate.

``--error``: the relative error of the subsampled median and IQR against numpy's exact
``np.percentile`` over every voxel, at the dataset and FOV levels (and the timepoint level
when a frame is subsampled), per channel.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorstore as ts
from spread import spread

from viscy_data.normalization import TIMEPOINT, preprocess_plate
from viscy_data.readers import read_plate, tensorstore_spec

MB = 1e6


def write_data(root: Path, args: argparse.Namespace) -> Path:
    """The realistic plate of the benchmark (written once, reused when present)."""
    import numcodecs

    from dynaclr.demo import write_demo_dataset

    size, z, frames = args.preprocess_size, args.preprocess_z, args.preprocess_frames
    folder = root / f"preprocess_{size}_z{z}_t{frames}"
    plates = sorted(folder.glob("*.zarr"))
    if plates and (folder / "experiments.yml").exists():
        return plates[0]
    write_demo_dataset(
        folder, 1, n_frames=frames, image_size=size, z_slices=z, fovs_per_well=1,
        cells_per_fov=max(4, size * size // 7000), cell_radius=max(4.0, size / 100),
        chunks=(1, 1, z, size, size),
        compressors=numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE),
    )  # fmt: skip
    return sorted(folder.glob("*.zarr"))[0]


def write_long_fov(source: Path, target: Path, frames: int) -> Path:
    """One FOV, one channel, ``frames`` frames cycled from ``source``'s first FOV, same chunks."""
    import numcodecs

    from viscy_data.testing import create_hcs_plate

    if target.exists():
        return target
    fov = read_plate(source).fovs[0]
    src = ts.open(tensorstore_spec(fov), read=True).result()
    n_t, _, z, y, x = fov.shape
    compressor = numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE)
    out = create_hcs_plate(
        target, {"A/1/0": (frames, 1, z, y, x)}, [fov.channel_names[1]],
        chunks=(1, 1, z, y, x), compressors=compressor,
    )["A/1/0"]  # fmt: skip
    for t in range(frames):
        out[t, 0] = src[t % n_t, 1].read().result()
    return target


def plain_read(plate: Path, workers: int) -> float:
    """Seconds to read every (frame, channel) chunk of every FOV with ``workers`` threads."""
    context = ts.Context({"cache_pool": {"total_bytes_limit": 0}})
    fovs = read_plate(plate).fovs
    start = time.perf_counter()
    stores = [ts.open(tensorstore_spec(fov), read=True, context=context).result() for fov in fovs]
    jobs = [
        (s, t, c)
        for s, f in zip(stores, fovs)
        for t in range(f.shape[0])
        for c in range(f.shape[1])
    ]

    def read(job) -> int:
        store, t, c = job
        return store[t, c].read().result().nbytes

    if workers == 0:
        list(map(read, jobs))
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(read, jobs))
    return time.perf_counter() - start


def measure_throughput(plate: Path, workers: int, repeats: int) -> dict:
    """MB/s of preprocess_plate and of the plain read, ``repeats`` alternating passes each."""
    preprocess_plate(plate, num_workers=workers)  # warm the page cache, untimed
    ours, plain, mb = [], [], 0.0
    for _ in range(repeats):
        result = preprocess_plate(plate, num_workers=workers)
        mb = result.bytes_read / MB
        ours.append(mb / result.seconds)
        plain.append(mb / plain_read(plate, workers))
    return {"workers": workers, "mb": mb, "preprocess": ours, "plain": plain}


def measure_peak(plate: Path, workers: int) -> dict:
    """Peak RSS (MB) of a fresh process preprocessing ``plate``, and its RSS after imports."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child-peak", str(plate), "--child-workers", str(workers)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024 / MB


def _child_peak(plate: str, workers: int) -> None:
    after_imports = _status_mb("VmRSS")
    result = preprocess_plate(plate, num_workers=workers)
    # VmHWM: this process's own high-water mark. ru_maxrss would also count the parent's RSS
    # at the fork that started us (Linux keeps it across exec).
    peak = _status_mb("VmHWM")
    shape = read_plate(plate).fovs[0].shape
    print(json.dumps({"shape": shape, "imports_mb": after_imports, "peak_mb": peak,
                      "read_mb": result.bytes_read / MB}))  # fmt: skip


def measure_error(plate: Path) -> list[dict]:
    """Largest relative error of the subsampled medians and IQRs against numpy's exact values.

    One row per channel and level: the worst FOV (and frame) of the plate.
    """
    info = read_plate(plate)
    rows = []
    for c, channel in enumerate(info.channel_names):
        pixels = [
            ts.open(tensorstore_spec(fov), read=True).result()[:, c].read().result()
            for fov in info.fovs
        ]
        pooled = np.concatenate([p.ravel() for p in pixels])
        cases = [("dataset_statistics", info.fovs[0].normalization[channel], pooled)]
        for fov, p in zip(info.fovs, pixels):
            entry = fov.normalization[channel]
            cases.append(("fov_statistics", entry, p))
            cases += [(TIMEPOINT, entry, p[t], str(t)) for t in range(len(p))]
        worst: dict[str, dict] = {}
        for level, entry, values, *frame in cases:
            got = entry[level][frame[0]] if frame else entry[level]
            q25, q50, q75 = np.percentile(values, [25, 50, 75])
            row = worst.setdefault(level, {"channel": channel, "level": level, "cases": 0})
            row["cases"] += 1
            for key, error in (
                ("median", abs(got["median"] - q50) / abs(q50)),
                ("iqr", abs(got["iqr"] - (q75 - q25)) / abs(q75 - q25)),
                ("median_over_iqr", abs(got["median"] - q50) / abs(q75 - q25)),
            ):
                row[key] = max(row.get(key, 0.0), error)
        rows += worst.values()
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Preprocess options (shared with ``benchmarks/run.py``)."""
    group = parser.add_argument_group("preprocess")
    group.add_argument("--preprocess-size", type=int, default=2048, help="FOV side (px)")
    group.add_argument("--preprocess-z", type=int, default=5)
    group.add_argument("--preprocess-frames", type=int, default=10)
    group.add_argument("--preprocess-workers", type=int, nargs="+", default=[1, 2])
    group.add_argument(
        "--preprocess-peak-frames", type=int, nargs="*", default=[5, 20],
        help="T of the one-FOV plates whose peak RSS is measured (none: skip)",
    )  # fmt: skip


def smoke_arguments(args: argparse.Namespace) -> None:
    """Tiny sizes for CI."""
    args.preprocess_size, args.preprocess_z, args.preprocess_frames = 96, 2, 3
    args.preprocess_workers, args.preprocess_peak_frames = [0, 2], [2]


def run_all(root: Path, args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """Throughput per worker count and peak RSS per frame count."""
    plate = write_data(root, args)
    throughput = [measure_throughput(plate, w, args.repeats) for w in args.preprocess_workers]
    workers = max(args.preprocess_workers)
    peaks = []
    for frames in args.preprocess_peak_frames:
        long_plate = write_long_fov(
            plate, root / f"long_t{frames}_{plate.parent.name}.zarr", frames
        )
        peaks.append({"frames": frames, "workers": workers, **measure_peak(long_plate, workers)})
    return throughput, peaks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--error", action="store_true", help="subsample error vs exact")
    parser.add_argument("--data-dir", type=Path, help="write the data here (default: temp)")
    parser.add_argument("--child-peak", help=argparse.SUPPRESS)
    parser.add_argument("--child-workers", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_peak:
        return _child_peak(args.child_peak, args.child_workers)
    if args.smoke:
        smoke_arguments(args)
        args.repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir or Path(tmp)
        throughput, peaks = run_all(root, args)
        errors = measure_error(write_data(root, args)) if args.error else []
    size, z, frames = args.preprocess_size, args.preprocess_z, args.preprocess_frames
    print(f"plate: 2 FOVs x 2 channels x T={frames} x Z={z} x {size}x{size} float32, "
          f"{len(os.sched_getaffinity(0))} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'workers':>7} {'MB':>8} {'preprocess MB/s':>24} {'plain read MB/s':>24} {'ratio':>6}")
    for r in throughput:
        ratio = statistics.median(a / b for a, b in zip(r["preprocess"], r["plain"]))
        print(f"{r['workers']:>7} {r['mb']:>8.0f} {spread(r['preprocess']):>24} "
              f"{spread(r['plain']):>24} {ratio:>6.2f}")  # fmt: skip
    for p in peaks:
        print(f"peak RSS, one FOV {tuple(p['shape'])}, {p['workers']} workers: "
              f"{p['peak_mb']:.0f} MB ({p['imports_mb']:.0f} MB after imports; "
              f"{p['read_mb']:.0f} MB read)")  # fmt: skip
    for e in errors:
        print(f"largest error of {e['cases']:>3} {e['level']:<22} {e['channel'][:12]:<12}: "
              f"median {100 * e['median']:.3f}% (of the IQR: {100 * e['median_over_iqr']:.3f}%),"
              f" IQR {100 * e['iqr']:.3f}%")  # fmt: skip


if __name__ == "__main__":
    main()
