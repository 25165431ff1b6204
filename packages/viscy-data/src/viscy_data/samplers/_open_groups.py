"""Chunk-aware queues: each stratum is read through the few groups it has open.

With ``group_by`` (e.g. FOV and frame, so that a group's patches come from the same image
chunks), a pass through a stratum lists its groups in a keyed random order, each group's rows in
a keyed random order inside it. A stratum keeps some groups *open* (started, not finished); the
rows a batch takes from the stratum come from at most ``lanes`` open groups, where ``lanes`` is
the stratum's part of ``groups_per_batch`` in that batch (:func:`entry_lanes`):

1. open groups of the current pass, in pass order, until ``lanes`` are open;
2. use ``lanes`` of the open groups (the ones with the fewest rows left when those can fill the
   quota, else the ones with the most);
3. only when those hold fewer rows than the quota (groups smaller than the quota's share),
   use the other open groups, then open more in pass order; a new pass begins only when every
   row of the current one is open and all of them fit in this batch;
4. split the quota: rows of an older pass first (all of them), then groups whose remainder is at
   most 1.5 shares are finished whole (smallest first, while they fit), and the rest is split
   evenly over the other groups. Finishing short remainders early keeps the open groups from
   all running low together, which would force a batch into more groups.

Every row of a pass is drawn before any row of the next (at batch granularity), so each anchor is
drawn once before any is drawn twice. The state (open groups, pass, position in the pass) is a
pure function of the quotas consumed since the start of the epoch, so replaying an epoch's plans
(resume, other ranks) reproduces it.
"""

from __future__ import annotations

import numpy as np

from viscy_data.keyed_random import mix64
from viscy_data.samplers._feistel import keyed_permutation, stream_keys
from viscy_data.samplers._plan import ChunkPlan, DrawRules

__all__ = ["GroupQueues", "apportion", "entry_lanes"]

_GROUP_ORDER_SALT = np.uint64(0x6A09E667F3BCC908)
_WITHIN_GROUP_SALT = np.uint64(0xBB67AE8584CAA73B)
_TAIL = 1.5  # a remainder of at most this many shares is finished in the batch that sees it


def entry_lanes(rules: DrawRules, plan: ChunkPlan, counts: np.ndarray) -> np.ndarray:
    """Groups each (batch, stratum) entry may read: ``groups_per_batch`` split over the batch.

    Leaky entries (strata of another experiment than the batch's) read one group each; the
    rest of ``groups_per_batch`` is split over the primary entries in proportion to their
    counts (largest remainder), at least one each and at most their count. A batch therefore
    reads at most ``groups_per_batch`` groups, unless it has more strata than that (then one
    group each) or its groups are too small to fill their quotas.
    """
    k = int(rules.groups_per_batch)
    leaky = rules.strata.experiment[plan.stratum] != plan.experiment[plan.batch]
    lanes = np.ones(plan.batch.size, dtype=np.int64)
    bounds = np.flatnonzero(np.r_[True, plan.batch[1:] != plan.batch[:-1], True])
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):  # batches, not rows
        primary = a + np.flatnonzero(~leaky[a:b] & (counts[a:b] > 0))
        if primary.size == 0:
            continue
        budget = k - int((leaky[a:b] & (counts[a:b] > 0)).sum())
        lanes[primary] = apportion(budget, counts[primary])
    return lanes


def apportion(budget: int, counts: np.ndarray) -> np.ndarray:
    """``budget`` groups split over parts of ``counts`` (all > 0) rows: in proportion, by
    largest remainder, at least one and at most ``counts`` each (so more than ``budget``
    when there are more parts)."""
    budget = max(budget, counts.size)
    exact = budget * counts / counts.sum()
    given = np.maximum(1, np.floor(exact)).astype(np.int64)
    while given.sum() > budget:  # raising small parts to one overshot the budget
        given[np.argmax(given - exact)] -= 1
    given[np.argsort(given - exact, kind="stable")[: budget - int(given.sum())]] += 1
    return np.minimum(given, counts)


