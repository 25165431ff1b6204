"""Benchmark: writing the synthetic demo dataset (dynaclr.demo.write_demo_dataset).

    uv run python benchmarks/bench_demo.py                  # default demo and 512 x 512 FOVs
    uv run python benchmarks/bench_demo.py --sizes 128 512 1024 --frames 50 --repeats 3
    uv run python benchmarks/bench_demo.py --smoke          # tiny sizes, seconds (CI)

For each FOV size, one experiment with 2 wells x 1 FOV, 2 channels and chunks (1, 1, Z, Y, X)
is written ``--repeats`` times into a fresh temporary folder. Baseline in the same run:
:func:`viscy_data.testing.write_hcs_plate` of the same voxel count of precomputed float32
noise (the cost of encoding and writing the chunks alone); ratio = demo / baseline. The row
``default`` is the call ``dynaclr fit`` makes (2 experiments, 128 x 128, 20 frames).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dynaclr.demo import write_demo_dataset
from viscy_data.testing import write_hcs_plate


def _time(fn: Callable[[Path], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            fn(Path(folder))
            times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512], help="FOV sizes (px)")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--z", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.frames, args.z, args.repeats = [64], 4, 2, 1

    rows = []
    if not args.smoke:
        times = _time(lambda root: write_demo_dataset(root), args.repeats)
        rows.append(("default", 2 * 4 * 20 * 2 * 3 * 128 * 128, times, None))
    for size in args.sizes:
        shape = (args.frames, 2, args.z, size, size)
        chunks = (1, 1, args.z, size, size)
        cells = max(4, size * size // 2500)

        def demo(root: Path, size=size, chunks=chunks, cells=cells) -> None:
            write_demo_dataset(
                root, 1, n_frames=args.frames, image_size=size, z_slices=args.z,
                fovs_per_well=1, cells_per_fov=cells, cell_radius=max(4.0, size / 40),
                chunks=chunks,
            )  # fmt: skip

        noise = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)

        def baseline(root: Path, noise=noise, chunks=chunks) -> None:
            fovs = {"A/1/0": noise, "A/2/0": noise}
            write_hcs_plate(root / "p.zarr", fovs, ["a", "b"], chunks=chunks)

        voxels = 2 * int(np.prod(shape))
        rows.append((f"{size}x{size}", voxels, _time(demo, args.repeats), None))
        rows.append((f"  baseline {size}", voxels, _time(baseline, args.repeats), rows[-1][2]))

    print(f"frames={args.frames} z={args.z} repeats={args.repeats} (seconds)")
    header = f"{'case':<16}{'Mvoxels':>9}{'median':>9}{'min':>8}{'max':>8}{'Mvox/s':>9}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, voxels, times, demo_times in rows:
        med = statistics.median(times)
        ratio = f"{statistics.median(demo_times) / med:8.2f}" if demo_times else f"{'':>8}"
        print(
            f"{name:<16}{voxels / 1e6:9.1f}{med:9.3f}{min(times):8.3f}{max(times):8.3f}"
            f"{voxels / 1e6 / med:9.1f}{ratio}"
        )
    print("ratio = demo median / baseline median (same voxels, precomputed noise)")
    print(
        f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f}"
        " MB"
    )


if __name__ == "__main__":
    main()
