"""Chunk-aware batching: group codes, and each stratum's rows sorted into groups.

With ``group_by`` (e.g. FOV and frame, so that a group's patches come from the same image
chunks), a stratum's rows are sorted by group; ``GroupLayout`` records where each group's run
starts. The queues that read strata group by group live in ``_open_groups``; time windows
draw group by group in ``_windows``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from viscy_data.samplers._strata import Strata

__all__ = ["GroupLayout", "group_codes", "grouped_strata"]


def group_codes(table: pl.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """Dense integer code (0..G-1) of each row's combination of ``columns``.

    Raises
    ------
    ValueError
        A column is missing or holds nulls (every anchor needs a group).
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"group_by names column(s) {missing} that valid_anchors does not have; columns "
            f"present: {table.columns}."
        )
    for name in columns:
        nulls = table.get_column(name).null_count()
        if nulls:
            raise ValueError(
                f"valid_anchors column {name!r} (group_by) has {nulls} null value(s) out of "
                f"{table.height}; every anchor needs a group."
            )
    codes = table.select(pl.struct(list(columns)).rank("dense").alias("g")).get_column("g")
    return codes.to_numpy().astype(np.int64) - 1


@dataclass(frozen=True)
class GroupLayout:
    """Groups of each stratum, as offsets into ``Strata.order`` (rows sorted by group).

    Attributes
    ----------
    start : np.ndarray
        (G + 1,) int64: group ``g`` owns ``order[start[g]:start[g + 1]]``.
    stratum_start : np.ndarray
        (S + 1,) int64: stratum ``s`` owns groups ``stratum_start[s]:stratum_start[s + 1]``.
    """

    start: np.ndarray
    stratum_start: np.ndarray

    @classmethod
    def from_sorted(
        cls, stratum_of_row: np.ndarray, group_of_row: np.ndarray, stratum_start: np.ndarray
    ) -> GroupLayout:
        """From stratum and group codes listed in ``order`` order (sorted by both)."""
        change = np.flatnonzero(
            (stratum_of_row[1:] != stratum_of_row[:-1]) | (group_of_row[1:] != group_of_row[:-1])
        )
        start = np.concatenate([[0], change + 1, [group_of_row.size]]).astype(np.int64)
        return cls(start=start, stratum_start=np.searchsorted(start, stratum_start))

    @property
    def sizes(self) -> np.ndarray:
        """(G,) rows per group."""
        return np.diff(self.start)


def grouped_strata(strata: Strata, codes: np.ndarray) -> tuple[Strata, GroupLayout]:
    """``strata`` with each stratum's rows sorted by group code, and the groups' layout.

    With times (temporal enrichment) rows stay sorted by time and are sorted by group within
    one time, so the layout lists runs of one group (a whole group when it has one time, as
    (experiment, FOV, frame) groups do).
    """
    stratum_of_row = np.repeat(np.arange(strata.sizes.size), strata.sizes)
    group_of_row = codes[strata.order]
    keys = (group_of_row, stratum_of_row)
    if strata.hours is not None:
        keys = (group_of_row, strata.hours, stratum_of_row)
    resort = np.lexsort(keys)  # stable: row order inside a group
    layout = GroupLayout.from_sorted(stratum_of_row, group_of_row[resort], strata.start)
    hours = None if strata.hours is None else strata.hours[resort]
    return replace(strata, order=strata.order[resort], hours=hours), layout
