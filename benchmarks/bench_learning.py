"""Does DynaCLR learn? Trained vs randomly initialised encoder on held-out cells of the demo.

Trains the packaged demo config (``dynaclr/configs/demo_fit.yml``) on the first FOV of every
demo well for a budget of epochs, then embeds the held-out second FOVs with the trained
encoder and with the same encoder at its random initialisation, and prints linear-probe
accuracy of the hidden infection state and temporal smoothness (consecutive-frame distance
over random-pair distance) for both, as medians over seeds.

    uv run python benchmarks/bench_learning.py            # default budget
    uv run python benchmarks/bench_learning.py --smoke    # seconds, for CI
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl

from dynaclr.evaluation import train_and_compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--limit-train-batches", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="1 epoch of 2 batches, 1 seed")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.limit_train_batches, args.seeds = 1, 2, 1
    pl.seed_everything(0, verbose=False)
    results, tic = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            results.append(
                train_and_compare(Path(tmp), args.epochs, args.limit_train_batches, seed)
            )
    print(
        f"demo held-out FOVs, {args.epochs} epochs, {args.seeds} seed(s), "
        f"{time.perf_counter() - tic:.0f} s; median (min/max) over seeds"
    )
    print(f"{'encoder':<10} {'probe accuracy':>24} {'chance':>8} {'smoothness (lower=better)':>28}")
    for name in ("trained", "random"):
        acc = [r[name]["probe_accuracy"] for r in results]
        smooth = [r[name]["smoothness"] for r in results]
        chance = results[0][name]["chance"]
        print(
            f"{name:<10} {statistics.median(acc):>10.3f} ({min(acc):.3f}/{max(acc):.3f})"
            f" {chance:>8.3f} {statistics.median(smooth):>14.3f} "
            f"({min(smooth):.3f}/{max(smooth):.3f})"
        )


if __name__ == "__main__":
    main()
