"""Bad input is a ValueError (TypeError for a wrong table type) naming what is wrong."""

import numpy as np
import polars as pl
import pytest

from viscy_data import FlexibleBatchSampler


@pytest.fixture
def table(make_anchors):
    return make_anchors({("a", "x"): 20, ("a", "y"): 20, ("b", "x"): 20})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, r"batch_size must be an integer >= 1, got 2\.5"),
        ({"leaky": 1.0}, r"leaky must be a number in \[0, 1\), got 1\.0"),
        ({"leaky": -0.1}, r"leaky must be a number in \[0, 1\), got -0\.1"),
        ({"temporal_global_fraction": 1.5}, r"temporal_global_fraction .* \[0, 1\], got 1\.5"),
        ({"temporal_window_hours": -1.0}, r"temporal_window_hours .* >= 0, got -1\.0"),
        ({"temporal_window_hours": float("nan")}, r"temporal_window_hours .* got nan"),
        ({"num_replicas": 0}, r"num_replicas must be an integer >= 1, got 0"),
        ({"num_replicas": 2, "rank": 2}, r"rank \(with num_replicas=2\) .* \[0, 2\), got 2"),
        ({"rank": -1}, r"rank .* got -1"),
        ({"seed": -3}, r"seed must be an integer >= 0, got -3"),
        ({"experiment_weights": {"a": -1.0, "b": 1.0}}, r"experiment_weights\['a'\] .* -1\.0"),
        ({"experiment_weights": {"a": 0, "b": 0}}, r"experiment_weights must give a positive"),
        ({"experiment_weights": {"a": 1, "b": 1, "zz": 1}}, r"names \['zz'\].* \['a', 'b'\]"),
        ({"experiment_weights": {"a": 1}}, r"experiment_weights gives no weight to \['b'\]"),
        ({"experiment_weights": [1, 2]}, r"experiment_weights must be a dict .* \[1, 2\]"),
        ({"condition_ratio": {"x": 1, "y": 1, "q": 2}}, r"condition_ratio names \['q'\]"),
        ({"condition_ratio": {"x": 1, "y": float("inf")}}, r"condition_ratio\['y'\] .* inf"),
        ({"condition_ratio": {"x": 0, "y": 1}}, r"weight 0 to every condition of .*'b'"),
        ({"experiment_aware": False, "leaky": 0.2}, r"leaky=0\.2 .* experiment_aware=True"),
        ({"condition_balanced": False, "condition_ratio": {"x": 1}}, r"condition_balanced=True"),
        ({"batch_size": 31, "num_replicas": 2}, r"60 rows, fewer than one batch per rank"),
    ],
)
def test_bad_parameters_name_themselves_and_the_value(table, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlexibleBatchSampler(table, **({"batch_size": 4} | kwargs))


def test_zero_weighted_experiment_may_lack_condition_weight(table):
    sampler = FlexibleBatchSampler(
        table, batch_size=4, condition_ratio={"x": 0, "y": 1}, experiment_weights={"a": 1, "b": 0}
    )
    assert len(list(sampler)) == 15


def test_ceil_batches_make_a_small_table_usable_without_drop_last(table):
    assert len(FlexibleBatchSampler(table, batch_size=31, num_replicas=2, drop_last=False)) == 1


@pytest.mark.parametrize(
    ("options", "column"),
    [
        ({}, "experiment"),
        ({}, "condition"),
        ({"temporal_enrichment": True}, "hours_post_infection"),
    ],
)
def test_missing_column_is_named_with_the_columns_present(table, options, column):
    with pytest.raises(ValueError, match=rf"missing column\(s\) \['{column}'\].*present: \["):
        FlexibleBatchSampler(table.drop(column), batch_size=4, **options)


def test_columns_of_switched_off_axes_are_not_needed(table):
    bare = table.select(pl.col("experiment").alias("other"))
    sampler = FlexibleBatchSampler(
        bare, batch_size=4, experiment_aware=False, condition_balanced=False
    )
    assert len(list(sampler)) == 15


@pytest.mark.parametrize("column", ["experiment", "condition"])
def test_null_group_keys_are_counted_not_dropped(table, column):
    holed = table.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(ValueError, match=rf"column '{column}' has 3 null value\(s\) out of 60"):
        FlexibleBatchSampler(holed, batch_size=4)


def test_nan_hours_are_rejected_when_temporal(table):
    hours = table.get_column("hours_post_infection").to_numpy().copy()
    hours[:2] = np.nan
    holed = table.with_columns(pl.Series("hours_post_infection", hours))
    with pytest.raises(ValueError, match=r"'hours_post_infection' has 2 null or non-finite"):
        FlexibleBatchSampler(holed, batch_size=4, temporal_enrichment=True)
    assert len(FlexibleBatchSampler(holed, batch_size=4)) == 15  # unused when the axis is off


def test_wrong_table_type_and_lazy_frames(table):
    with pytest.raises(TypeError, match=r"polars or pandas DataFrame, got dict"):
        FlexibleBatchSampler({"experiment": ["a"]}, batch_size=1)
    with pytest.raises(TypeError, match=r"LazyFrame; pass valid_anchors.collect\(\)"):
        FlexibleBatchSampler(table.lazy(), batch_size=1)


def test_state_and_epoch_errors(table):
    sampler = FlexibleBatchSampler(table, batch_size=4, seed=1)
    with pytest.raises(ValueError, match=r"saved with seed=2 but this sampler has seed=1"):
        sampler.load_state_dict({"epoch": 0, "batches_done": 0, "seed": 2})
    with pytest.raises(ValueError, match=r"missing \['batches_done'\]"):
        sampler.load_state_dict({"epoch": 0})
    with pytest.raises(ValueError, match=r"batches_done \(len=15\) .* \[0, 16\), got 16"):
        sampler.set_start_batch(16)
    with pytest.raises(ValueError, match=r"epoch must be an integer >= 0, got -1"):
        sampler.set_epoch(-1)


def test_empty_table_is_rejected(table):
    with pytest.raises(ValueError, match=r"valid_anchors has 0 rows"):
        FlexibleBatchSampler(table.clear(), batch_size=4)
