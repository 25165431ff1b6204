"""Benchmark: demo training steps/s on CPU with the loader feeding the model.

    uv run python benchmarks/bench_train_step.py                  # 10 steps x 3 repeats
    uv run python benchmarks/bench_train_step.py --steps 20 --workers 0 2 --repeats 5
    uv run python benchmarks/bench_train_step.py --smoke          # tiny sizes, seconds (CI)

The model, loss, data and transforms are those of ``dynaclr fit``'s built-in demo
(``dynaclr/configs/demo_fit.yml``: ContrastiveEncoder resnet18 with a (1, 4, 4) stem,
NTXentHCL, 2 x 1 x 64 x 64 reads centre-cropped to 48 x 48, batch 32, fov normalization and
the demo's augmentations) on the demo dataset (:func:`dynaclr.demo.write_demo_dataset`). One
step = ``on_after_batch_transfer`` (normalize, augment, crop, channel dropout), forward of
anchors and positives, loss, backward, AdamW step: what Lightning runs per batch, without
logging. Steps run in the main thread with torch's default intra-op threads, while the
loader's threads read ahead.

A repeat times ``--steps`` consecutive steps (after ``--warmup`` untimed ones; epochs roll
over as in training). ``wait`` is the fraction of the repeat spent blocked on the loader.
Baseline in the same run: the same steps on one batch held in memory (no loader);
``ratio`` = fed steps/s / baseline steps/s (1.0: the loader is fully hidden).

The second table prices the finite-loss check every training step runs
(:func:`viscy_models.engine.finite.check_finite_loss`, one device sync): held-batch steps
with and without it, in ABBA order; ``cost`` = 1 - median with / median without, ``paired
cost`` the median of 1 - with / without over adjacent pairs.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from dynaclr.cli import DynaCLRCLI, packaged_config
from dynaclr.demo import write_demo_dataset
from viscy_models.engine.finite import check_finite_loss


def demo_cli(experiments_yaml: Path, workers: int, *overrides: str) -> DynaCLRCLI:
    """The built-in demo's model and datamodule, parsed by ``dynaclr fit``'s CLI, not run.

    The CLI's links (``data.hcl_beta`` -> the loss's beta) apply as they do for ``dynaclr fit``;
    ``overrides`` are more command-line arguments. No trainer logger, checkpoint or callback.
    """
    args = [
        "--config", str(packaged_config("demo_fit.yml")),
        f"--data.experiments_yaml={experiments_yaml}",
        f"--data.num_workers={workers}",
        "--data.pin_memory=false",
        "--trainer.callbacks=[]",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        *overrides,
    ]  # fmt: skip
    logs = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [log.level for log in logs]
    for log in logs:  # no trainer banner (devices, seed, tips) in the table's output
        log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DynaCLRCLI(args=args, run=False, save_config_callback=None)
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


class DemoTraining:
    """The demo's datamodule, encoder, loss and optimizer, stepped by hand."""

    def __init__(self, experiments_yaml: Path, workers: int, smoke: bool = False) -> None:
        smoke_args = ["--data.batch_size=8", "--model.encoder.init_args.projection_dim=16"]
        cli = demo_cli(experiments_yaml, workers, *(smoke_args if smoke else []))
        self.datamodule = cli.datamodule
        self.datamodule.setup("fit")
        self.encoder = cli.model.encoder
        self.loss = cli.model.loss_function
        self.model = cli.model
        self.optimizer = torch.optim.AdamW(self.encoder.parameters(), lr=cli.model.lr)
        final = "x".join(str(v) for v in self.datamodule.final_yx_patch_size)
        self.description = (
            f"demo {cli.config.model.encoder.init_args.backbone}, batch "
            f"{self.datamodule.batch_size}, {final} crops"
        )

    def batches(self) -> Iterator[dict]:
        """Training batches forever, one epoch after another (a new iterator per epoch)."""
        while True:
            yield from self.datamodule.train_dataloader()

    def step(self, batch: dict, check_finite: bool = False) -> torch.Tensor:
        """One optimisation step on ``batch`` (with the finite-loss check if asked); the loss."""
        batch = self.datamodule.on_after_batch_transfer(dict(batch), 0)
        anchor, positive = batch["anchor"], batch["positive"]
        _, projections = self.encoder(torch.cat([anchor, positive]))
        labels = torch.arange(anchor.shape[0]).repeat(2)
        loss = self.loss(projections, labels)
        if check_finite:
            check_finite_loss(self.model, loss, batch, 0, "train")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def measure(
    experiments_yaml: Path, workers: int, steps: int, warmup: int, repeats: int, smoke: bool
) -> dict[str, list[float]]:
    """Steps/s and waiting fraction with the loader, and steps/s on a held batch."""
    training = DemoTraining(experiments_yaml, workers, smoke)
    stream = training.batches()
    for _ in range(warmup):
        training.step(next(stream))
    fed, wait = [], []
    for _ in range(repeats):
        waited = 0.0
        start = time.perf_counter()
        for _ in range(steps):
            tic = time.perf_counter()
            batch = next(stream)
            waited += time.perf_counter() - tic
            training.step(batch)
        elapsed = time.perf_counter() - start
        fed.append(steps / elapsed)
        wait.append(waited / elapsed)
    stream.close()
    held = next(training.batches())
    alone = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            training.step(held)
        alone.append(steps / (time.perf_counter() - start))
    checked, unchecked = [], []
    for repeat in range(2 * repeats):  # ABBA order, so drift hits both alike
        pairs = ((False, unchecked), (True, checked))
        for check, out in pairs if repeat % 2 == 0 else pairs[::-1]:
            start = time.perf_counter()
            for _ in range(steps):
                training.step(held, check_finite=check)
            out.append(steps / (time.perf_counter() - start))
    loss = training.step(held)
    calls = 1000
    start = time.perf_counter()
    for _ in range(calls):
        check_finite_loss(training.model, loss, held, 0, "train")
    check_seconds = (time.perf_counter() - start) / calls
    return {
        "fed": fed, "wait": wait, "alone": alone, "threads": torch.get_num_threads(),
        "description": training.description, "checked": checked, "unchecked": unchecked,
        "check_seconds": check_seconds,
    }  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Train-step options (shared with ``benchmarks/run.py``)."""
    group = parser.add_argument_group("train step")
    group.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    group.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    group.add_argument("--train-workers", type=int, nargs="+", default=[2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.warmup, args.repeats = 2, 1, 1
    with tempfile.TemporaryDirectory() as tmp:
        demo = write_demo_dataset(Path(tmp), n_frames=6 if args.smoke else 20)
        print(f"demo training step on CPU, {args.steps} steps x {args.repeats} repeats")
        print(f"{'workers':>8}{'steps/s fed':>24}{'wait':>8}{'steps/s held batch':>24}{'ratio':>7}")
        results = []
        for workers in args.train_workers:
            r = measure(demo, workers, args.steps, args.warmup, args.repeats, args.smoke)
            results.append(r)
            fed, alone = statistics.median(r["fed"]), statistics.median(r["alone"])
            print(
                f"{workers:>8}{fed:>13.2f} ({min(r['fed']):.2f}/{max(r['fed']):.2f})"
                f"{statistics.median(r['wait']):>8.1%}"
                f"{alone:>13.2f} ({min(r['alone']):.2f}/{max(r['alone']):.2f}){fed / alone:>7.2f}"
            )
        checked = [v for r in results for v in r["checked"]]
        unchecked = [v for r in results for v in r["unchecked"]]
        with_check, without = statistics.median(checked), statistics.median(unchecked)
        paired = statistics.median(1 - a / b for a, b in zip(checked, unchecked))
        print("\nfinite-loss check, held batch (steps/s, median (min/max))")
        print(f"{'without':>24}{'with':>24}{'cost':>8}{'paired cost':>13}")
        print(
            f"{without:>13.2f} ({min(unchecked):.2f}/{max(unchecked):.2f})"
            f"{with_check:>13.2f} ({min(checked):.2f}/{max(checked):.2f})"
            f"{1 - with_check / without:>8.1%}{paired:>13.1%}"
        )
        alone_check = statistics.median(r["check_seconds"] for r in results)
        print(
            f"the check alone: {alone_check * 1e6:.1f} us a call, "
            f"{alone_check * without:.4%} of a step at {without:.2f} steps/s"
        )


if __name__ == "__main__":
    main()
