"""Chunk-aware queue passes: groups in a keyed order, rows shuffled inside each group, k lanes.

With ``group_by`` (e.g. FOV and frame, so that a group's patches come from the same image
chunks), a stratum's rows are sorted by group and each pass through its queue is no longer a
shuffle of single rows but:

1. the stratum's groups in a keyed random order, each group's rows in a keyed random order
   inside it; this "group order" lists every row of the stratum once;
2. the group order is cut into ``L`` contiguous slices (the stratum's lanes; sizes differ by at
   most one) and read interleaved: queue position ``p`` shows item ``p // L`` of slice
   ``p % L``.

A batch takes consecutive queue positions of a stratum (``StratumQueues``), so each lane
advances by about ``count / L`` rows per batch through its slice: a batch holds rows of ``L``
groups per stratum, plus one for each lane that reaches the end of a group inside the batch.
Each pass is still a permutation of the stratum, so every anchor is drawn once before any is
drawn twice, exactly as for row shuffles; nothing but the cursors is stateful.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from viscy_data.keyed_random import mix64
from viscy_data.samplers._feistel import keyed_permutation, stream_keys
from viscy_data.samplers._strata import Strata

__all__ = ["GroupLayout", "GroupedPasses", "group_codes", "grouped_strata", "lanes_per_stratum"]

_GROUP_ORDER_SALT = np.uint64(0x6A09E667F3BCC908)
_WITHIN_GROUP_SALT = np.uint64(0xBB67AE8584CAA73B)


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


def lanes_per_stratum(groups_per_batch: int, share: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Lanes of each stratum: ``groups_per_batch`` split by the strata's shares of a batch.

    Within each experiment, stratum ``s`` gets ``max(1, round(k * share[s]))`` lanes (at most
    its size), so a batch's primary rows come from about ``k`` groups and every condition
    keeps at least one.
    """
    lanes = np.maximum(1, np.floor(groups_per_batch * share + 0.5)).astype(np.int64)
    return np.minimum(lanes, np.maximum(sizes, 1))


class GroupedPasses:
    """Item shown at each queue position of a grouped stratum (see the module docstring).

    Parameters
    ----------
    stratum_start : np.ndarray
        (S + 1,) row offsets of the strata in ``Strata.order``.
    layout : GroupLayout
        The groups of each stratum.
    lanes : np.ndarray
        (S,) lanes per stratum (:func:`lanes_per_stratum`).
    base_key : int
        64-bit key derived from (seed, epoch).
    """

    def __init__(
        self, stratum_start: np.ndarray, layout: GroupLayout, lanes: np.ndarray, base_key: int
    ) -> None:
        self.row_start = stratum_start
        self.layout = layout
        self.lanes = lanes
        base = np.array([base_key], dtype=np.uint64)  # arrays: uint64 arithmetic wraps quietly
        self.group_key = int(mix64(base ^ _GROUP_ORDER_SALT)[0])
        self.within_key = int(mix64(base ^ _WITHIN_GROUP_SALT)[0])
        self._passes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def offsets(self, strata: np.ndarray, cycles: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Offset within its stratum of the item at pass position ``positions`` (< size)."""
        out = np.empty(positions.size, dtype=np.int64)
        pairs = (strata.astype(np.int64) << 32) | cycles.astype(np.int64)
        distinct, which = np.unique(pairs, return_inverse=True)
        for j, pair in enumerate(distinct.tolist()):  # (stratum, pass) pairs, not rows
            picked = np.flatnonzero(which == j)
            out[picked] = self._one_pass(pair >> 32, pair & 0xFFFFFFFF, positions[picked])
        return out

    def _one_pass(self, stratum: int, cycle: int, positions: np.ndarray) -> np.ndarray:
        n = int(self.row_start[stratum + 1] - self.row_start[stratum])
        lanes = int(self.lanes[stratum])
        lane, step = np.divmod(positions, lanes)[::-1]
        per_lane, extra = divmod(n, lanes)
        in_order = lane * per_lane + np.minimum(lane, extra) + step
        groups, ends = self._pass(stratum, cycle)
        slot = np.searchsorted(ends, in_order, side="right")
        group = groups[slot]
        size = self.layout.sizes[group]
        within = in_order - (ends[slot] - size)
        keys = stream_keys(self.within_key, group, np.full(group.size, cycle))
        first = self.layout.start[group] - self.row_start[stratum]
        return first + keyed_permutation(within, size, keys)

    def _pass(self, stratum: int, cycle: int) -> tuple[np.ndarray, np.ndarray]:
        """The groups of one pass in order, and the end offset of each in the group order."""
        cached = self._passes.get((stratum, cycle))
        if cached is not None:
            return cached
        g0, g1 = self.layout.stratum_start[stratum], self.layout.stratum_start[stratum + 1]
        count = int(g1 - g0)
        keys = stream_keys(self.group_key, np.full(count, stratum), np.full(count, cycle))
        groups = g0 + keyed_permutation(np.arange(count), np.full(count, count), keys)
        ends = np.cumsum(self.layout.sizes[groups])
        if len(self._passes) > 4 * self.lanes.size + 64:  # older passes are not read again
            self._passes.clear()
        self._passes[(stratum, cycle)] = (groups, ends)
        return groups, ends


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
