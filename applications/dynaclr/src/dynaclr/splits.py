"""Which experiments and FOVs each stage reads, and how the validation split is sampled.

Training and validation split by whole experiments (``val_experiments``) and, inside the
training experiments, by FOVs: named ones (``val_fovs``) and a seeded fraction of each
experiment's FOVs per condition (``val_fraction``, :func:`split_fovs`). Prediction reads
``predict_experiments`` (default: all). Every name is checked against the experiments YAML
before any pixel is read.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dynaclr.cell_index.fovs import KeptFOV
from dynaclr.cell_index.tau import round_half_up
from viscy_data.messages import unknown_names_message

__all__ = [
    "FOVSplit",
    "Splits",
    "check_experiment_names",
    "split_experiments",
    "split_fovs",
    "validation_sampling",
]


@dataclass(frozen=True)
class Splits:
    """Experiment names per split; None where the stage does not build that split."""

    train: list[str] | None
    val: list[str] | None
    predict: list[str] | None


def check_experiment_names(parameter: str, chosen: Sequence[str], names: list[str], where: str):
    """Raise a ValueError naming ``parameter``, the unknown names and the known ones."""
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise ValueError(
            unknown_names_message(
                f"{parameter} names {unknown}, not in {where}",
                unknown,
                names,
                known_label="experiments",
            )
        )


def split_experiments(
    names: list[str],
    val_experiments: Sequence[str],
    predict_experiments: Sequence[str] | None,
    stage: str | None,
    where: str,
) -> Splits:
    """The experiments of each split that ``stage`` (Lightning's, None = all) builds.

    Raises
    ------
    ValueError
        Unknown names in ``val_experiments`` / ``predict_experiments``, or every experiment
        in validation when training.
    """
    check_experiment_names("val_experiments", val_experiments, names, where)
    train = val = predict = None
    if stage in (None, "fit", "validate"):
        train = [n for n in names if n not in val_experiments]
        if not train and stage != "validate":
            raise ValueError(
                f"val_experiments={list(val_experiments)} holds every experiment of {where}; "
                "leave at least one for training."
            )
        train = train if stage != "validate" else None
        val = list(val_experiments) or None
    if stage in (None, "predict"):
        predict = list(predict_experiments or names)
        check_experiment_names("predict_experiments", predict, names, where)
    return Splits(train, val, predict)


def validation_sampling(
    experiment_weights: Mapping[str, float] | None,
    condition_ratio: Mapping[str, float] | None,
    conditions: Collection[str],
) -> tuple[None, dict[str, float] | None]:
    """``(experiment_weights, condition_ratio)`` for the validation sampler.

    Validation experiments are not those the training weights name, so they are drawn by
    anchor count; the condition ratio is kept only where it covers every validation condition
    (restricted to them), else conditions get equal shares.
    """
    del experiment_weights  # validation always draws experiments by anchor count
    if condition_ratio is None or not set(conditions) <= set(condition_ratio):
        return None, None
    return None, {k: v for k, v in condition_ratio.items() if k in conditions}


@dataclass(frozen=True)
class FOVSplit:
    """Training and validation FOVs, named ``"experiment/row/col/fov"``, disjoint.

    Attributes
    ----------
    train, val : tuple of str
        FOV names of each side, in registry then name order.
    experiments : tuple of str
        Every experiment, in registry order.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]
    experiments: tuple[str, ...]

    def experiments_of(self, side: Literal["train", "val"]) -> list[str]:
        """Experiments with at least one FOV on ``side``, in registry order."""
        names = {fov.split("/", 1)[0] for fov in getattr(self, side)}
        return [e for e in self.experiments if e in names]

    def excluded_from(self, side: Literal["train", "val"]) -> list[str]:
        """FOVs of the other side that belong to the experiments of ``side`` (to exclude)."""
        other = self.val if side == "train" else self.train
        mine = set(self.experiments_of(side))
        return [fov for fov in other if fov.split("/", 1)[0] in mine]

    def summary(self) -> str:
        """One line per side: how many FOVs of which experiments."""
        lines = []
        for side in ("train", "val"):
            fovs = getattr(self, side)
            per = defaultdict(list)
            for fov in fovs:
                experiment, name = fov.split("/", 1)
                per[experiment].append(name)
            parts = "; ".join(f"{e}: {', '.join(n)}" for e, n in per.items())
            lines.append(f"  {side}: {len(fovs)} FOV(s) ({parts})")
        return "\n".join(lines)


def _group_rng(seed: int, experiment: str, condition: str) -> np.random.Generator:
    """A generator keyed on (seed, experiment, condition), the same in every process."""
    return np.random.default_rng([seed, zlib.crc32(f"{experiment}\0{condition}".encode())])


