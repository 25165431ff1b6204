"""Which experiments each stage reads, and how the validation split is sampled.

Training and validation split by whole experiments (``val_experiments``); prediction reads
``predict_experiments`` (default: all). Every name is checked against the experiments YAML
before any store is read.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from viscy_data.messages import unknown_names_message

__all__ = ["Splits", "check_experiment_names", "split_experiments", "validation_sampling"]


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
