"""Group anchor rows into strata (experiment x condition) from integer codes.

Rows are never grouped through per-row Python strings: string columns become polars
categorical codes, other columns go through ``np.unique(..., return_inverse=True)``, and a
stratum id is ``experiment_code * n_conditions + condition_code``.
"""

from dataclasses import dataclass

import numpy as np
import polars as pl

EXPERIMENT, CONDITION, HOURS = "experiment", "condition", "hours_post_infection"


@dataclass(frozen=True)
class Strata:
    """Row positions of an anchors table grouped by stratum.

    Attributes
    ----------
    order : np.ndarray
        (N,) row positions; stratum ``s`` owns ``order[start[s]:start[s + 1]]``, sorted by
        hours post infection when times were given, else by row position.
    start : np.ndarray
        (S + 1,) int64 offsets into ``order``.
    experiment, condition : np.ndarray
        (S,) int64 experiment and condition code of each stratum; strata are sorted by
        (experiment, condition), so an experiment's strata are contiguous.
    experiment_start : np.ndarray
        (E + 1,) int64 offsets into the strata: experiment ``e`` owns strata
        ``experiment_start[e]:experiment_start[e + 1]``.
    experiment_names, condition_names : tuple
        Sorted distinct values of each column; a single ``None`` when the axis is off.
    hours : np.ndarray or None
        (N,) float64 hours post infection in ``order`` order, or None.
    """

    order: np.ndarray
    start: np.ndarray
    experiment: np.ndarray
    condition: np.ndarray
    experiment_start: np.ndarray
    experiment_names: tuple
    condition_names: tuple
    hours: np.ndarray | None

    @property
    def sizes(self) -> np.ndarray:
        """(S,) number of anchors in each stratum."""
        return np.diff(self.start)

    @property
    def experiment_sizes(self) -> np.ndarray:
        """(E,) number of anchors in each experiment."""
        return np.diff(self.start[self.experiment_start])


def require_columns(table: pl.DataFrame, columns: list[str]) -> None:
    """Raise a ValueError naming the missing columns and listing the present ones."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"valid_anchors is missing column(s) {missing} needed by the enabled sampling "
            f"axes; columns present: {table.columns}. Add them or turn the axis off."
        )


def column_codes(series: pl.Series) -> tuple[np.ndarray, tuple]:
    """Integer code of each row (0..K-1, in sorted order of the values) and the K values.

    Raises
    ------
    ValueError
        If the column holds nulls (rows are never silently dropped).
    """
    nulls = series.null_count()
    if nulls:
        raise ValueError(
            f"valid_anchors column {series.name!r} has {nulls} null value(s) out of "
            f"{series.len()}; fill or drop them before building the sampler."
        )
    if series.dtype in (pl.String, pl.Categorical) or isinstance(series.dtype, pl.Enum):
        cat = series if series.dtype != pl.String else series.cast(pl.Categorical)
        physical = cat.to_physical().to_numpy()
        distinct = cat.unique()
        distinct_codes = distinct.to_physical().to_numpy().astype(np.int64)
        names = distinct.cast(pl.String).to_list()
        rank = np.argsort(np.array(names, dtype=object), kind="stable")
        lookup = np.zeros(int(distinct_codes.max()) + 1, dtype=np.int32)
        lookup[distinct_codes[rank]] = np.arange(len(names), dtype=np.int32)
        return lookup[physical], tuple(names[i] for i in rank)
    values, inverse = np.unique(series.to_numpy(), return_inverse=True)
    return inverse.astype(np.int32).reshape(-1), tuple(values.tolist())


def hours_column(series: pl.Series) -> np.ndarray:
    """Hours post infection as float64; nulls, NaN and infinities are a ValueError."""
    if not series.dtype.is_numeric():
        raise ValueError(
            f"valid_anchors column {HOURS!r} must be numeric (hours), got dtype {series.dtype}."
        )
    hours = series.cast(pl.Float64).to_numpy()
    bad = int(series.null_count()) + int(np.count_nonzero(~np.isfinite(hours)))
    if bad:
        raise ValueError(
            f"valid_anchors column {HOURS!r} has {bad} null or non-finite value(s) out of "
            f"{len(hours)}; every anchor needs a time when temporal_enrichment=True."
        )
    return hours


def build_strata(
    table: pl.DataFrame, by_experiment: bool, by_condition: bool, by_time: bool
) -> Strata:
    """Group the rows of ``table`` by the enabled axes (see :class:`Strata`)."""
    n_rows = table.height
    exp_codes, exp_names = (
        column_codes(table.get_column(EXPERIMENT))
        if by_experiment
        else (np.zeros(n_rows, np.int32), (None,))
    )
    cond_codes, cond_names = (
        column_codes(table.get_column(CONDITION))
        if by_condition
        else (np.zeros(n_rows, np.int32), (None,))
    )
    n_keys = len(exp_names) * len(cond_names)
    key_dtype = np.int32 if n_keys < np.iinfo(np.int32).max else np.int64
    key = exp_codes.astype(key_dtype) * len(cond_names) + cond_codes
    del exp_codes, cond_codes
    counts = np.bincount(key, minlength=n_keys)
    present = np.flatnonzero(counts)
    # uint16 keys take numpy's radix path for a stable sort; int64 otherwise.
    sort_dtype = np.uint16 if present.size <= np.iinfo(np.uint16).max else np.int64
    lookup = np.zeros(counts.size, dtype=sort_dtype)
    lookup[present] = np.arange(present.size)
    stratum = lookup[key]
    del key
    index_dtype = np.int32 if n_rows < np.iinfo(np.int32).max else np.int64
    hours = None
    if by_time:
        hours = hours_column(table.get_column(HOURS))
        order = np.argsort(hours, kind="stable").astype(index_dtype)
        order = order[np.argsort(stratum[order], kind="stable")]
        hours = hours[order]
    else:
        order = np.argsort(stratum, kind="stable").astype(index_dtype)
    strata_experiment = present // len(cond_names)
    return Strata(
        order=order,
        start=np.concatenate([[0], np.cumsum(counts[present])]).astype(np.int64),
        experiment=strata_experiment,
        condition=present % len(cond_names),
        experiment_start=np.searchsorted(strata_experiment, np.arange(len(exp_names) + 1)),
        experiment_names=exp_names,
        condition_names=cond_names,
        hours=hours,
    )
