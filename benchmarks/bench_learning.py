"""Does DynaCLR learn? The default demo fit vs its random initialisation, on a held-out experiment.

Runs the default demo fit (``uv run dynaclr fit``: the packaged ``dynaclr/configs/demo_fit.yml``
on the built-in demo, which trains on ``demo0_SEC61B`` and validates on ``demo1_TOMM20``) once
per seed, then embeds every cell of the held-out experiment ``demo1_TOMM20`` (never trained
on) with the trained encoder and with the same encoder at its random initialisation, and
prints, as median (min/max) over seeds:

- linear-probe balanced accuracy of the per-cell ``infected`` state (probe trained on half of
  the lineages, tested on the other half; :func:`dynaclr.evaluation.linear_probe_accuracy`);
- temporal smoothness: mean distance between consecutive frames of a track over that of
  random pairs, lower is better (:func:`dynaclr.evaluation.temporal_smoothness`);
- an oracle: the same probe on a hand-made feature, the reporter's nuclear enrichment (mean
  of the reporter within 2 px of the patch centre, where the nucleus is, minus its mean in a
  ring at 0.6-0.8 cell radii, the cytoplasm), measured on the same patches the encoders see.
  In the demo renderer the infected state *is* the reporter moving into the nucleus, so this
  is about the best a probe of these patches can do.

``--chunk-aware`` trains every seed twice, with random batches and with chunk-aware batching
(``--data.groups_per_batch`` and ``--data.tau_per_group``), and says whether the chunk-aware
medians lie within the seed-to-seed spread (min to max) of random batching.

    uv run python benchmarks/bench_learning.py                  # default fit, 3 seeds
    uv run python benchmarks/bench_learning.py --chunk-aware    # both batching modes
    uv run python benchmarks/bench_learning.py --smoke          # seconds, for CI
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from spread import spread

from dynaclr.evaluation import evaluate_encoder, linear_probe_accuracy

METRICS = ("probe_accuracy", "smoothness")
HELD_OUT = "demo1_TOMM20"
"""The demo config's validation experiment: its cells are never trained on."""
LABEL = "infected"


