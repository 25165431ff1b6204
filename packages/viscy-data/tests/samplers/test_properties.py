"""Invariants of FlexibleBatchSampler over generated anchors tables and parameters."""

from collections import defaultdict

import numpy as np
import polars as pl
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from viscy_data import FlexibleBatchSampler
from viscy_data.samplers._feistel import keyed_permutation

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def anchors(draw, min_per_stratum: int = 1) -> pl.DataFrame:
    """1-3 experiments x 1-3 conditions, some strata absent, integer hours 0..5."""
    n_exp, n_cond = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sizes = draw(
        st.lists(
            st.one_of(st.just(0), st.integers(min_per_stratum, 40)),
            min_size=n_exp * n_cond,
            max_size=n_exp * n_cond,
        ).filter(lambda s: all(any(s[e * n_cond : (e + 1) * n_cond]) for e in range(n_exp)))
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    rows = [(f"e{i // n_cond}", f"c{i % n_cond}") for i, n in enumerate(sizes) for _ in range(n)]
    order = rng.permutation(len(rows))
    return pl.DataFrame(
        {
            "experiment": [rows[i][0] for i in order],
            "condition": [rows[i][1] for i in order],
            "hours_post_infection": rng.integers(0, 6, len(rows)).astype(float),
        }
    )


options = st.fixed_dictionaries(
    {
        "leaky": st.sampled_from([0.0, 0.25, 0.5]),
        "temporal_enrichment": st.booleans(),
        "temporal_window_hours": st.sampled_from([0.0, 1.0, 3.0]),
        "temporal_global_fraction": st.sampled_from([0.0, 0.3, 1.0]),
        "seed": st.integers(0, 10),
    }
)


def _experiments(table):
    return table.get_column("experiment").n_unique()


@SETTINGS
@given(table=anchors(min_per_stratum=8), batch_size=st.integers(1, 8), opts=options)
def test_batches_are_full_and_unique(table, batch_size, opts):
    sampler = FlexibleBatchSampler(table, batch_size=batch_size, **opts)
    batches = list(sampler)
    assert len(batches) == len(sampler) == table.height // batch_size
    for batch in batches:
        assert len(batch) == len(set(batch)) == batch_size
        assert 0 <= min(batch) and max(batch) < table.height


@SETTINGS
@given(
    table=anchors(),
    batch_size=st.integers(1, 6),
    replicas=st.integers(1, 4),
    opts=options,
    drop_last=st.booleans(),
)
def test_ranks_are_disjoint_equal_and_cover_the_stream(
    table, batch_size, replicas, opts, drop_last
):
    total = table.height // batch_size if drop_last else -(-table.height // batch_size)
    assume(total >= replicas)
    kwargs = dict(batch_size=batch_size, drop_last=drop_last, **opts)
    whole = list(FlexibleBatchSampler(table, **kwargs))
    shards = [
        list(FlexibleBatchSampler(table, num_replicas=replicas, rank=r, **kwargs))
        for r in range(replicas)
    ]
    assert {len(s) for s in shards} == {total // replicas}
    interleaved = [shards[r][i] for i in range(total // replicas) for r in range(replicas)]
    assert interleaved == whole[: len(interleaved)]


@SETTINGS
@given(
    table=anchors(),
    batch_size=st.integers(1, 6),
    opts=options,
    epoch=st.integers(0, 3),
    data=st.data(),
)
def test_resume_equals_uninterrupted(table, batch_size, opts, epoch, data):
    assume(table.height >= batch_size)
    sampler = FlexibleBatchSampler(table, batch_size=batch_size, num_replicas=1, **opts)
    sampler.set_epoch(epoch)
    whole = list(sampler)
    done = data.draw(st.integers(0, len(whole)))
    run = FlexibleBatchSampler(table, batch_size=batch_size, **opts)
    run.set_epoch(epoch)
    stream = iter(run)
    head = [next(stream) for _ in range(done)]
    resumed = FlexibleBatchSampler(table, batch_size=batch_size, **opts)
    resumed.load_state_dict(run.state_dict())
    assert head + list(resumed) == whole


@SETTINGS
@given(
    table=anchors(),
    batch_size=st.integers(1, 8),
    leaky=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 5),
)
def test_queues_show_each_anchor_of_a_stratum_within_one_view_of_the_others(
    table, batch_size, leaky, seed
):
    assume(table.height >= batch_size)
    views = np.zeros(table.height, dtype=int)
    for batch in FlexibleBatchSampler(table, batch_size=batch_size, leaky=leaky, seed=seed):
        np.add.at(views, batch, 1)
    by_stratum = defaultdict(list)
    keys = zip(table.get_column("experiment").to_list(), table.get_column("condition").to_list())
    for row, key in enumerate(keys):
        by_stratum[key].append(views[row])
    for counts in by_stratum.values():
        assert max(counts) - min(counts) <= 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), key=st.integers(0, 2**64 - 1))
def test_keyed_permutation_is_a_bijection(n, key):
    out = keyed_permutation(np.arange(n), np.full(n, n), np.full(n, key, dtype=np.uint64))
    assert np.array_equal(np.sort(out), np.arange(n))
