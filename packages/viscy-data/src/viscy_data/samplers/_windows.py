"""Fill temporally enriched plans: rows inside and outside a focal time window.

Within one batch and stratum, the focal rows are drawn without replacement from the anchors
within ``window_hours`` of the batch's focal time, the outside rows without replacement from
the anchors outside that window, and leaky rows from anywhere in their stratum. A stratum
is sorted by time, so a window is a contiguous slice found with ``searchsorted``.

When the window holds fewer anchors than the focal quota, the quota is completed with the
anchors nearest in time just outside it (the window widens until it holds the quota), and
the outside rows then come from beyond the widened window. When the outside holds too few,
the rest comes from unused anchors inside the window. Only a stratum smaller than its whole
quota repeats anchors (each anchor once before any twice).
"""

import numpy as np

from viscy_data.samplers._open_groups import apportion, entry_lanes
from viscy_data.samplers._plan import ChunkPlan, DrawRules


def draw_distinct(rng: np.random.Generator, sizes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Draw ``counts[g]`` distinct integers from ``[0, sizes[g])`` for each segment ``g``.

    Returns a flat int64 array, segment after segment. Requires ``counts <= sizes``.
    """
    segment = np.repeat(np.arange(sizes.size), counts)
    out = np.empty(segment.size, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    dense = np.flatnonzero((counts > 0) & (4 * counts > sizes))
    for g in dense.tolist():
        out[starts[g] : starts[g] + counts[g]] = rng.choice(sizes[g], counts[g], replace=False)
    sparse = np.flatnonzero(~np.isin(segment, dense))
    span = np.int64(max(int(sizes.max(initial=1)), 1))
    todo = sparse
    while todo.size:
        out[todo] = (rng.random(todo.size) * sizes[segment[todo]]).astype(np.int64)
        key = segment[sparse] * span + out[sparse]
        ranked = np.argsort(key, kind="stable")
        repeated = np.flatnonzero(key[ranked][1:] == key[ranked][:-1]) + 1
        todo = sparse[ranked[repeated]]
    return out


def cover(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``k`` draws from ``[0, n)``: whole shuffles first, so no item repeats before all appear."""
    parts = [rng.permutation(n) for _ in range(k // n)]
    parts.append(rng.choice(n, k % n, replace=False))
    return np.concatenate(parts)


def _fill_short_window(
    rng: np.random.Generator,
    hours: np.ndarray,
    focal_hours: float,
    lo: int,
    hi: int,
    n_focal: int,
    n_outside: int,
) -> np.ndarray:
    """Offsets for one stratum whose window or outside cannot hold its quota (slow path)."""
    n = hours.size
    if n_focal + n_outside >= n:
        return cover(rng, n, n_focal + n_outside)
    if hi - lo >= n_focal:
        focal = lo + rng.choice(hi - lo, n_focal, replace=False)
    else:
        need = n_focal - (hi - lo)
        left = np.arange(lo - 1, max(lo - need, 0) - 1, -1)
        right = np.arange(hi, min(hi + need, n))
        distance = np.concatenate([focal_hours - hours[left], hours[right] - focal_hours])
        nearest = np.concatenate([left, right])[np.argsort(distance, kind="stable")[:need]]
        lo, hi = min(lo, int(nearest.min())), max(hi, int(nearest.max()) + 1)
        focal = np.arange(lo, hi)
    n_beyond = n - (hi - lo)
    if n_beyond >= n_outside:
        drawn = rng.choice(n_beyond, n_outside, replace=False)
        return np.concatenate([focal, drawn + (drawn >= lo) * (hi - lo)])
    beyond = np.r_[0:lo, hi:n]
    unused = np.setdiff1d(np.arange(lo, hi), focal)
    extra = rng.choice(unused, n_outside - n_beyond, replace=False)
    return np.concatenate([focal, beyond, extra])


def fill_windows(rules: DrawRules, plan: ChunkPlan, rng: np.random.Generator) -> np.ndarray:
    """Row positions of every batch of a temporally enriched plan, shape (n_batches, B)."""
    st = rules.strata
    stratum, batch = plan.stratum, plan.batch
    first, n = st.start[stratum], st.sizes[stratum]
    lo, hi = first.copy(), first.copy()
    timed = np.flatnonzero(plan.focal + plan.outside > 0)
    centre = plan.focal_hours[batch[timed]]
    for s in np.unique(stratum[timed]).tolist():
        mine = stratum[timed] == s
        times = st.hours[st.start[s] : st.start[s + 1]]
        rows = timed[mine]
        lo[rows] += np.searchsorted(times, centre[mine] - rules.window_hours, side="left")
        hi[rows] += np.searchsorted(times, centre[mine] + rules.window_hours, side="right")
    inside = hi - lo
    fits = (plan.focal <= inside) & (plan.outside <= n - inside) & (plan.anywhere <= n)
    if rules.groups is not None:
        return _fill_grouped(rules, plan, rng, lo, hi, fits)
    fast = np.flatnonzero(fits)
    # Fast segments: focal slice [lo, hi); the rest of the stratum around it; anywhere.
    seg_entry = np.tile(fast, 3)
    seg_start = np.concatenate([lo[fast], first[fast], first[fast]])
    seg_size = np.concatenate([inside[fast], n[fast] - inside[fast], n[fast]])
    seg_count = np.concatenate([plan.focal[fast], plan.outside[fast], plan.anywhere[fast]])
    gap_at = np.concatenate([inside[fast], lo[fast] - first[fast], n[fast]])
    gap = np.concatenate([np.zeros_like(fast), inside[fast], np.zeros_like(fast)])
    offsets = draw_distinct(rng, seg_size, seg_count)
    owner = np.repeat(np.arange(seg_entry.size), seg_count)
    shifted = offsets + (offsets >= gap_at[owner]) * gap[owner]
    positions = [seg_start[owner] + shifted]
    batches = [batch[seg_entry[owner]]]
    positions += _short_windows(rules, plan, rng, lo, hi, fits)
    batches += [np.full(plan.count[i], batch[i]) for i in np.flatnonzero(~fits).tolist()]
    return _assemble(rules, plan, positions, batches)


def _short_windows(rules, plan, rng, lo, hi, fits) -> list[np.ndarray]:
    """Positions of the entries whose window or outside cannot hold their quota."""
    st, out = rules.strata, []
    for i in np.flatnonzero(~fits).tolist():
        s0, s1 = int(st.start[plan.stratum[i]]), int(st.start[plan.stratum[i] + 1])
        if plan.anywhere[i]:
            local = cover(rng, s1 - s0, int(plan.anywhere[i]))
        else:
            local = _fill_short_window(
                rng,
                st.hours[s0:s1],
                float(plan.focal_hours[plan.batch[i]]),
                int(lo[i] - s0),
                int(hi[i] - s0),
                int(plan.focal[i]),
                int(plan.outside[i]),
            )
        out.append(s0 + local)
    return out


def _assemble(rules, plan, positions, batches) -> np.ndarray:
    position, owner_batch = np.concatenate(positions), np.concatenate(batches)
    ranked = np.argsort(owner_batch, kind="stable")
    return rules.strata.order[position[ranked]].reshape(plan.n_batches, rules.batch_size)


def _fill_grouped(rules, plan, rng, lo, hi, fits) -> np.ndarray:
    """As :func:`fill_windows`, each part drawn group by group (:func:`draw_grouped`)."""
    st, positions, batches = rules.strata, [], []
    lanes_of = entry_lanes(rules, plan, plan.count)
    for i in np.flatnonzero(fits).tolist():
        first, last = int(st.start[plan.stratum[i]]), int(st.start[plan.stratum[i] + 1])
        parts = (
            (plan.focal[i], [(int(lo[i]), int(hi[i]))]),
            (plan.outside[i], [(first, int(lo[i])), (int(hi[i]), last)]),
            (plan.anywhere[i], [(first, last)]),
        )
        parts = [(int(count), ranges) for count, ranges in parts if count]
        split = apportion(int(lanes_of[i]), np.array([count for count, _ in parts]))
        for (count, ranges), share in zip(parts, split.tolist()):
            if count:
                ranges = [(a, b) for a, b in ranges if b > a]
                positions.append(draw_grouped(rng, rules.groups.start, ranges, count, share))
                batches.append(np.full(count, plan.batch[i]))
    positions += _short_windows(rules, plan, rng, lo, hi, fits)
    batches += [np.full(plan.count[i], plan.batch[i]) for i in np.flatnonzero(~fits).tolist()]
    return _assemble(rules, plan, positions, batches)


def draw_grouped(
    rng: np.random.Generator,
    block_start: np.ndarray,
    ranges: list[tuple[int, int]],
    count: int,
    lanes: int,
) -> np.ndarray:
    """``count`` distinct positions of ``ranges``, drawn group by group for chunk-aware batching.

    ``lanes`` runs of about ``count / lanes`` rows each take a random group (a block of
    ``block_start``, chosen with probability proportional to its rows inside ``ranges``) and
    draw distinct rows from it; what a run's group cannot give is added to the next run, and
    only the last run continues in further groups (groups too small to fill the count). No
    group is used twice, and when the unused groups are hard to find (they hold few of the
    rows left), the rest is drawn uniformly.
    """
    lengths = np.array([b - a for a, b in ranges], dtype=np.int64)
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    runs = max(1, min(lanes, count))
    wanted = [count // runs + (i < count % runs) for i in range(runs)]
    taken: list[np.ndarray] = []
    used: set[int] = set()
    need, misses = count, 0
    while need > 0 and misses < 8 * runs:
        u = int(rng.integers(total))
        which = int(np.searchsorted(ends, u, side="right"))
        lo, hi = ranges[which]
        position = lo + u - int(ends[which] - lengths[which])
        block = int(np.searchsorted(block_start, position, side="right")) - 1
        if block in used:
            misses += 1
            continue
        used.add(block)
        first, last = max(int(block_start[block]), lo), min(int(block_start[block + 1]), hi)
        run = wanted.pop(0) if wanted else need
        k = min(run, last - first, need)
        taken.append(first + rng.choice(last - first, k, replace=False))
        need -= k
        if k < run:  # the group ran out: the next run makes up for it
            if wanted:
                wanted[0] += run - k
            else:
                wanted.insert(0, run - k)
    if need > 0:  # few unused groups left: the remaining rows uniformly, without repeats
        free = np.concatenate([np.arange(a, b) for a, b in ranges])
        if taken:
            free = np.setdiff1d(free, np.concatenate(taken))
        taken.append(rng.choice(free, need, replace=False))
    return np.concatenate(taken) if taken else np.empty(0, dtype=np.int64)
