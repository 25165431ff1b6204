"""Per-stratum shuffled queues, refilled with a fresh shuffle when exhausted.

Stratum ``s`` (``n`` anchors) is read as an endless stream of positions ``p = 0, 1, ...``;
position ``p`` lies in pass ``c = p // n`` and shows item ``pi_{s,c}(p % n)`` of the stratum,
where ``pi_{s,c}`` is a keyed permutation (see ``_feistel``). Each pass is therefore a
shuffle of the whole stratum, and after ``m`` positions every anchor of the stratum has been
shown ``floor(m / n)`` or ``ceil(m / n)`` times.

One batch takes ``k <= n`` consecutive positions of a stratum. When those straddle the end
of a pass, the first items of the next pass could repeat the tail of the previous one inside
the batch; the next pass is then "patched": its first few positions are reordered (a stable
partition, still a permutation) so the batch gets items it does not already hold. The only
state is a cursor and the latest patch per stratum, both a pure function of the counts
consumed so far.
"""

import numpy as np

from viscy_data.samplers._feistel import keyed_permutation, stream_keys
from viscy_data.samplers._open_groups import GroupQueues
from viscy_data.samplers._plan import ChunkPlan, DrawRules


class StratumQueues:
    """Cursors into the shuffled queues of every stratum, for one epoch.

    Parameters
    ----------
    sizes : np.ndarray
        (S,) number of anchors per stratum (all >= 1).
    base_key : int
        64-bit key derived from (seed, epoch); fixes every pass's shuffle.
    """

    def __init__(self, sizes: np.ndarray, base_key: int) -> None:
        self.sizes = sizes.astype(np.int64)
        self.base_key = base_key
        self.cursor = np.zeros(sizes.size, dtype=np.int64)
        self.patches: dict[tuple[int, int], np.ndarray] = {}

    def take(self, plan: ChunkPlan, counts: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """Advance every entry's stratum by ``counts``; offsets of the ``chosen`` entries' rows.

        Offsets are within their stratum, entry after entry in the order given.
        """
        first = self.consume(plan.stratum, counts)
        n = counts[chosen]
        within = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        strata = np.repeat(plan.stratum[chosen], n)
        return self.values(strata, np.repeat(first[chosen], n) + within)

    def consume(self, strata: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Take ``counts[i]`` consecutive positions of ``strata[i]``, in the order given.

        Parameters
        ----------
        strata, counts : np.ndarray
            One entry per (batch, stratum) pair, listed in batch order; a stratum appears
            at most once per batch.

        Returns
        -------
        np.ndarray
            (len(strata),) int64 first queue position of each entry.
        """
        self._forget_old_patches()
        by_stratum = np.argsort(strata, kind="stable")
        sorted_strata, sorted_counts = strata[by_stratum], counts[by_stratum]
        ends = np.cumsum(sorted_counts)
        group_first = np.r_[True, sorted_strata[1:] != sorted_strata[:-1]]
        group_base = np.maximum.accumulate(np.where(group_first, ends - sorted_counts, 0))
        first = np.empty(strata.size, dtype=np.int64)
        first[by_stratum] = self.cursor[sorted_strata] + (ends - sorted_counts - group_base)
        np.add.at(self.cursor, strata, counts)
        n = self.sizes[strata]
        straddles = np.flatnonzero(
            (counts > 0) & (counts <= n) & (first // n != (first + counts - 1) // n)
        )
        for i in straddles[np.lexsort((first[straddles], strata[straddles]))]:
            self._patch(int(strata[i]), int(first[i]), int(counts[i]))
        return first

    def values(self, strata: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Item (offset within its stratum) shown at each queue position."""
        n = self.sizes[strata]
        cycle, offset = np.divmod(positions, n)
        out = self._pass_order(strata, cycle, offset)
        longest = max((front.size for front in self.patches.values()), default=0)
        near_start = np.flatnonzero(offset < longest)
        if near_start.size:
            pairs = (strata[near_start].astype(np.int64) << 32) | cycle[near_start]
            distinct, which = np.unique(pairs, return_inverse=True)
            for j, pair in enumerate(distinct.tolist()):
                front = self.patches.get((pair >> 32, pair & 0xFFFFFFFF))
                if front is not None:
                    hit = near_start[(which == j) & (offset[near_start] < front.size)]
                    out[hit] = front[offset[hit]]
        return out

    def _patch(self, stratum: int, first: int, count: int) -> None:
        """Reorder the head of the next pass so it avoids the tail this batch already took."""
        n = int(self.sizes[stratum])
        cycle = first // n
        tail_positions = np.arange(first, (cycle + 1) * n)
        tail = self.values(np.full(tail_positions.size, stratum), tail_positions)
        head = self._pass_order(
            np.full(count, stratum), np.full(count, cycle + 1), np.arange(count)
        )
        fresh = ~np.isin(head, tail)
        needed = count - tail.size
        stop = int(np.flatnonzero(fresh)[needed - 1]) + 1
        front = np.concatenate([head[:stop][fresh[:stop]], head[:stop][~fresh[:stop]]])
        self.patches[(stratum, cycle + 1)] = front

    def _pass_order(self, strata: np.ndarray, cycle: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Item of each pass position before any patch: a keyed row shuffle."""
        keys = stream_keys(self.base_key, strata, cycle)
        return keyed_permutation(offset, self.sizes[strata], keys)

    def _forget_old_patches(self) -> None:
        """Drop patches whose positions all lie behind their stratum's cursor."""
        for s, c in list(self.patches):
            if self.cursor[s] >= c * self.sizes[s] + self.patches[(s, c)].size:
                del self.patches[(s, c)]


def fill_from_queues(
    rules: DrawRules, plan: ChunkPlan, queues: StratumQueues | GroupQueues, keep: np.ndarray
) -> np.ndarray:
    """Consume the plan's counts from the queues; return row positions of the kept batches.

    Every batch of the plan advances the queues (so all ranks stay in step); only batches
    with ``keep[b]`` are materialised, shape (keep.sum(), batch_size). A stratum of ``n``
    anchors asked for ``k >= n`` rows gives every anchor ``k // n`` times and takes only the
    remaining ``k % n`` from its queue, so its anchors appear ``floor`` or ``ceil(k / n)``
    times.
    """
    st = rules.strata
    n = st.sizes[plan.stratum]
    repeats = plan.count // n
    from_queue = plan.count - repeats * n
    chosen = np.flatnonzero(keep[plan.batch])
    offsets = queues.take(plan, from_queue, chosen)
    counts = from_queue[chosen]
    strata = np.repeat(plan.stratum[chosen], counts)
    rows = st.order[st.start[strata] + offsets]
    whole = chosen[repeats[chosen] > 0]
    if whole.size:
        batch = [np.repeat(plan.batch[chosen], counts)]
        rows = [rows]
        for i in whole.tolist():
            s0, s1 = st.start[plan.stratum[i]], st.start[plan.stratum[i] + 1]
            rows.append(np.tile(st.order[s0:s1], repeats[i]))
            batch.append(np.full(rows[-1].size, plan.batch[i]))
        rows = np.concatenate(rows)[np.argsort(np.concatenate(batch), kind="stable")]
    return rows.reshape(-1, rules.batch_size)
