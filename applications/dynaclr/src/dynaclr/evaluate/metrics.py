"""The metrics of an embedding: linear probe, temporal smoothness, effective rank.

One definition each, used by ``dynaclr evaluate`` (:mod:`dynaclr.evaluate.report`), by the
learning check (:mod:`dynaclr.evaluation`) and by ``benchmarks/bench_learning.py``:

- **linear probe**: a logistic regression fitted on half of the groups (lineages) predicts a
  label on the other half; balanced accuracy (mean recall over classes), so chance is
  1 / number of classes whatever their proportions;
- **temporal smoothness**: mean distance between consecutive frames of a track over the mean
  distance between random pairs (L2-normalised features; lower is smoother, 1 is none);
- **effective rank** (Roy and Vetterli, 2007): ``exp`` of the entropy of the normalised
  singular values of the centred features: how many dimensions the embedding uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

__all__ = [
    "ProbeResult",
    "effective_rank",
    "linear_probe",
    "linear_probe_accuracy",
    "temporal_smoothness",
]


@dataclass(frozen=True)
class ProbeResult:
    """A linear probe scored on its held-out groups.

    Attributes
    ----------
    balanced_accuracy : float
        Mean recall over the classes present in the test half.
    chance : float
        ``1 / len(classes)``.
    classes : np.ndarray
        The label values, sorted.
    confusion : np.ndarray
        ``(K, K)`` int64 counts of test observations: row = true class, column = predicted.
    """

    balanced_accuracy: float
    chance: float
    classes: np.ndarray
    confusion: np.ndarray


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def linear_probe(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    seed: int = 0,
    weight_decay: float = 1e-2,
) -> ProbeResult:
    """A logistic regression trained on half of the groups, scored on the other half.

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
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    return ProbeResult(float(np.mean(recalls)), 1.0 / len(classes), classes, confusion)


def linear_probe_accuracy(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    seed: int = 0,
    weight_decay: float = 1e-2,
) -> float:
    """Balanced test accuracy of :func:`linear_probe` (same parameters)."""
    return linear_probe(features, labels, groups, seed, weight_decay).balanced_accuracy


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


def effective_rank(features: np.ndarray) -> float:
    """``exp(H(p))`` with ``p`` the singular values of the centred ``(N, D)`` features over
    their sum (Roy and Vetterli, 2007): 1 for a line, ``D`` for an isotropic cloud.

    Computed from the ``(D, D)`` covariance, so memory does not grow with ``N``.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.shape[0] < 2:
        return 1.0
    x = x - x.mean(0)
    eigen = np.linalg.eigvalsh(x.T @ x)
    singular = np.sqrt(np.clip(eigen, 0.0, None))
    total = singular.sum()
    if total <= 0:
        return 1.0
    p = singular[singular > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))
