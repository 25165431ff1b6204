"""Decide what each batch of a chunk holds: how many rows from which stratum.

A plan fixes, for every batch of a chunk, the primary experiment, the per-stratum counts
(condition quotas by largest remainder, split into a focal and an outside-the-window part
when temporal enrichment is on), the leaky rows drawn from other experiments, and the focal
time. Filling a plan with row positions is done elsewhere (queues or time windows).
"""

from dataclasses import dataclass

import numpy as np

from viscy_data.samplers._groups import GroupLayout
from viscy_data.samplers._strata import Strata


@dataclass(frozen=True)
class DrawRules:
    """Everything a chunk plan needs, fixed at sampler construction.

    Attributes
    ----------
    strata : Strata
        Row positions grouped by (experiment, condition).
    batch_size : int
        Rows per batch.
    n_leaky : int
        Rows per batch drawn from other experiments (``round(leaky * batch_size)``).
    experiment_weight : np.ndarray
        (E,) non-negative weight of each experiment (anchor counts by default).
    share : np.ndarray
        (S,) share of its experiment's primary rows that each stratum receives.
    focal_fraction : float or None
        ``1 - temporal_global_fraction`` when temporal enrichment is on, else None.
    window_hours : float
        Half-width of the focal window in hours.
    groups : GroupLayout or None
        With ``group_by``: the runs of one group in ``strata.order`` (queues keep a few
        groups open, time windows draw group by group); None otherwise.
    groups_per_batch : int or None
        With ``group_by``: the most groups a batch reads (see ``_open_groups.entry_lanes``).
    """

    strata: Strata
    batch_size: int
    n_leaky: int
    experiment_weight: np.ndarray
    share: np.ndarray
    focal_fraction: float | None
    window_hours: float
    groups: GroupLayout | None = None
    groups_per_batch: int | None = None

    @property
    def no_leaky_source(self) -> np.ndarray:
        """(E,) True where no other experiment has positive weight (leaky rows stay home)."""
        positive = self.experiment_weight > 0
        return (positive.sum() - positive) == 0


@dataclass(frozen=True)
class ChunkPlan:
    """Per (batch, stratum) row counts for a chunk of consecutive batches.

    Entries are sorted by batch; a stratum appears at most once per batch, and the counts
    of each batch sum to the batch size. ``focal``, ``outside`` and ``anywhere`` split
    ``count`` by where in time the rows may lie (all zeros but ``anywhere`` when temporal
    enrichment is off); ``focal_hours`` is the focal time of each batch or None;
    ``experiment`` is each batch's primary experiment (entries of other experiments are its
    leaky rows).
    """

    n_batches: int
    batch: np.ndarray
    stratum: np.ndarray
    count: np.ndarray
    focal: np.ndarray
    outside: np.ndarray
    anywhere: np.ndarray
    focal_hours: np.ndarray | None
    experiment: np.ndarray


def largest_remainder(
    rng: np.random.Generator,
    totals: np.ndarray,
    shares: np.ndarray,
    batch: np.ndarray,
    group_sizes: np.ndarray,
) -> np.ndarray:
    """Split each batch's total over its strata by share, rounding by largest remainder.

    ``totals`` holds one total per batch; pairs are grouped by batch (``batch``
    non-decreasing, ``group_sizes[b]`` pairs for batch ``b``) and ``shares`` sum to one
    within each batch. Ties between equal remainders are broken at random, so when strata
    outnumber slots every stratum gets its turn over successive batches.
    """
    exact = totals[batch] * shares
    base = np.floor(exact)
    remainder = np.round(exact - base, 9)
    short = totals - np.bincount(batch, weights=base, minlength=totals.size).astype(np.int64)
    ranked = np.lexsort((rng.random(batch.size), -remainder, batch))
    rank = np.arange(batch.size) - np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    extra = np.zeros(batch.size, dtype=np.int64)
    extra[ranked] = rank < short[batch[ranked]]
    return base.astype(np.int64) + extra


def plan_chunk(rules: DrawRules, rng: np.random.Generator, n_batches: int) -> ChunkPlan:
    """Draw the composition of ``n_batches`` consecutive batches."""
    st, size = rules.strata, rules.batch_size
    n_exp = len(st.experiment_names)
    weight = rules.experiment_weight
    cum_weight = np.cumsum(weight)
    if n_exp > 1:
        drawn = rng.random(n_batches) * cum_weight[-1]
        experiment = np.minimum(np.searchsorted(cum_weight, drawn, side="right"), n_exp - 1)
    else:
        experiment = np.zeros(n_batches, dtype=np.int64)
    stays_home = rules.no_leaky_source[experiment] | (rules.n_leaky == 0)
    primary = np.where(stays_home, size, size - rules.n_leaky)

    first = st.experiment_start[experiment]
    group_sizes = st.experiment_start[experiment + 1] - first
    batch = np.repeat(np.arange(n_batches), group_sizes)
    stratum = (
        first[batch]
        + np.arange(batch.size)
        - np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    )
    share = rules.share[stratum]
    zeros = np.zeros(batch.size, dtype=np.int64)
    focal_hours = None
    if rules.focal_fraction is None:
        anywhere = largest_remainder(rng, primary, share, batch, group_sizes)
        focal, outside = zeros, zeros
    else:
        n_focal = np.floor(rules.focal_fraction * primary + 0.5).astype(np.int64)
        focal = largest_remainder(rng, n_focal, share, batch, group_sizes)
        outside = largest_remainder(rng, primary - n_focal, share, batch, group_sizes)
        anywhere = zeros
        row_start = st.start[st.experiment_start]
        picked = rng.integers(0, row_start[experiment + 1] - row_start[experiment])
        focal_hours = st.hours[row_start[experiment] + picked]

    leaky_batches = np.flatnonzero(~stays_home)
    if leaky_batches.size:
        home = np.repeat(experiment[leaky_batches], rules.n_leaky)
        home_weight = weight[home]
        drawn = rng.random(home.size) * (cum_weight[-1] - home_weight)
        drawn = drawn + (drawn >= cum_weight[home] - home_weight) * home_weight
        other = np.minimum(np.searchsorted(cum_weight, drawn, side="right"), n_exp - 1)
        row_start = st.start[st.experiment_start]
        row = row_start[other] + rng.integers(0, row_start[other + 1] - row_start[other])
        leaky_stratum = np.searchsorted(st.start, row, side="right") - 1
        n_strata = st.sizes.size
        key = np.repeat(leaky_batches, rules.n_leaky) * n_strata + leaky_stratum
        pairs, counts = np.unique(key, return_counts=True)
        batch = np.concatenate([batch, pairs // n_strata])
        stratum = np.concatenate([stratum, pairs % n_strata])
        none = np.zeros(pairs.size, dtype=np.int64)
        focal, outside = np.concatenate([focal, none]), np.concatenate([outside, none])
        anywhere = np.concatenate([anywhere, counts])

    count = focal + outside + anywhere
    keep = np.flatnonzero(count > 0)
    keep = keep[np.argsort(batch[keep], kind="stable")]
    return ChunkPlan(
        n_batches=n_batches,
        batch=batch[keep],
        stratum=stratum[keep],
        count=count[keep],
        focal=focal[keep],
        outside=outside[keep],
        anywhere=anywhere[keep],
        focal_hours=focal_hours,
        experiment=experiment,
    )
