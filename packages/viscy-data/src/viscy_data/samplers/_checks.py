"""Input checks and conversions for FlexibleBatchSampler (all raised at construction)."""

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from viscy_data.messages import unknown_names_message
from viscy_data.samplers._strata import Strata


def as_polars(table: object) -> pl.DataFrame:
    """Return ``table`` as a polars DataFrame, converting a pandas one by position."""
    if isinstance(table, pl.DataFrame):
        return table
    if isinstance(table, pl.LazyFrame):
        raise TypeError("valid_anchors is a polars LazyFrame; pass valid_anchors.collect().")
    if type(table).__module__.split(".")[0] == "pandas" and type(table).__name__ == "DataFrame":
        try:
            return pl.from_pandas(table)
        except ImportError:  # pyarrow absent: convert column by column
            return pl.DataFrame([_pandas_column(str(c), table[c]) for c in table.columns])
    raise TypeError(
        f"valid_anchors must be a polars or pandas DataFrame, got {type(table).__name__}."
    )


def _pandas_column(name: str, column: object) -> pl.Series:
    """One pandas column as a polars Series; categoricals go through their integer codes."""
    dtype = column.dtype
    if getattr(dtype, "name", "") == "category":
        codes = column.cat.codes.to_numpy()
        values = pl.Series(name, column.cat.categories.to_numpy(dtype=object))
        return values.gather(np.maximum(codes, 0)).scatter(np.flatnonzero(codes < 0), None)
    if getattr(dtype, "kind", "O") in "biuf":
        return pl.Series(name, column.to_numpy())
    return pl.Series(name, column.astype(object).where(column.notna(), None).to_numpy())


def check_int(name: str, value: object, low: int, high: float = math.inf) -> int:
    """``value`` as an int in ``[low, high)``, else a ValueError naming ``name``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (low <= value < high)
    ):
        bound = f">= {low}" if high == math.inf else f"in [{low}, {high})"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}.")
    return int(value)


def check_fraction(name: str, value: object, high_open: bool) -> float:
    """``value`` as a float in ``[0, 1)`` (``high_open``) or ``[0, 1]``."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    ok = ok and 0.0 <= float(value) and (float(value) < 1.0 if high_open else float(value) <= 1.0)
    if not ok:
        allowed = "[0, 1)" if high_open else "[0, 1]"
        raise ValueError(f"{name} must be a number in {allowed}, got {value!r}.")
    return float(value)


def check_hours(name: str, value: object) -> float:
    """``value`` as a finite, non-negative number of hours."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not (ok and math.isfinite(float(value)) and float(value) >= 0.0):
        raise ValueError(f"{name} must be a finite number of hours >= 0, got {value!r}.")
    return float(value)


def named_weights(name: str, weights: object, names: tuple, column: str) -> np.ndarray:
    """Weights keyed by the values of ``column``, as an array aligned with ``names``.

    Every value needs a weight (0 excludes it); unknown names, negative or non-finite
    weights, and all-zero weights are ValueErrors.
    """
    if not isinstance(weights, Mapping):
        raise ValueError(
            f"{name} must be a dict mapping each {column} to a weight, got {weights!r}."
        )
    unknown = [key for key in weights if key not in names]
    if unknown:
        raise ValueError(
            unknown_names_message(
                f"{name} names {unknown!r}, which valid_anchors column {column!r} does not have",
                [str(k) for k in unknown],
                names,
                known_label="values present",
            )
        )
    missing = [key for key in names if key not in weights]
    if missing:
        raise ValueError(
            f"{name} gives no weight to {missing!r}; give every {column} in valid_anchors a "
            f"weight (0 leaves it out). Values present: {list(names)!r}."
        )
    values = []
    for key in names:
        weight = weights[key]
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float | np.integer | np.floating)
            or not (math.isfinite(weight) and weight >= 0)
        ):
            raise ValueError(f"{name}[{key!r}] must be a finite number >= 0, got {weight!r}.")
        values.append(float(weight))
    if not any(values):
        raise ValueError(
            f"{name} must give a positive weight to at least one {column}, got {dict(weights)!r}."
        )
    return np.asarray(values)


def condition_shares(
    strata: Strata, condition_weight: np.ndarray, experiment_weight: np.ndarray
) -> np.ndarray:
    """Share of its experiment's primary rows that each stratum gets.

    Raises a ValueError when ``condition_ratio`` gives zero weight to every condition of
    an experiment that can be drawn.
    """
    weight = condition_weight[strata.condition]
    total = np.add.reduceat(weight, strata.experiment_start[:-1])
    starved = np.flatnonzero((total <= 0) & (experiment_weight > 0))
    if starved.size:
        e = int(starved[0])
        conditions = [
            strata.condition_names[c]
            for c in strata.condition[strata.experiment_start[e] : strata.experiment_start[e + 1]]
        ]
        raise ValueError(
            f"condition_ratio gives weight 0 to every condition of experiment "
            f"{strata.experiment_names[e]!r} (its conditions: {conditions!r}); give one of "
            "them a positive weight or give the experiment weight 0 in experiment_weights."
        )
    safe_total = np.where(total > 0, total, 1.0)
    return weight / safe_total[strata.experiment]


def check_axes_off(
    experiment_aware: bool,
    condition_balanced: bool,
    leaky: float,
    experiment_weights: Mapping | None,
    condition_ratio: Mapping | None,
) -> None:
    """Reject parameters of an axis that is switched off (they would do nothing)."""
    if not experiment_aware and (leaky > 0 or experiment_weights is not None):
        raise ValueError(
            f"leaky={leaky!r} and experiment_weights={experiment_weights!r} act on "
            "experiments; set experiment_aware=True or use leaky=0.0, experiment_weights=None."
        )
    if not condition_balanced and condition_ratio is not None:
        raise ValueError(
            f"condition_ratio={condition_ratio!r} needs condition_balanced=True; "
            "turn it on or pass condition_ratio=None."
        )


def check_grouping(
    group_by: object, groups_per_batch: object
) -> tuple[tuple[str, ...] | None, int]:
    """``(group_by as a tuple or None, groups_per_batch)`` after checking them."""
    if group_by is None:
        if groups_per_batch is not None:
            raise ValueError(
                f"groups_per_batch={groups_per_batch!r} needs group_by (the columns that "
                "form a group, e.g. ('experiment', 'fov_name', 't')); set it or pass "
                "groups_per_batch=None."
            )
        return None, 0
    columns = (group_by,) if isinstance(group_by, str) else tuple(group_by)
    if not columns or not all(isinstance(c, str) for c in columns):
        raise ValueError(f"group_by must be column names, got {group_by!r}.")
    k = 4 if groups_per_batch is None else check_int("groups_per_batch", groups_per_batch, 1)
    return columns, k
