"""Step 3: FlexibleBatchSampler, batches of anchor row positions."""

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from torch.utils.data import Sampler

from viscy_data.samplers._checks import (
    as_polars,
    check_axes_off,
    check_fraction,
    check_grouping,
    check_hours,
    check_int,
    condition_shares,
    named_weights,
)
from viscy_data.samplers._epochs import EpochCursor
from viscy_data.samplers._groups import (
    group_codes,
    grouped_strata,
)
from viscy_data.samplers._open_groups import GroupQueues
from viscy_data.samplers._plan import DrawRules, plan_chunk
from viscy_data.samplers._queues import StratumQueues, fill_from_queues
from viscy_data.samplers._strata import CONDITION, EXPERIMENT, HOURS, build_strata, require_columns
from viscy_data.samplers._windows import fill_windows

CHUNK_BATCHES = 64  # batches planned together; part of the definition of the batch stream
_QUEUES, _PLAN, _FILL = 0, 1, 2  # RNG stream purposes


class FlexibleBatchSampler(EpochCursor, Sampler[list[int]]):
    """Batches of row positions of an anchors table, stratified by experiment, condition and time.

    Use it as a DataLoader ``batch_sampler``: each item is one batch, a list of
    ``batch_size`` Python ints, row positions (0..N-1) of ``valid_anchors``.

    Each batch picks a primary experiment with probability proportional to its anchor
    count (or ``experiment_weights``); ``round(leaky * batch_size)`` rows come from the
    other experiments in proportion to their counts (or weights), the rest from the
    primary one, split over its conditions equally (or by ``condition_ratio``) with
    largest-remainder rounding. With temporal enrichment, ``1 - temporal_global_fraction``
    of the primary rows lie within ``temporal_window_hours`` of a focal time (the time of a
    uniformly drawn anchor of the primary experiment) and the rest outside it, condition
    shares holding in both parts. Each (experiment, condition) stratum is read as a
    shuffled queue refilled when exhausted (a time window draws without replacement
    instead); see ``docs/viscy-data/sampler.md``.

    An epoch holds ``N // batch_size`` batches (the ceiling with ``drop_last=False``; every
    batch is full either way), floored to a multiple of ``num_replicas``; rank ``r`` yields
    the batches ``r, r + num_replicas, ...``, so every rank yields ``len(self)`` batches
    and none is yielded twice. All ranks draw the same stream, a pure function of (data,
    parameters, seed, epoch), lazily, one chunk of batches at a time.

    Parameters
    ----------
    valid_anchors : polars.DataFrame or pandas.DataFrame
        One row per anchor. Columns used: ``experiment`` (when ``experiment_aware``),
        ``condition`` (when ``condition_balanced``), ``hours_post_infection`` (when
        ``temporal_enrichment``); nulls there are a ValueError.
    batch_size : int, default 128
        Rows per batch (>= 1).
    experiment_aware : bool, default True
        Draw each batch's primary rows from a single experiment.
    leaky : float, default 0.0
        Fraction in [0, 1) of each batch drawn from the other experiments; needs
        ``experiment_aware``. Without another experiment of positive weight the whole
        batch comes from the primary one.
    experiment_weights : dict or None, default None
        Experiment name -> weight >= 0 for choosing primary experiments and leaky rows;
        every experiment needs a weight. None uses anchor counts.
    condition_balanced : bool, default True
        Give each condition present in the primary experiment an equal share of its rows.
    condition_ratio : dict or None, default None
        Condition name -> weight >= 0; shares are these weights normalised over the
        conditions present in the primary experiment. Every condition needs a weight.
    temporal_enrichment : bool, default False
        Concentrate the primary rows around a focal hours-post-infection value.
    temporal_window_hours : float, default 2.0
        Half-width of the focal window in hours (an anchor at ``|t - t0| <= w`` is inside).
    temporal_global_fraction : float, default 0.3
        Fraction in [0, 1] of the primary rows drawn from outside the window.
    num_replicas : int, default 1
        Number of DDP ranks sharing the epoch.
    rank : int, default 0
        This rank, in ``[0, num_replicas)``.
    seed : int, default 0
        Non-negative seed of the batch stream.
    drop_last : bool, default True
        True: ``N // batch_size`` batches per epoch; False: ``ceil(N / batch_size)``.
    group_by : sequence of str or None, default None
        Chunk-aware batching: columns of ``valid_anchors`` whose values together form a group
        (e.g. ``("experiment", "fov_name", "t")``, the anchors of one image plane). A batch then
        reads at most ``groups_per_batch`` groups (exceptions: groups smaller than their
        share, and parts read through one group at its end); every anchor is still drawn once
        before any is drawn twice (see ``docs/viscy-data/sampler.md``). With
        ``temporal_enrichment`` each part of a batch (focal window, outside) is drawn group by
        group instead.
    groups_per_batch : int or None, default None
        With ``group_by``: the most groups a batch reads (4 when None). Leaky rows take one
        group per other-experiment condition; the rest is split over the batch's own
        conditions by their rows, at least one each.

    Raises
    ------
    ValueError
        Missing column, nulls, a parameter out of range, bad or unknown weight names, a
        parameter of an axis that is off, or too few anchors for one batch per rank.

    Examples
    --------
    >>> import polars as pl
    >>> anchors = pl.DataFrame({"experiment": ["a"] * 6 + ["b"] * 6,
    ...                         "condition": ["mock", "infected"] * 6})
    >>> sampler = FlexibleBatchSampler(anchors, batch_size=4, seed=1)
    >>> len(sampler), [len(batch) for batch in sampler]
    (3, [4, 4, 4])
    >>> sampler.state_dict()["epoch"], sampler.state_dict()["batches_done"]
    (0, 3)
    """

    def __init__(
        self,
        valid_anchors: object,
        batch_size: int = 128,
        experiment_aware: bool = True,
        leaky: float = 0.0,
        experiment_weights: Mapping | None = None,
        condition_balanced: bool = True,
        condition_ratio: Mapping | None = None,
        temporal_enrichment: bool = False,
        temporal_window_hours: float = 2.0,
        temporal_global_fraction: float = 0.3,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        drop_last: bool = True,
        group_by: Sequence[str] | None = None,
        groups_per_batch: int | None = None,
    ) -> None:
        super().__init__()
        table = as_polars(valid_anchors)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.num_replicas = check_int("num_replicas", num_replicas, 1)
        self.rank = check_int(
            f"rank (with num_replicas={self.num_replicas})", rank, 0, self.num_replicas
        )
        self.seed = check_int("seed", seed, 0)
        self.leaky = check_fraction("leaky", leaky, high_open=True)
        self.temporal_global_fraction = check_fraction(
            "temporal_global_fraction", temporal_global_fraction, high_open=False
        )
        self.temporal_window_hours = check_hours("temporal_window_hours", temporal_window_hours)
        self.experiment_aware, self.condition_balanced = experiment_aware, condition_balanced
        self.temporal_enrichment, self.drop_last = temporal_enrichment, drop_last
        self.experiment_weights, self.condition_ratio = experiment_weights, condition_ratio
        check_axes_off(
            experiment_aware, condition_balanced, leaky, experiment_weights, condition_ratio
        )
        require_columns(
            table,
            [
                c
                for c, on in (
                    (EXPERIMENT, experiment_aware),
                    (CONDITION, condition_balanced),
                    (HOURS, temporal_enrichment),
                )
                if on
            ],
        )
        n_rows = table.height
        batches = n_rows // self.batch_size if drop_last else -(-n_rows // self.batch_size)
        self._len = batches // self.num_replicas
        if n_rows == 0:
            raise ValueError("valid_anchors has 0 rows; the sampler needs at least one batch.")
        strata = build_strata(table, experiment_aware, condition_balanced, temporal_enrichment)
        self.group_by, self.groups_per_batch = check_grouping(group_by, groups_per_batch)
        layout = None
        if self.group_by is not None:
            strata, layout = grouped_strata(strata, group_codes(table, self.group_by))
        exp_weight = (
            named_weights(
                "experiment_weights", experiment_weights, strata.experiment_names, EXPERIMENT
            )
            if experiment_weights is not None
            else strata.experiment_sizes.astype(np.float64)
        )
        cond_weight = (
            named_weights("condition_ratio", condition_ratio, strata.condition_names, CONDITION)
            if condition_ratio is not None
            else np.ones(len(strata.condition_names))
        )
        if self._len == 0:  # after the parameter checks, which are more specific
            raise ValueError(
                f"valid_anchors has {table.height} rows, fewer than one batch per rank: "
                f"batch_size={self.batch_size} x num_replicas={self.num_replicas} with "
                f"drop_last={drop_last}. Lower batch_size or add anchors."
            )
        share = condition_shares(strata, cond_weight, exp_weight)
        self._rules = DrawRules(
            strata=strata,
            batch_size=self.batch_size,
            n_leaky=int(np.floor(self.leaky * self.batch_size + 0.5)),
            experiment_weight=exp_weight,
            share=share,
            focal_fraction=1.0 - self.temporal_global_fraction if temporal_enrichment else None,
            window_hours=self.temporal_window_hours,
            groups=layout,
            groups_per_batch=self.groups_per_batch if layout is not None else None,
        )
        self._epoch = 0
        self._batches_done = 0
        self._pending_start: int | None = None
        self._advance = False

    def __len__(self) -> int:
        """Batches this rank yields per epoch (equal on every rank)."""
        return self._len

    def __iter__(self) -> Iterator[list[int]]:
        return self._iterate()

    def _iterate(self) -> Iterator[list[int]]:
        if self._advance:
            self._epoch += 1
        epoch, start = self._epoch, self._pending_start or 0
        self._pending_start, self._advance, self._batches_done = None, True, start
        replicas, rules = self.num_replicas, self._rules
        used = self._len * replicas
        first_global = start * replicas
        if first_global >= used:
            return
        queues = None
        if not self.temporal_enrichment:
            base = np.random.SeedSequence([self.seed, epoch, _QUEUES, 0])
            key = int(base.generate_state(1, np.uint64)[0])
            if rules.groups is not None:
                queues = GroupQueues(rules, key)
            else:
                queues = StratumQueues(rules.strata.sizes, key)
        first_chunk = 0 if queues is not None else first_global // CHUNK_BATCHES
        for chunk in range(first_chunk, -(-used // CHUNK_BATCHES)):
            # Chunks are always planned whole, so the stream does not depend on how much
            # of it an epoch uses (world size, drop_last).
            plan = plan_chunk(rules, self._rng(epoch, _PLAN, chunk), CHUNK_BATCHES)
            global_index = chunk * CHUNK_BATCHES + np.arange(CHUNK_BATCHES)
            mine = (
                (global_index % replicas == self.rank)
                & (global_index >= first_global)
                & (global_index < used)
            )
            if queues is not None:
                batches = fill_from_queues(rules, plan, queues, mine)
            elif mine.any():
                batches = fill_windows(rules, plan, self._rng(epoch, _FILL, chunk))[mine]
            else:
                continue
            for batch in batches:
                self._batches_done += 1
                yield batch.tolist()

    def _rng(self, epoch: int, purpose: int, chunk: int) -> np.random.Generator:
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, epoch, purpose, chunk]))
        )
