"""Does an encoder capture cell state? Embed held-out cells, probe them, measure smoothness.

Two figures, both computed on embeddings of cells the encoder never trained on:

- **linear-probe accuracy**: a logistic regression fitted on half of the lineages predicts a
  label (e.g. the demo's ``infected``) on the other half; balanced accuracy, so chance is
  1 / number of classes.
- **temporal smoothness**: mean distance between consecutive frames of a track divided by the
  mean distance between random pairs of observations (lower is smoother; 1 is no structure).

Both are defined once, in :mod:`dynaclr.evaluate.metrics` (``dynaclr evaluate`` uses them too).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

from dynaclr.evaluate.metrics import linear_probe_accuracy, temporal_smoothness

__all__ = [
    "HELD_OUT_FOVS",
    "TRAIN_FOVS",
    "embed_observations",
    "evaluate_encoder",
    "linear_probe_accuracy",
    "temporal_smoothness",
    "train_and_compare",
]


@torch.no_grad()
def embed_observations(encoder: nn.Module, datamodule) -> tuple[np.ndarray, pl.DataFrame]:
    """Features of every observation of the datamodule's predict split.

    The datamodule must have run ``setup("predict")``; batches get the evaluation transforms
    (normalizations and crop, no augmentation).

    Returns
    -------
    features : np.ndarray
        ``(N, D)`` float32, one row per row of ``predict_dataset.index.tracks``.
    tracks : pl.DataFrame
        The observations, in the same order.
    """
    encoder.eval()
    dataset = datamodule.predict_dataset
    features = np.zeros((len(dataset), 0), dtype=np.float32)
    parts, rows = [], []
    for batch in datamodule.predict_dataloader():
        batch = datamodule.transform_batch(batch, training=False)
        out, _ = encoder(batch["anchor"])
        parts.append(out.float().cpu().numpy())
        rows.append(np.asarray(batch["index"]["row"]))
    if parts:
        order = np.argsort(np.concatenate(rows))
        features = np.concatenate(parts)[order]
    return features, dataset.index.tracks


def evaluate_encoder(
    encoder: nn.Module, datamodule, label: str = "infected", seed: int = 0
) -> dict[str, float]:
    """Linear-probe accuracy of ``label`` and temporal smoothness on the predict split.

    Returns ``{"probe_accuracy", "chance", "smoothness"}``; ``chance`` is the balanced
    accuracy of guessing (1 / number of classes).
    """
    features, tracks = embed_observations(encoder, datamodule)
    if label not in tracks.columns:
        raise ValueError(f"the tracks have no {label!r} column; columns: {tracks.columns}")
    labels = tracks[label].to_numpy()
    groups = tracks["lineage_id"].to_numpy()
    return {
        "probe_accuracy": linear_probe_accuracy(features, labels, groups, seed=seed),
        "chance": 1.0 / len(np.unique(labels)),
        "smoothness": temporal_smoothness(features, tracks, seed=seed),
    }


TRAIN_FOVS = ["A/1/0", "A/2/0"]
HELD_OUT_FOVS = ["A/1/1", "A/2/1"]
"""The demo has two FOVs per well: train on the first, evaluate on the held-out second."""


def train_and_compare(
    workdir: Path,
    epochs: int,
    limit_train_batches: int | None = None,
    seed: int = 0,
    extra_args: Sequence[str] = (),
) -> dict[str, dict[str, float]]:
    """Fit the packaged demo config and evaluate trained vs random-init encoders.

    Trains on the first FOV of every demo well (:data:`TRAIN_FOVS`) and evaluates on the
    held-out second FOVs, with the encoder as trained and as it was initialised.

    Parameters
    ----------
    workdir : Path
        Holds the demo (written if absent) and the run.
    epochs : int
        Training budget.
    limit_train_batches : int, optional
        Cap on batches per epoch.
    seed : int, default 0
        Seed of the run, the sampler and the probe split.
    extra_args : sequence of str, default ()
        More ``dynaclr fit`` arguments, e.g. ``["--data.groups_per_batch=4"]``.

    Returns
    -------
    dict
        ``{"trained": metrics, "random": metrics}`` as from :func:`evaluate_encoder`.
    """
    import copy
    import warnings

    from dynaclr.cli import DynaCLRCLI, packaged_config
    from dynaclr.demo import write_demo_dataset

    experiments = workdir / "demo" / "experiments.yml"
    if not experiments.is_file():
        write_demo_dataset(workdir / "demo")
    args = [
        "--config",
        str(packaged_config("demo_fit.yml")),
        f"--data.experiments_yaml={experiments}",
        f"--seed_everything={seed}",
        f"--data.seed={seed}",
        f"--trainer.max_epochs={epochs}",
        f"--trainer.default_root_dir={workdir / f'run{seed}_{len(extra_args)}'}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.limit_val_batches=0",
        "--data.val_experiments=[]",
        f"--data.exclude_fovs={HELD_OUT_FOVS}",
        "--trainer.logger=false",
        "--trainer.callbacks=[]",
        "--trainer.enable_checkpointing=false",
    ]
    if limit_train_batches:
        args.append(f"--trainer.limit_train_batches={limit_train_batches}")
    args += list(extra_args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = DynaCLRCLI(args=args, run=False, save_config_callback=None)
    random_encoder = copy.deepcopy(cli.model.encoder)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    dm = cli.datamodule
    dm.exclude_fovs = TRAIN_FOVS  # embed only the held-out FOVs of every experiment
    dm.setup("predict")
    return {
        "trained": evaluate_encoder(cli.model.encoder, dm, seed=seed),
        "random": evaluate_encoder(random_encoder, dm, seed=seed),
    }