class GroupQueues:
    """Open groups of every stratum for one epoch (see the module docstring).

    Parameters
    ----------
    rules : DrawRules
        With ``groups`` (the layout) and ``groups_per_batch`` set.
    base_key : int
        64-bit key derived from (seed, epoch); fixes every pass's group order and row orders.
    """

    def __init__(self, rules: DrawRules, base_key: int) -> None:
        self.rules = rules
        self.layout = rules.groups
        base = np.array([base_key], dtype=np.uint64)  # arrays: uint64 arithmetic wraps quietly
        self.group_key = int(mix64(base ^ _GROUP_ORDER_SALT)[0])
        self.within_key = int(mix64(base ^ _WITHIN_GROUP_SALT)[0])
        n_strata = rules.strata.sizes.size
        self.cycle = [0] * n_strata
        self.next = [0] * n_strata
        self.orders: dict[int, tuple[int, np.ndarray]] = {}
        # open groups per stratum: [group, cycle, taken]
        self.open: list[list[list[int]]] = [[] for _ in range(n_strata)]
        self.reordered: dict[tuple[int, int], np.ndarray] = {}

    def take(self, plan: ChunkPlan, counts: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """Advance every entry's stratum by ``counts``; offsets of the ``chosen`` entries' rows.

        Returns the offsets (within their stratum) of the rows of the chosen entries, entry
        after entry, in the order given.
        """
        lanes = entry_lanes(self.rules, plan, counts)
        pieces: list[tuple[int, int, int, int, int]] = []  # (entry, group, cycle, first, stop)
        for i in np.flatnonzero(counts > 0).tolist():
            pieces += [(i, *p) for p in self._draw(int(plan.stratum[i]), int(counts[i]), lanes[i])]
        keep = np.zeros(plan.batch.size, dtype=bool)
        keep[chosen] = True
        mine = [p for p in pieces if keep[p[0]]]
        out = self._offsets(mine)
        live = {(g, c) for opened in self.open for g, c, _ in opened}
        self.reordered = {key: v for key, v in self.reordered.items() if key in live}
        return out

    def _draw(self, s: int, count: int, lanes: int) -> list[tuple[int, int, int, int]]:
        opened = self.open[s]
        sizes = self.layout.sizes
        order = self._order(s)
        while len(opened) < lanes and self.next[s] < order.size:
            opened.append([int(order[self.next[s]]), self.cycle[s], 0])
            self.next[s] += 1
        left = np.array([sizes[g] - t for g, _, t in opened], dtype=np.int64)
        ranked = np.argsort(left, kind="stable")
        use = list(ranked[:lanes]) if left[ranked[:lanes]].sum() >= count else list(ranked[-lanes:])
        spare = [j for j in ranked[::-1].tolist() if j not in use]
        while left[use].sum() < count:  # groups too small for the quota
            if spare:
                use.append(spare.pop(0))
                continue
            if self.next[s] == order.size:  # every row of this pass is open and fits
                self.cycle[s] += 1
                self.next[s] = 0
                order = self._order(s)
            opened.append([int(order[self.next[s]]), self.cycle[s], 0])
            self.next[s] += 1
            left = np.append(left, sizes[opened[-1][0]])
            use.append(len(opened) - 1)
        cycles = np.array([opened[j][1] for j in use])
        given = _split(left[use], cycles, count)
        pieces = []
        for j, n in zip(use, given.tolist()):
            if n:
                group, cycle, taken = opened[j]
                pieces.append((group, cycle, taken, taken + n))
                opened[j][2] += n
        self._avoid_repeats(s, pieces)
        self.open[s] = [o for o in opened if o[2] < sizes[o[0]]]
        return pieces

    def _avoid_repeats(self, s: int, pieces: list[tuple[int, int, int, int]]) -> None:
        """A group met again in its next pass within one batch starts with rows not yet used."""
        groups = [p[0] for p in pieces]
        for group in {g for g in groups if groups.count(g) > 1}:
            older, newer = sorted((p for p in pieces if p[0] == group), key=lambda p: p[1])
            used = self._within(group, older[1])[older[2] : older[3]]
            rows = self._within(group, newer[1])
            fresh = ~np.isin(rows, used)
            self.reordered[(group, newer[1])] = np.concatenate([rows[fresh], rows[~fresh]])

    def _within(self, group: int, cycle: int) -> np.ndarray:
        """Row order (offsets within the group) of ``group`` in pass ``cycle``."""
        if (group, cycle) in self.reordered:
            return self.reordered[(group, cycle)]
        size = int(self.layout.sizes[group])
        key = stream_keys(self.within_key, np.array([group]), np.array([cycle]))
        return keyed_permutation(np.arange(size), np.full(size, size), np.repeat(key, size))

    def _offsets(self, pieces: list[tuple[int, int, int, int, int]]) -> np.ndarray:
        if not pieces:
            return np.empty(0, dtype=np.int64)
        _, group, cycle, first, stop = (np.array(c, dtype=np.int64) for c in zip(*pieces))
        n = stop - first
        piece = np.repeat(np.arange(n.size), n)
        within = first[piece] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        size = self.layout.sizes[group[piece]]
        keys = stream_keys(self.within_key, group[piece], cycle[piece])
        offset = keyed_permutation(within, size, keys)
        for j in range(len(pieces)):
            key = (int(group[j]), int(cycle[j]))
            if key in self.reordered:
                offset[piece == j] = self.reordered[key][first[j] : stop[j]]
        stratum_first = self.rules.strata.start[self._stratum_of(group[piece])]
        return self.layout.start[group[piece]] - stratum_first + offset

    def _stratum_of(self, groups: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.layout.stratum_start, groups, side="right") - 1

    def _order(self, s: int) -> np.ndarray:
        """Groups of stratum ``s`` in the order of its current pass."""
        cached = self.orders.get(s)
        if cached is not None and cached[0] == self.cycle[s]:
            return cached[1]
        g0, g1 = self.layout.stratum_start[s], self.layout.stratum_start[s + 1]
        count = int(g1 - g0)
        keys = stream_keys(self.group_key, np.full(count, s), np.full(count, self.cycle[s]))
        order = g0 + keyed_permutation(np.arange(count), np.full(count, count), keys)
        self.orders[s] = (self.cycle[s], order)
        return order


def _split(left: np.ndarray, cycles: np.ndarray, count: int) -> np.ndarray:
    """Rows each used group gives (step 4 of the module docstring); sums to ``count``."""
    given = np.where(cycles < cycles.max(), left, 0)
    budget = count - int(given.sum())
    current = np.flatnonzero(cycles == cycles.max())
    share = -(-budget // max(current.size, 1))
    ranked = current[np.argsort(left[current], kind="stable")]
    for n_done in range(ranked.size, -1, -1):  # finish as many of the shortest as can be
        done, rest = ranked[:n_done], ranked[n_done:]
        need = budget - int(left[done].sum())
        room = np.maximum(left[rest] - share, 0)  # the groups kept open keep a share or more
        if 0 <= need <= room.sum():
            given[done] = left[done]
            given[rest] = _even(need, room)
            return given
    # No split keeps a share in every open group: finish the shortest, spread the rest.
    for j in ranked.tolist():
        if left[j] <= _TAIL * budget / ranked.size and left[j] <= budget:
            given[j], budget = left[j], budget - int(left[j])
    return given + _even(budget, left - given)


def _even(total: int, room: np.ndarray) -> np.ndarray:
    """``total`` split as evenly as ``room`` (the most each may take) allows."""
    out = np.zeros(room.size, dtype=np.int64)
    while total > 0:
        free = np.flatnonzero(room - out > 0)
        each, extra = divmod(total, free.size)
        add = np.minimum(room[free] - out[free], each + (np.arange(free.size) < extra))
        out[free] += add
        total -= int(add.sum())
    return out
