"""The temporal positive rule, shared by anchor validity, positive lookup and the draw.

The positive of an anchor (track k, frame t) at offset tau >= 1 is any observation at frame
t + tau of track k itself or of a descendant of k (a daughter, granddaughter, ...). Never a
sibling, cousin or ancestor, never another FOV (tracks and lineages are scoped by
experiment, well and FOV), and never frame t itself (tau >= 1).

Implementation: observations are keyed ``(track << 32) | frame``. Rows of the tracks table
are sorted by (track, frame), so their own keys form one sorted array (``self_keys``). An
observation of track d is also listed under each proper ancestor a of d, but only while it
can still be a positive of some anchor on a: frames up to ``last frame of a + tau_cap``
(``desc_keys``/``desc_rows``, sorted). The candidates of (k, t, tau) are the blocks of key
``(k << 32) | (t + tau)`` in both arrays (binary searches), and an anchor is valid when a
key of either array falls in ``[(k << 32) | (t + tau_min), (k << 32) | (t + tau_max)]``.
Validity and lookup use these same arrays, so a valid anchor always has a positive.

The draw (:func:`draw_positives`) picks one positive per anchor from uniforms keyed by the
caller: a tau from the decaying weights (``tau.taus_from_uniform``); when the anchor has none
at that tau, the nearest tau in range that has one (the shorter on a tie); among several
candidates (two daughters), one at random.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from dynaclr.cell_index.tau import taus_from_uniform

__all__ = ["PositiveLookup", "draw_positives"]

_SHIFT = np.int64(32)
_FRAME_MASK = np.int64(2**32 - 1)
_MAX_FRAME = 2**31


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment ids and offsets within segments for segments of the given lengths."""
    segment = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    return segment, np.arange(segment.size, dtype=np.int64) - first[segment]


