"""Benchmark: batched transforms against the same transform applied one sample at a time.

    uv run python benchmarks/bench_transforms.py                       # B=32, C=2, Z=5, YX=160, CPU
    uv run python benchmarks/bench_transforms.py --batch 128 --yx 256 --device cuda --repeats 20
    uv run python benchmarks/bench_transforms.py --smoke               # tiny sizes, seconds (CI)

For each transform (prob=1, so every sample is transformed) it times one call on the whole
``(B, C, Z, Y, X)`` float32 batch ("batched") and, as the baseline measured in the same run, B
calls on ``(1, C, Z, Y, X)`` slices followed by ``torch.cat`` ("per-sample", the cost of a
per-sample dictionary-transform pipeline). Each repeat is timed with ``time.perf_counter`` after
one warm-up call (CUDA is synchronised before reading the clock). The table prints the median
and (min/max) in milliseconds and the ratio per-sample / batched median (> 1: batched is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from viscy_data.transforms import (
    BatchTransform,
    CenterCrop,
    Normalize,
    RandomAffine,
    RandomContrast,
    RandomGaussianNoise,
    RandomGaussianSmooth,
    RandomIntensityScale,
    ScaleIntensityPercentiles,
)


def _transforms(yx: int) -> dict[str, BatchTransform]:
    return {
        "Normalize": Normalize(),
        "ScaleIntensityPercentiles": ScaleIntensityPercentiles(),
        "RandomAffine": RandomAffine(shear_degrees=(-5.0, 5.0), prob=1.0),
        "RandomContrast": RandomContrast(prob=1.0),
        "RandomIntensityScale": RandomIntensityScale(prob=1.0),
        "RandomGaussianNoise": RandomGaussianNoise(prob=1.0),
        "RandomGaussianSmooth": RandomGaussianSmooth(sigma_z_range=(0.0, 1.0), prob=1.0),
        "CenterCrop": CenterCrop((yx // 2, yx // 2)),
    }


def _meta(x: torch.Tensor) -> dict:
    flat = x.flatten(2)
    mean, std = flat.mean(-1), flat.std(-1)
    stats = {c: {"mean": mean[:, c], "std": std[:, c]} for c in range(x.shape[1])}
    return {c: {"fov_statistics": s} for c, s in stats.items()}


def _time(fn: Callable[[], torch.Tensor], repeats: int, device: torch.device) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _summary(times: list[float]) -> str:
    return f"{statistics.median(times):9.2f} ({min(times):.2f}/{max(times):.2f})"


def run(batch: int, channels: int, z: int, yx: int, repeats: int, device: str) -> list[dict]:
    """Time every transform batched and per sample; return one row per transform."""
    dev = torch.device(device)
    x = torch.rand(batch, channels, z, yx, yx, generator=torch.Generator().manual_seed(0)) * 100
    x = x.to(dev)
    meta = _meta(x)
    rows = []
    for name, t in _transforms(yx).items():
        gen = torch.Generator().manual_seed(0)

        def batched(t=t, gen=gen) -> torch.Tensor:
            return t(x, norm_meta=meta, generator=gen)

        def per_sample(t=t, gen=gen) -> torch.Tensor:
            outs = []
            for i in range(batch):
                m = {c: {lv: {k: v[i : i + 1] for k, v in s.items()} for lv, s in levels.items()}
                     for c, levels in meta.items()}  # fmt: skip
                outs.append(t(x[i : i + 1], norm_meta=m, generator=gen))
            return torch.cat(outs)

        fast = _time(batched, repeats, dev)
        slow = _time(per_sample, repeats, dev)
        ratio = statistics.median(slow) / statistics.median(fast)
        rows.append({"transform": name, "batched": fast, "per_sample": slow, "ratio": ratio})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--z", type=int, default=5)
    parser.add_argument("--yx", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.channels, args.z, args.yx, args.repeats = 4, 2, 2, 32, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = (args.batch, args.channels, args.z, args.yx, args.yx)
    print(
        f"batch {shape} float32 on {args.device}, {torch.get_num_threads()} threads, "
        f"{args.repeats} repeats; ms median (min/max)"
    )
    print(f"{'transform':<27}{'batched':>24}{'per-sample (baseline)':>28}{'ratio':>8}")
    for row in run(args.batch, args.channels, args.z, args.yx, args.repeats, args.device):
        print(
            f"{row['transform']:<27}{_summary(row['batched']):>24}"
            f"{_summary(row['per_sample']):>28}{row['ratio']:>7.1f}x"
        )


if __name__ == "__main__":
    main()
