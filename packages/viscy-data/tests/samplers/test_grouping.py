"""Chunk-aware batching (group_by): few groups per batch, every anchor once before twice."""

import numpy as np
import polars as pl
import pytest

from viscy_data import FlexibleBatchSampler

GROUP = ("experiment", "fov_name", "t")


def plates(sizes=(100, 200), frames=30, seed=0) -> pl.DataFrame:
    """2 experiments x 2 wells (one condition each) x 2 FOVs x ``frames`` frames of cells."""
    rng = np.random.default_rng(seed)
    parts = []
    for experiment in ("a", "b"):
        for well, condition in (("A/1", "mock"), ("A/2", "infected")):
            for fov in (0, 1):
                for t in range(frames):
                    n = int(rng.integers(*sizes))
                    parts.append(
                        pl.DataFrame(
                            {
                                "experiment": [experiment] * n,
                                "condition": [condition] * n,
                                "fov_name": [f"{well}/{fov}"] * n,
                                "t": [t] * n,
                            }
                        )
                    )
    table = pl.concat(parts)
    return table[rng.permutation(table.height)]  # rows of a group are not adjacent


def group_ids(table: pl.DataFrame) -> np.ndarray:
    return table.select(pl.struct(list(GROUP)).rank("dense")).to_series().to_numpy()


def groups_per_batch(table: pl.DataFrame, batches: list[list[int]]) -> np.ndarray:
    ids = group_ids(table)
    return np.array([np.unique(ids[b]).size for b in batches])


def groups_per_part(table: pl.DataFrame, batches: list[list[int]]) -> np.ndarray:
    """(batch, condition) groups: rows of each condition of each batch come from how many."""
    ids, condition = group_ids(table), table.get_column("condition").to_numpy()
    return np.array(
        [[np.unique(ids[b][condition[b] == c]).size for c in ("mock", "infected")] for b in batches]
    )


@pytest.mark.parametrize("k", [4, 8])
def test_batches_read_at_most_k_groups(k):
    table = plates()
    grouped = list(FlexibleBatchSampler(table, 64, group_by=GROUP, groups_per_batch=k, seed=1))
    counts = groups_per_batch(table, grouped)
    assert counts.max() <= k and np.median(counts) == k and np.mean(counts == k) > 0.8
    shuffled = groups_per_batch(table, list(FlexibleBatchSampler(table, 64, seed=1)))
    assert np.median(shuffled) > 30  # the default draws rows from everywhere


def test_one_group_per_condition_shares_a_batch_only_at_a_group_end():
    """k = 2 over two conditions: one group each, and a group's last rows (fewer than the
    condition's 32) must share their batch with the next group: never three."""
    table = plates()
    sampler = FlexibleBatchSampler(table, 64, group_by=GROUP, groups_per_batch=2, seed=1)
    parts = groups_per_part(table, list(sampler))
    assert parts.max() == 2 and np.median(parts) == 1


def test_groups_smaller_than_their_share_are_the_only_excess():
    """A condition's 32 rows come from 2 groups; an open group keeps at least a 16-row share
    for the next batch, which a group of fewer than 32 rows cannot always do."""
    table = plates(sizes=(8, 100))
    sampler = FlexibleBatchSampler(table, 64, group_by=GROUP, groups_per_batch=4, seed=1)
    batches = list(sampler)
    sizes = table.group_by(GROUP).len()
    small = sizes.filter(pl.col("len") < 32).select(GROUP)
    is_small = table.join(small.with_columns(s=pl.lit(True)), on=GROUP, how="left")
    is_small = is_small.get_column("s").fill_null(False).to_numpy()
    ids, condition = group_ids(table), table.get_column("condition").to_numpy()
    excess = 0
    for batch in batches:
        for c in ("mock", "infected"):
            rows = np.array(batch)[condition[batch] == c]
            if np.unique(ids[rows]).size > 2:  # more than the part's 2 groups: a small one in it
                excess += 1
                assert is_small[rows].any()
    assert 0 < excess < len(batches) * 2