def split_fovs(
    kept: Sequence[KeptFOV],
    val_experiments: Sequence[str],
    val_fovs: Sequence[str] | None,
    val_fraction: float,
    seed: int,
    where: str,
) -> FOVSplit:
    """Split the FOVs that the filters keep into training and validation.

    Validation gets every FOV of ``val_experiments``, the FOVs named in ``val_fovs``
    (``"experiment/row/col/fov"``, or ``"row/col/fov"`` in every training experiment that has
    it) and, per (experiment, condition) of the other experiments, a seeded
    ``round_half_up(val_fraction * n)`` of its ``n`` FOVs counting the named ones: at least
    one and at most ``n - 1`` when ``n >= 2`` (so each such condition keeps a FOV on each
    side), none when ``n == 1``. The choice is a pure function of the FOVs and ``seed``.

    Parameters
    ----------
    kept : sequence of KeptFOV
        The FOVs the filters keep (:func:`dynaclr.cell_index.fovs.filter_fovs`).
    val_experiments : sequence of str
        Whole experiments held out.
    val_fovs : sequence of str or None
        FOVs held out by name.
    val_fraction : float
        Fraction in ``[0, 1)`` held out per condition; 0 holds out none.
    seed : int
        Seed of the choice.
    where : str
        The experiments YAML, named in messages.

    Raises
    ------
    ValueError
        A bad ``val_fraction``, a ``val_fovs`` name that no kept FOV has (with the nearest
        names), or a split that leaves a side empty (saying why).
    """
    if isinstance(val_fraction, bool) or not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
    experiments = tuple(dict.fromkeys(k.experiment for k in kept))
    held = {k.qualified_name for k in kept if k.experiment in set(val_experiments)}
    named = _resolve_val_fovs(kept, val_fovs or [], where)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for k in kept:
        if k.experiment not in set(val_experiments):
            groups[(k.experiment, k.condition)].append(k.qualified_name)
    chosen = set(named)
    for (experiment, condition), names in groups.items():
        n = len(names)
        target = 0
        if val_fraction > 0 and n >= 2:
            target = min(max(round_half_up(val_fraction * n), 1), n - 1)
        picked = [name for name in names if name in named]
        rest = [name for name in names if name not in named]
        extra = max(target - len(picked), 0)
        order = _group_rng(seed, experiment, condition).permutation(len(rest))
        chosen.update(rest[i] for i in sorted(order[:extra]))
    val = held | chosen
    ordered = [k.qualified_name for k in kept]
    split = FOVSplit(
        train=tuple(f for f in ordered if f not in val),
        val=tuple(f for f in ordered if f in val),
        experiments=experiments,
    )
    _check_sides(split, val_experiments, val_fovs, val_fraction, groups, where)
    return split


def _resolve_val_fovs(kept: Sequence[KeptFOV], val_fovs: Sequence[str], where: str) -> set[str]:
    """Qualified names of the FOVs ``val_fovs`` names; unknown names are an error."""
    if isinstance(val_fovs, str) or not all(isinstance(v, str) for v in val_fovs):
        raise ValueError(
            f"val_fovs must be a list of FOV names such as ['A/1/0'] or ['exp/A/1/0'], got "
            f"{val_fovs!r}"
        )
    by_plain: dict[str, set[str]] = defaultdict(set)
    for k in kept:
        by_plain[k.fov.fov_name].add(k.qualified_name)
        by_plain[k.qualified_name].add(k.qualified_name)
    names = [v.strip("/") for v in val_fovs]
    unknown = [v for v in names if v not in by_plain]
    if unknown:
        raise ValueError(
            unknown_names_message(
                f"val_fovs names {unknown}, which are not FOVs of {where} left by the filters "
                "(include_wells, exclude_fovs, condition_wells)",
                unknown,
                sorted(by_plain),
                known_label="FOVs",
            )
        )
    return set().union(*(by_plain[v] for v in names)) if names else set()


def _check_sides(split, val_experiments, val_fovs, val_fraction, groups, where) -> None:
    options = (
        f"val_experiments={list(val_experiments)}, val_fovs={list(val_fovs or [])}, "
        f"val_fraction={val_fraction}"
    )
    if not split.train:
        raise ValueError(
            f"{options} hold out every FOV of {where}; leave at least one FOV for training."
        )
    if not split.val:
        singles = sorted({e for (e, _), names in groups.items() if len(names) == 1})
        raise ValueError(
            f"{options} hold out no FOV of {where}: a condition keeps its only FOV for "
            f"training, and each condition of {singles} has one FOV. Name FOVs with val_fovs "
            "or hold out whole experiments with val_experiments."
        )
