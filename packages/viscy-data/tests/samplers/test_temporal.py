"""Temporal enrichment: focal window, global part, and how it composes with condition quotas."""

from collections import Counter

import numpy as np
import pytest

from viscy_data import FlexibleBatchSampler

from .conftest import epochs_of

GRID = (0.0, 10.0, 20.0, 30.0, 40.0)  # 10 h apart: a 2 h window holds exactly one time


def _columns(table):
    return (
        np.asarray(table.get_column("experiment").to_list()),
        np.asarray(table.get_column("condition").to_list()),
        table.get_column("hours_post_infection").to_numpy(),
    )


def _grid(n_per_time):
    return [t for t in GRID for _ in range(n_per_time)]


def test_focal_and_global_parts_hold_their_fractions_and_condition_shares(make_anchors):
    table = make_anchors({("a", "x"): _grid(40), ("a", "y"): _grid(40)})
    _, conditions, hours = _columns(table)
    sampler = FlexibleBatchSampler(
        table,
        batch_size=20,
        temporal_enrichment=True,
        temporal_window_hours=2.0,
        temporal_global_fraction=0.3,
    )
    for batch in epochs_of(sampler, 3):
        assert len(set(batch)) == 20
        focal_time, n_focal = Counter(hours[batch].tolist()).most_common(1)[0]
        assert n_focal == 14
        inside = np.abs(hours[batch] - focal_time) <= 2.0
        assert Counter(conditions[batch][inside].tolist()) == {"x": 7, "y": 7}
        assert Counter(conditions[batch][~inside].tolist()) == {"x": 3, "y": 3}


def test_focal_time_favours_dense_times(make_anchors):
    dense = [0.0] * 160 + [t for t in GRID[1:] for _ in range(10)]
    table = make_anchors({("a", "x"): dense, ("a", "y"): dense})
    _, _, hours = _columns(table)
    sampler = FlexibleBatchSampler(table, batch_size=10, temporal_enrichment=True)
    focal = [Counter(hours[b].tolist()).most_common(1)[0][0] for b in epochs_of(sampler, 5)]
    assert focal.count(0.0) / len(focal) == pytest.approx(160 / 200, abs=0.08)


def test_condition_balance_wins_over_the_window(make_anchors):
    sparse_y = [20.0] * 2 + [30.0] * 40 + [0.0] * 40  # only 2 y anchors near t = 20
    table = make_anchors({("a", "x"): _grid(40), ("a", "y"): sparse_y})
    _, conditions, hours = _columns(table)
    sampler = FlexibleBatchSampler(table, batch_size=20, temporal_enrichment=True)
    focal_at_20 = 0
    for batch in epochs_of(sampler, 15):
        is_y = conditions[batch] == "y"
        assert is_y.sum() == 10 and len(set(batch)) == 20
        x_focal = Counter(hours[batch][~is_y].tolist()).most_common(1)[0][0]
        if x_focal == 20.0:
            focal_at_20 += 1
            y_hours = Counter(hours[batch][is_y].tolist())
            assert y_hours[20.0] == 2  # the whole window
            assert y_hours[30.0] >= 5  # the nearest anchors outside it complete the quota
    assert focal_at_20 > 0


def test_leaky_rows_join_a_temporally_enriched_batch(make_anchors):
    table = make_anchors({("a", "x"): _grid(30), ("b", "x"): _grid(30)})
    experiments, _, hours = _columns(table)
    sampler = FlexibleBatchSampler(
        table, batch_size=20, leaky=0.25, temporal_enrichment=True, condition_balanced=False
    )
    for batch in epochs_of(sampler, 2):
        primary, n_primary = Counter(experiments[batch].tolist()).most_common(1)[0]
        assert n_primary == 15 and len(set(batch)) == 20
        home = hours[batch][experiments[batch] == primary]
        assert Counter(home.tolist()).most_common(1)[0][1] == 11  # round(0.7 * 15)


def test_outside_part_falls_back_inside_when_everything_is_in_the_window(make_anchors):
    table = make_anchors({("a", "x"): [5.0] * 50})
    sampler = FlexibleBatchSampler(table, batch_size=10, temporal_enrichment=True)
    for batch in epochs_of(sampler, 3):
        assert len(set(batch)) == 10


def test_zero_hour_window_keeps_focal_rows_at_one_time(make_anchors):
    hours_list = [float(t) for t in range(10) for _ in range(20)]
    table = make_anchors({("a", "x"): hours_list})
    _, _, hours = _columns(table)
    sampler = FlexibleBatchSampler(
        table,
        batch_size=10,
        temporal_enrichment=True,
        temporal_window_hours=0.0,
        temporal_global_fraction=0.0,
    )
    for batch in sampler:
        assert np.unique(hours[batch]).size == 1


def test_every_anchor_is_reached_over_a_fewepochs_of(make_anchors):
    table = make_anchors({("a", "x"): _grid(40), ("a", "y"): _grid(40)})
    views = np.zeros(table.height, dtype=int)
    sampler = FlexibleBatchSampler(table, batch_size=20, temporal_enrichment=True)
    for batch in epochs_of(sampler, 10):
        views[batch] += 1
    assert views.min() >= 2 and views.sum() == 10 * 20 * 20
