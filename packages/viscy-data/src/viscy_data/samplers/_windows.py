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
    for i in np.flatnonzero(~fits).tolist():
        s0, s1 = int(st.start[stratum[i]]), int(st.start[stratum[i] + 1])
        if plan.anywhere[i]:
            local = cover(rng, s1 - s0, int(plan.anywhere[i]))
        else:
            local = _fill_short_window(
                rng,
                st.hours[s0:s1],
                float(plan.focal_hours[batch[i]]),
                int(lo[i] - s0),
                int(hi[i] - s0),
                int(plan.focal[i]),
                int(plan.outside[i]),
            )
        positions.append(s0 + local)
        batches.append(np.full(local.size, batch[i]))
    position, owner_batch = np.concatenate(positions), np.concatenate(batches)
    ranked = np.argsort(owner_batch, kind="stable")
    return st.order[position[ranked]].reshape(plan.n_batches, rules.batch_size)
