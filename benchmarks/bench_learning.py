"""Does DynaCLR learn? Trained vs randomly initialised encoder on held-out cells of the demo.

Trains the packaged demo config (``dynaclr/configs/demo_fit.yml``) on the first FOV of every
demo well for a budget of epochs, then embeds the held-out second FOVs with the trained
encoder and with the same encoder at its random initialisation, and prints linear-probe
accuracy of the hidden infection state and temporal smoothness (consecutive-frame distance
over random-pair distance) for both, as medians over seeds.

``--chunk-aware`` trains every seed twice, with random batches and with chunk-aware batching
(``--data.groups_per_batch`` and ``--data.tau_per_group``), and says whether the chunk-aware
medians lie within the seed-to-seed spread (min to max) of random batching.

    uv run python benchmarks/bench_learning.py                  # default budget
    uv run python benchmarks/bench_learning.py --chunk-aware    # both batching modes
    uv run python benchmarks/bench_learning.py --smoke          # seconds, for CI
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
from spread import spread

from dynaclr.evaluation import train_and_compare

METRICS = ("probe_accuracy", "smoothness")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--limit-train-batches", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--chunk-aware", action="store_true", help="also chunk-aware batching")
    parser.add_argument("--groups-per-batch", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="1 epoch of 2 batches, 1 seed")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.limit_train_batches, args.seeds = 1, 2, 1
    modes = {"random batches": []}
    if args.chunk_aware:
        modes[f"chunk-aware, k={args.groups_per_batch}"] = [
            f"--data.groups_per_batch={args.groups_per_batch}",
            "--data.tau_per_group=true",
        ]
    pl.seed_everything(0, verbose=False)
    results: dict[str, list] = {mode: [] for mode in modes}
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for mode, extra in modes.items():
                results[mode].append(
                    train_and_compare(Path(tmp), args.epochs, args.limit_train_batches, seed, extra)
                )
    print(
        f"demo held-out FOVs, {args.epochs} epochs, {args.seeds} seed(s), "
        f"{time.perf_counter() - tic:.0f} s; median (min/max) over seeds"
    )
    print(f"{'batches':<20} {'encoder':<8} {'probe accuracy':>24} {'chance':>7} {'smoothness':>24}")
    for mode, runs in results.items():
        for name in ("trained", "random"):
            acc = [r[name]["probe_accuracy"] for r in runs]
            smooth = [r[name]["smoothness"] for r in runs]
            print(
                f"{mode:<20} {name:<8} {spread(acc, '.3f'):>24} {runs[0][name]['chance']:>7.3f} "
                f"{spread(smooth, '.3f'):>24}"
            )
    if args.chunk_aware:
        base, grouped = (results[mode] for mode in modes)
        for metric in METRICS:
            seeds = [r["trained"][metric] for r in base]
            median = statistics.median(r["trained"][metric] for r in grouped)
            inside = min(seeds) <= median <= max(seeds)
            print(
                f"chunk-aware trained {metric} median {median:.3f} is "
                f"{'within' if inside else 'OUTSIDE'} the random-batch seed spread "
                f"[{min(seeds):.3f}, {max(seeds):.3f}]"
            )


if __name__ == "__main__":
    main()
