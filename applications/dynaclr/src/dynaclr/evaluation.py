"""Does an encoder capture cell state? Embed held-out cells, probe them, measure smoothness.

Two figures, both computed on embeddings of cells the encoder never trained on:

- **linear-probe accuracy**: a logistic regression fitted on half of the lineages predicts a
  label (e.g. the demo's ``infected``) on the other half; balanced accuracy, so chance is
  1 / number of classes.
- **temporal smoothness**: mean distance between consecutive frames of a track divided by the
  mean distance between random pairs of observations (lower is smoother; 1 is no structure).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

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


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def linear_probe_accuracy(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    seed: int = 0,
    weight_decay: float = 1e-2,
) -> float:
    """Balanced test accuracy of a logistic regression trained on half of the groups.

    Balanced accuracy (mean recall over classes) is 0.5 by chance for two classes, whatever
    their proportions.

    Parameters
    ----------
    features : np.ndarray
        ``(N, D)`` embeddings.
    labels : np.ndarray
        ``(N,)`` integer class per observation.
    groups : np.ndarray
        ``(N,)`` group per observation (e.g. lineage): a group is wholly in train or test, so
        the probe cannot memorise a cell.
    seed : int, default 0
        Seed of the group split.
    weight_decay : float, default 1e-2
        L2 penalty of the regression.
    """
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    train_groups = rng.permutation(unique)[: len(unique) // 2]
    in_train = np.isin(groups, train_groups)
    x_train, x_test = _standardize(features[in_train], features[~in_train])
    classes, y = np.unique(labels, return_inverse=True)
    x = torch.from_numpy(x_train.astype(np.float32))
    target = torch.from_numpy(y[in_train])
    linear = nn.Linear(x.shape[1], len(classes))
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(linear(x), target)
        loss = loss + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = linear(torch.from_numpy(x_test.astype(np.float32))).argmax(1).numpy()
    truth = y[~in_train]
    recalls = [np.mean(predicted[truth == c] == c) for c in np.unique(truth)]
    return float(np.mean(recalls))


def temporal_smoothness(
    features: np.ndarray, tracks: pl.DataFrame, seed: int = 0, n_random: int = 20000
) -> float:
    """Mean distance of consecutive frames of a track over that of random pairs.

    Features are L2-normalised first (cosine geometry, as the contrastive loss sees them).
    """
    z = features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-12)
    order = tracks.with_row_index("i").sort("global_track_id", "t")
    i = order["i"].to_numpy()
    same = order["global_track_id"].to_numpy()
    t = order["t"].to_numpy()
    consecutive = (same[1:] == same[:-1]) & (t[1:] - t[:-1] == 1)
    a, b = i[:-1][consecutive], i[1:][consecutive]
    near = np.linalg.norm(z[a] - z[b], axis=1).mean()
    rng = np.random.default_rng(seed)
    p, q = rng.integers(0, len(z), n_random), rng.integers(0, len(z), n_random)
    far = np.linalg.norm(z[p] - z[q], axis=1).mean()
    return float(near / far)


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