def _first_in(keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether the sorted ``keys`` hold a value in ``[lo, hi]``, per query."""
    first = np.searchsorted(keys, lo, side="left")
    found = first < keys.size
    found[found] = keys[first[found]] <= hi[found]
    return found


@dataclass(frozen=True, eq=False)
class PositiveLookup:
    """Observation rows keyed by (track, frame), including descendants, for lookups.

    Attributes
    ----------
    self_keys : numpy.ndarray
        int64 ``(global_track_id << 32) | t`` of each row of the tracks table, ascending.
    desc_keys, desc_rows : numpy.ndarray
        Sorted int64 keys ``(ancestor << 32) | t`` of descendants' observations, and their rows.
    tau_min, tau_cap : numpy.ndarray
        Tau range (frames) per track, its experiment's ``(tau_min, tau_max)``; anchor
        validity uses it and lookups accept taus up to ``tau_cap``.
    """

    self_keys: np.ndarray
    desc_keys: np.ndarray
    desc_rows: np.ndarray
    tau_min: np.ndarray
    tau_cap: np.ndarray

    @classmethod
    def from_tracks(
        cls,
        track: np.ndarray,
        t: np.ndarray,
        ancestry: pl.DataFrame,
        tau_min: np.ndarray,
        tau_max: np.ndarray,
    ) -> PositiveLookup:
        """Build the lookup.

        Parameters
        ----------
        track, t : numpy.ndarray
            ``global_track_id`` and frame (0 <= t < 2**31) per row of the tracks table,
            sorted by (track, t) without repeats.
        ancestry : polars.DataFrame
            ``global_track_id, ancestor_id`` pairs (see
            :func:`dynaclr.cell_index.lineage.ancestry`); self pairs are ignored.
        tau_min, tau_max : numpy.ndarray
            Tau range in frames per track, shape ``(n_tracks,)``, ``1 <= min <= max``.
        """
        t = np.asarray(t, dtype=np.int64)
        if t.size and (t.min() < 0 or t.max() >= _MAX_FRAME):
            raise ValueError(f"frames must lie in [0, 2**31), got [{t.min()}, {t.max()}].")
        self_keys = (np.asarray(track, dtype=np.int64) << _SHIFT) | t
        if np.any(self_keys[1:] <= self_keys[:-1]):
            raise ValueError("rows must be sorted by (track, t) with one row per (track, t).")
        tau_min = np.asarray(tau_min, dtype=np.int64)
        tau_cap = np.asarray(tau_max, dtype=np.int64)
        if tau_min.shape != tau_cap.shape or np.any((tau_min < 1) | (tau_cap < tau_min)):
            raise ValueError("tau ranges per track must satisfy 1 <= tau_min <= tau_max.")
        n_tracks = tau_cap.size
        bounds = np.searchsorted(self_keys, np.arange(n_tracks + 1, dtype=np.int64) << _SHIFT)
        start, count = bounds[:-1], np.diff(bounds)
        last_t = np.where(count > 0, t[np.maximum(bounds[1:] - 1, 0)], -_MAX_FRAME)
        pairs = ancestry.filter(pl.col("global_track_id") != pl.col("ancestor_id"))
        d = pairs["global_track_id"].to_numpy()
        a = pairs["ancestor_id"].to_numpy()
        limit = (d << _SHIFT) | np.clip(last_t[a] + tau_cap[a], 0, _MAX_FRAME)
        usable = np.clip(np.searchsorted(self_keys, limit, side="right") - start[d], 0, count[d])
        usable[count[a] == 0] = 0  # no anchor on a track without observations
        pair, offset = _expand(usable)
        rows = start[d[pair]] + offset
        keys = (a[pair] << _SHIFT) | t[rows]
        order = np.argsort(keys, kind="stable")
        return cls(self_keys, keys[order], rows[order], tau_min, tau_cap)

    @property
    def n_rows(self) -> int:
        """Number of rows of the tracks table."""
        return self.self_keys.size

    def _anchor_keys(self, anchor_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if anchor_rows.ndim != 1:
            raise ValueError(f"anchor_rows must be 1-D, got shape {anchor_rows.shape}.")
        if anchor_rows.size and (anchor_rows.min() < 0 or anchor_rows.max() >= self.n_rows):
            raise ValueError(
                f"anchor_rows must be row positions in [0, {self.n_rows}), got values in "
                f"[{anchor_rows.min()}, {anchor_rows.max()}]."
            )
        keys = self.self_keys[anchor_rows]
        return keys & ~_FRAME_MASK, keys >> _SHIFT

    def _check_taus(self, taus: np.ndarray, tracks: np.ndarray, name: str) -> None:
        if taus.size and taus.min() < 1:
            raise ValueError(
                f"{name} must be >= 1 frame (a positive is never the anchor's own frame), got "
                f"{int(taus.min())}."
            )
        over = taus > self.tau_cap[tracks]
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise ValueError(
                f"{name}={int(taus[i])} exceeds the index's tau range for that anchor's "
                f"experiment (max {int(self.tau_cap[tracks[i]])} frames); draw taus within "
                "index.tau_frames(experiment)."
            )

    def candidates(self, anchor_rows: np.ndarray, taus: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every positive of each anchor at its offset.

        Parameters
        ----------
        anchor_rows : numpy.ndarray
            Row positions of anchors in the tracks table, shape ``(N,)``.
        taus : numpy.ndarray
            Offset in frames per anchor, shape ``(N,)``, within ``[1, tau_cap]``.

        Returns
        -------
        i : numpy.ndarray
            int64 position in the inputs, one per candidate, ascending.
        rows : numpy.ndarray
            int64 row of the candidate positive (ascending within one ``i``). Anchors
            without a candidate at their tau do not appear.
        """
        anchor_rows = np.asarray(anchor_rows, dtype=np.int64)
        taus = np.asarray(taus, dtype=np.int64)
        if taus.shape != anchor_rows.shape:
            raise ValueError(
                f"anchor_rows and taus must have the same shape, got {anchor_rows.shape} and "
                f"{taus.shape}."
            )
        base, tracks = self._anchor_keys(anchor_rows)
        self._check_taus(taus, tracks, "taus")
        query = base | ((self.self_keys[anchor_rows] & _FRAME_MASK) + taus)
        own = np.searchsorted(self.self_keys, query)
        has_own = own < self.n_rows
        has_own[has_own] = self.self_keys[own[has_own]] == query[has_own]
        lo = np.searchsorted(self.desc_keys, query, side="left")
        pos, offset = _expand(np.searchsorted(self.desc_keys, query, side="right") - lo)
        i = np.concatenate([np.flatnonzero(has_own), pos])
        rows = np.concatenate([own[has_own], self.desc_rows[lo[pos] + offset]])
        order = np.lexsort((rows, i))
        return i[order], rows[order]

    def _has_positive(self, rows: np.ndarray, tau_min: np.ndarray, tau_max: np.ndarray):
        keys = self.self_keys[rows]
        lo, hi = keys + tau_min, keys + tau_max  # frame + tau stays below 2**32
        found = _first_in(self.desc_keys, lo, hi)
        # own frames strictly increase along a track, so the first own row at or after
        # t + tau_min is at most tau_min rows further down
        last = self.n_rows - 1
        for step in range(1, int(tau_min.max(initial=0)) + 1):
            ahead = self.self_keys[np.minimum(rows + step, last)]
            found |= (ahead >= lo) & (ahead <= hi)
        return found

    def has_positive(
        self, anchor_rows: np.ndarray, tau_min: np.ndarray | int, tau_max: np.ndarray | int
    ) -> np.ndarray:
        """Whether each anchor has a positive at some integer tau in ``[tau_min, tau_max]``.

        Parameters
        ----------
        anchor_rows : numpy.ndarray
            Row positions, shape ``(N,)``.
        tau_min, tau_max : numpy.ndarray or int
            Inclusive offset range in frames per anchor (broadcast to ``(N,)``),
            ``1 <= tau_min <= tau_max <= tau_cap``.

        Returns
        -------
        numpy.ndarray
            bool, shape ``(N,)``.
        """
        anchor_rows = np.asarray(anchor_rows, dtype=np.int64)
        _, tracks = self._anchor_keys(anchor_rows)
        tau_min = np.broadcast_to(np.asarray(tau_min, dtype=np.int64), anchor_rows.shape)
        tau_max = np.broadcast_to(np.asarray(tau_max, dtype=np.int64), anchor_rows.shape)
        self._check_taus(tau_min, tracks, "tau_min")
        self._check_taus(tau_max, tracks, "tau_max")
        if np.any(tau_max < tau_min):
            raise ValueError("tau_max must be >= tau_min for every anchor.")
        return self._has_positive(anchor_rows, tau_min, tau_max)

    def tau_bounds(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(tau_min, tau_max)`` in frames of each row's track."""
        track = self.self_keys[np.asarray(rows, dtype=np.int64)] >> _SHIFT
        return self.tau_min[track], self.tau_cap[track]

    def valid_anchor_mask(self, chunk: int = 1 << 20) -> np.ndarray:
        """bool per row: has a positive at some tau of its track's range (``chunk`` rows a pass)."""
        mask = np.empty(self.n_rows, bool)
        for begin in range(0, self.n_rows, chunk):
            rows = np.arange(begin, min(begin + chunk, self.n_rows), dtype=np.int64)
            mask[rows] = self._has_positive(rows, *self.tau_bounds(rows))
        return mask


def draw_positives(
    anchor_rows: np.ndarray,
    u_tau: np.ndarray,
    u_pick: np.ndarray,
    decay_rate: float,
    tau_bounds: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    candidates: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """One positive row per anchor, chosen by the given uniforms (see the module docstring).

    Parameters
    ----------
    anchor_rows : numpy.ndarray
        Row positions of anchors, shape ``(N,)``.
    u_tau, u_pick : numpy.ndarray
        Uniforms in ``[0, 1)`` per anchor: the tau draw and the pick among candidates.
    decay_rate : float
        Decay of the tau weights over each anchor's range (0 = uniform).
    tau_bounds, candidates : callable
        The rule's lookups: :meth:`PositiveLookup.tau_bounds` and ``.candidates``.

    Returns
    -------
    numpy.ndarray
        int64 positive row per anchor; -1 where none exists at any tau in range.
    """
    anchor_rows = np.asarray(anchor_rows, dtype=np.int64)
    n = anchor_rows.size
    lo, hi = tau_bounds(anchor_rows)
    drawn = taus_from_uniform(u_tau, lo, hi, decay_rate)
    # Every offset in range at once, ranked by distance to the drawn one (shorter first).
    width = int((hi - lo).max(initial=0)) + 1
    shifts = np.arange(-(width - 1), width)
    order = np.argsort(np.abs(shifts) * 2 + (shifts > 0), kind="stable")
    taus = drawn[:, None] + shifts[order][None, :]
    sample, rank = np.nonzero((taus >= lo[:, None]) & (taus <= hi[:, None]))
    cand_i, cand_rows = candidates(anchor_rows[sample], taus[sample, rank])
    cand_sample, cand_rank = sample[cand_i], rank[cand_i]
    best = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(best, cand_sample, cand_rank)
    keep = cand_rank == best[cand_sample]
    cand_sample, cand_rows = cand_sample[keep], cand_rows[keep]
    counts = np.bincount(cand_sample, minlength=n)
    order = np.argsort(cand_sample, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pick = starts + np.floor(np.asarray(u_pick) * counts).astype(np.int64)
    rows = np.full(n, -1, dtype=np.int64)
    found = counts > 0
    rows[found] = cand_rows[order][pick[found]]
    return rows