def test_leaky_rows_count_against_k():
    table = plates()
    sampler = FlexibleBatchSampler(
        table, 64, leaky=0.1, group_by=GROUP, groups_per_batch=4, seed=7
    )  # 6 leaky rows: a group per other-experiment condition, leaving one per own condition
    experiment = table.get_column("experiment").to_numpy()
    batches = list(sampler)
    counts = groups_per_batch(table, batches)
    mixed = np.mean([np.unique(experiment[b]).size > 1 for b in batches])
    # a single-group part needs a second group when its group's last rows are too few
    assert mixed > 0.9 and np.median(counts) == 4 and counts.max() <= 8
    assert np.mean(counts <= 5) > 0.9


def test_condition_shares_and_experiment_purity_hold():
    table = plates()
    sampler = FlexibleBatchSampler(table, 64, group_by=GROUP, groups_per_batch=4, seed=2)
    experiment = table.get_column("experiment").to_numpy()
    condition = table.get_column("condition").to_numpy()
    for batch in sampler:
        assert np.unique(experiment[batch]).size == 1
        assert (condition[batch] == "mock").sum() == 32


def test_every_anchor_is_drawn_once_before_any_twice():
    table = plates(sizes=(20, 120))
    sampler = FlexibleBatchSampler(table, 64, group_by=GROUP, groups_per_batch=4, seed=3)
    rows = np.concatenate(list(sampler))
    stratum = table.select(pl.struct("experiment", "condition").rank("dense")).to_series()
    stratum = stratum.to_numpy()
    for s in np.unique(stratum):
        drawn = rows[stratum[rows] == s]
        first_pass = drawn[: int((stratum == s).sum())]
        assert np.unique(first_pass).size == first_pass.size, f"stratum {s} repeats a row"


def test_one_stratum_epoch_shows_every_anchor_exactly_once():
    table = plates().filter(pl.col("experiment") == "a", pl.col("condition") == "mock")
    table = table.head(table.height // 32 * 32)
    sampler = FlexibleBatchSampler(
        table, 32, experiment_aware=False, condition_balanced=False,
        group_by=GROUP, groups_per_batch=2, seed=4,
    )  # fmt: skip
    rows = np.concatenate(list(sampler))
    assert np.array_equal(np.sort(rows), np.arange(table.height))


def test_deterministic_and_new_order_each_epoch():
    table = plates()

    def make():
        return FlexibleBatchSampler(table, 64, group_by=GROUP, groups_per_batch=4, seed=5)

    first, again = list(make()), list(make())
    assert first == again
    sampler = make()
    sampler.set_epoch(1)
    assert list(sampler) != first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"group_by": ("experiment", "fov")}, r"group_by names column\(s\) \['fov'\]"),
        ({"groups_per_batch": 4}, r"groups_per_batch=4 needs group_by"),
        ({"group_by": GROUP, "groups_per_batch": 0}, r"groups_per_batch"),
    ],
)
def test_bad_grouping_parameters(kwargs, message):
    table = plates(frames=2).with_columns(hours_post_infection=pl.col("t").cast(pl.Float64))
    with pytest.raises(ValueError, match=message):
        FlexibleBatchSampler(table, 16, **kwargs)


def test_null_group_values_are_refused():
    table = plates(frames=2).with_columns(
        t=pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("t"))
    )
    with pytest.raises(ValueError, match=r"column 't' \(group_by\) has 1 null"):
        FlexibleBatchSampler(table, 16, group_by=GROUP)


def test_temporal_enrichment_draws_each_part_group_by_group():
    table = plates().with_columns(hours_post_infection=pl.col("t").cast(pl.Float64) / 2)
    options = dict(temporal_enrichment=True, temporal_window_hours=1.0, seed=6)
    grouped = FlexibleBatchSampler(table, 64, group_by=GROUP, groups_per_batch=4, **options)
    plain = FlexibleBatchSampler(table, 64, **options)
    hours = table.get_column("hours_post_infection").to_numpy()
    condition = table.get_column("condition").to_numpy()
    counts = groups_per_batch(table, list(grouped))
    assert counts.max() <= 4 and np.median(groups_per_batch(table, list(plain))) > 15
    for batch in grouped:  # the window rules hold: 70% near one time; shares per part (+-1)
        assert np.unique(batch).size == 64 and abs((condition[batch] == "mock").sum() - 32) <= 1
        spread = hours[batch]
        centre = np.median(spread)
        assert np.mean(np.abs(spread - centre) <= 2.0) >= 0.6
