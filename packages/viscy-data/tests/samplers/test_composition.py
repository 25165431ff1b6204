"""What a batch holds: experiment choice, leaky rows, condition quotas, queue coverage."""

from collections import Counter

import numpy as np
import pytest

from viscy_data import FlexibleBatchSampler

from .conftest import epochs_of


def _column(table, name):
    return np.asarray(table.get_column(name).to_list())


def _primary(experiments, batch):
    return Counter(experiments[batch].tolist()).most_common(1)[0]


def test_batches_are_full_unique_python_int_row_positions(three_experiments):
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 1000 // 16
    for batch in batches:
        assert len(batch) == len(set(batch)) == 16
        assert all(type(i) is int and 0 <= i < 1000 for i in batch)


def test_each_batch_comes_from_one_experiment_drawn_by_anchor_count(three_experiments):
    experiments = _column(three_experiments, "experiment")
    sampler = FlexibleBatchSampler(three_experiments, batch_size=10, condition_balanced=False)
    batches = epochs_of(sampler, 20)
    primaries = Counter()
    for batch in batches:
        name, n = _primary(experiments, batch)
        assert n == 10
        primaries[name] += 1
    shares = {k: v / len(batches) for k, v in primaries.items()}
    assert shares == pytest.approx({"a": 0.6, "b": 0.3, "c": 0.1}, abs=0.04)


def test_experiment_weights_replace_anchor_counts(three_experiments):
    experiments = _column(three_experiments, "experiment")
    sampler = FlexibleBatchSampler(
        three_experiments, batch_size=10, experiment_weights={"a": 1, "b": 0, "c": 3}
    )
    primaries = Counter(_primary(experiments, b)[0] for b in epochs_of(sampler, 20))
    total = sum(primaries.values())
    assert "b" not in primaries
    assert primaries["c"] / total == pytest.approx(0.75, abs=0.04)


def test_leaky_rows_are_that_fraction_and_follow_other_experiments_counts(three_experiments):
    experiments = _column(three_experiments, "experiment")
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16, leaky=0.25)
    leaked_from_b_or_c_when_a = Counter()
    for batch in epochs_of(sampler, 10):
        name, n = _primary(experiments, batch)
        assert n == 12 and len(batch) == len(set(batch)) == 16
        if name == "a":
            leaked_from_b_or_c_when_a.update(experiments[batch][experiments[batch] != "a"])
    share_b = leaked_from_b_or_c_when_a["b"] / sum(leaked_from_b_or_c_when_a.values())
    assert share_b == pytest.approx(300 / 400, abs=0.05)


def test_leaky_rows_follow_experiment_weights(three_experiments):
    experiments = _column(three_experiments, "experiment")
    sampler = FlexibleBatchSampler(
        three_experiments, batch_size=20, leaky=0.5, experiment_weights={"a": 1, "b": 1, "c": 1}
    )
    leaked = Counter()
    for batch in epochs_of(sampler, 10):
        name, n = _primary(experiments, batch)
        assert n == 10
        if name == "a":
            leaked.update(experiments[batch][experiments[batch] != "a"])
    assert leaked["c"] / sum(leaked.values()) == pytest.approx(0.5, abs=0.05)


def test_single_experiment_with_leaky_keeps_whole_batch_at_home(make_anchors):
    table = make_anchors({("only", "x"): 50, ("only", "y"): 50})
    sampler = FlexibleBatchSampler(table, batch_size=10, leaky=0.3)
    conditions = _column(table, "condition")
    for batch in sampler:
        assert len(set(batch)) == 10
        assert Counter(conditions[batch].tolist()) == {"x": 5, "y": 5}


def test_conditions_get_equal_shares_of_the_primary_rows(three_experiments):
    conditions = _column(three_experiments, "condition")
    for batch in FlexibleBatchSampler(three_experiments, batch_size=16):
        assert Counter(conditions[batch].tolist()) == {"x": 8, "y": 8}