@torch.no_grad()
def nuclear_enrichment(datamodule, cell_radius: float = 8.0) -> np.ndarray:
    """Per observation of the predict split: reporter mean near the centre minus in a ring.

    Measured on the patches the encoders see (normalised, centre-cropped), channel 1 (the
    reporter), middle Z slice. Returns ``(N, 1)``, in the order of
    ``predict_dataset.index.tracks``.
    """
    parts, rows = [], []
    for batch in datamodule.predict_dataloader():
        batch = datamodule.transform_batch(batch, training=False)
        image = batch["anchor"][:, 1, batch["anchor"].shape[2] // 2].float()  # (B, Y, X)
        y, x = (torch.arange(n, dtype=torch.float32) - (n - 1) / 2 for n in image.shape[-2:])
        radius = torch.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
        centre = radius <= 2.0
        ring = (radius >= 0.6 * cell_radius) & (radius <= 0.8 * cell_radius)
        parts.append((image[:, centre].mean(1) - image[:, ring].mean(1)).numpy())
        rows.append(np.asarray(batch["index"]["row"]))
    order = np.argsort(np.concatenate(rows))
    return np.concatenate(parts)[order][:, None]


def fit_and_compare(
    workdir: Path,
    seed: int = 0,
    epochs: int | None = None,
    limit_train_batches: int | None = None,
    extra_args: Sequence[str] = (),
    experiments: Path | None = None,
) -> dict[str, dict[str, float]]:
    """Run the default demo fit and evaluate trained vs random-init encoders on :data:`HELD_OUT`.

    Parameters
    ----------
    workdir : Path
        Holds the demo (written if absent) and the run.
    seed : int, default 0
        ``seed_everything``, ``data.seed`` and the probe's lineage split.
    epochs, limit_train_batches : int, optional
        Override the config's budget (default: the default fit's).
    extra_args : sequence of str, default ()
        More ``dynaclr fit`` arguments, e.g. ``["--data.groups_per_batch=4"]``.
    experiments : Path, optional
        An existing default demo's ``experiments.yml`` (default: ``workdir/demo``'s).

    Returns
    -------
    dict
        ``{"trained": metrics, "random": metrics, "oracle": {"probe_accuracy"}, "fit_s": s}``
        with metrics as from :func:`dynaclr.evaluation.evaluate_encoder`.
    """
    from dynaclr.cli import DynaCLRCLI, packaged_config
    from dynaclr.demo import write_demo_dataset

    experiments = experiments or workdir / "demo" / "experiments.yml"
    if not experiments.is_file():
        write_demo_dataset(workdir / "demo")
    args = [
        "--config",
        str(packaged_config("demo_fit.yml")),
        f"--data.experiments_yaml={experiments}",
        f"--seed_everything={seed}",
        f"--data.seed={seed}",
        f"--trainer.default_root_dir={workdir / f'run{seed}_{len(extra_args)}'}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
    ]
    if epochs is not None:
        args.append(f"--trainer.max_epochs={epochs}")
    if limit_train_batches:
        args.append(f"--trainer.limit_train_batches={limit_train_batches}")
    args += list(extra_args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = DynaCLRCLI(args=args, run=False, save_config_callback=None)
        random_encoder = copy.deepcopy(cli.model.encoder)
        tic = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        fit_s = time.perf_counter() - tic
    dm = cli.datamodule
    dm.predict_experiments, dm.exclude_fovs = [HELD_OUT], None
    dm.setup("predict")
    tracks = dm.predict_dataset.index.tracks
    oracle = linear_probe_accuracy(
        nuclear_enrichment(dm), tracks[LABEL].to_numpy(), tracks["lineage_id"].to_numpy(), seed
    )
    return {
        "trained": evaluate_encoder(cli.model.encoder, dm, label=LABEL, seed=seed),
        "random": evaluate_encoder(random_encoder, dm, label=LABEL, seed=seed),
        "oracle": {"probe_accuracy": oracle},
        "fit_s": fit_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--limit-train-batches", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--chunk-aware", action="store_true", help="also chunk-aware batching")
    parser.add_argument("--groups-per-batch", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="1 epoch of 2 batches, 1 seed")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary one")
    parser.add_argument("extra", nargs="*", help="more dynaclr fit arguments (after --)")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.limit_train_batches, args.seeds = 1, 2, 1
    modes = {"random batches": list(args.extra)}
    if args.chunk_aware:
        modes[f"chunk-aware, k={args.groups_per_batch}"] = [
            *args.extra,
            f"--data.groups_per_batch={args.groups_per_batch}",
            "--data.tau_per_group=true",
        ]
    results: dict[str, list] = {mode: [] for mode in modes}
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir or Path(tmp)
        for seed in range(args.seeds):
            for mode, extra in modes.items():
                result = fit_and_compare(root, seed, args.epochs, args.limit_train_batches, extra)
                results[mode].append(result)
                print(
                    f"seed {seed} {mode}: fit {result['fit_s']:.0f} s, "
                    + ", ".join(
                        f"{name} {result[name]['probe_accuracy']:.3f}"
                        + (f"/{result[name]['smoothness']:.3f}" if name != "oracle" else "")
                        for name in ("trained", "random", "oracle")
                    ),
                    flush=True,
                )
    budget = "default fit" if args.epochs is None else f"{args.epochs} epochs"
    print(
        f"held-out experiment {HELD_OUT} ({LABEL}), {budget}, {args.seeds} seed(s), "
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
        oracle = [r["oracle"]["probe_accuracy"] for r in runs]
        print(f"{mode:<20} {'oracle':<8} {spread(oracle, '.3f'):>24} {'':>7} {'':>24}")
        print(f"{mode:<20} fit wall time (s, in-process) {spread([r['fit_s'] for r in runs])}")
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