def test_condition_ratio_is_normalised_over_conditions_present(make_anchors):
    table = make_anchors({("a", "x"): 100, ("a", "y"): 100, ("b", "x"): 100, ("b", "z"): 100})
    experiments, conditions = _column(table, "experiment"), _column(table, "condition")
    sampler = FlexibleBatchSampler(table, batch_size=8, condition_ratio={"x": 3, "y": 1, "z": 1})
    for batch in sampler:
        counts = Counter(conditions[batch].tolist())
        other = "y" if experiments[batch[0]] == "a" else "z"
        assert counts == {"x": 6, other: 2}


def test_largest_remainder_rotates_the_extra_slot(make_anchors):
    table = make_anchors({("a", c): 200 for c in "xyz"})
    conditions = _column(table, "condition")
    got_four = Counter()
    for batch in epochs_of(FlexibleBatchSampler(table, batch_size=10), 5):
        counts = Counter(conditions[batch].tolist())
        assert sorted(counts.values()) == [3, 3, 4]
        got_four[counts.most_common(1)[0][0]] += 1
    assert min(got_four.values()) / sum(got_four.values()) > 0.25


def test_no_condition_starves_when_conditions_outnumber_slots(make_anchors):
    table = make_anchors({("a", c): 30 for c in "pqrst"})
    conditions = _column(table, "condition")
    seen = Counter()
    for batch in FlexibleBatchSampler(table, batch_size=3):
        counts = Counter(conditions[batch].tolist())
        assert len(counts) == 3 and set(counts.values()) == {1}
        seen.update(counts)
    assert set(seen) == set("pqrst") and min(seen.values()) >= 0.1 * sum(seen.values())


def test_plain_epoch_is_a_permutation_of_the_rows(make_anchors):
    table = make_anchors({("a", "x"): 100})
    sampler = FlexibleBatchSampler(
        table, batch_size=10, experiment_aware=False, condition_balanced=False
    )
    seen = [i for batch in sampler for i in batch]
    assert sorted(seen) == list(range(100))
    assert seen != sorted(seen)


def test_queues_spread_views_evenly_within_each_stratum(three_experiments):
    strata = _column(three_experiments, "experiment").astype(object) + _column(
        three_experiments, "condition"
    ).astype(object)
    views = np.zeros(1000, dtype=int)
    for batch in FlexibleBatchSampler(three_experiments, batch_size=10, leaky=0.2):
        views[batch] += 1
    for stratum in np.unique(strata):
        mine = views[strata == stratum]
        assert mine.max() - mine.min() <= 1, stratum


def test_stratum_smaller_than_its_quota_repeats_evenly(make_anchors):
    table = make_anchors({("a", "x"): 3, ("a", "y"): 37})
    conditions = _column(table, "condition")
    for batch in FlexibleBatchSampler(table, batch_size=10):
        small = Counter(np.asarray(batch)[conditions[batch] == "x"].tolist())
        assert sorted(small.values()) == [1, 2, 2]
        assert len(set(np.asarray(batch)[conditions[batch] == "y"].tolist())) == 5


def test_drop_last_false_adds_one_full_batch(make_anchors):
    table = make_anchors({("a", "x"): 105})
    kept = FlexibleBatchSampler(table, batch_size=10, drop_last=False)
    assert len(kept) == 11 == len(list(kept))
    assert len(FlexibleBatchSampler(table, batch_size=10)) == 10
    assert all(len(set(b)) == 10 for b in kept)


def test_integer_and_categorical_columns_work_like_strings(make_anchors):
    import polars as pl

    table = make_anchors({("a", "x"): 40, ("b", "y"): 40})
    as_codes = table.with_columns(
        pl.col("experiment").cast(pl.Categorical),
        (pl.col("condition") == "y").cast(pl.Int32),
    )
    as_text = list(FlexibleBatchSampler(table, batch_size=8, seed=3))
    assert list(FlexibleBatchSampler(as_codes, batch_size=8, seed=3)) == as_text
