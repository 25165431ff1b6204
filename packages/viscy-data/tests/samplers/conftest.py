"""Small anchors tables for the sampler tests, and the batches of several epochs."""

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import polars as pl
import pytest


def build_anchors(
    strata: Mapping[tuple[str, str], int | Sequence[float]], seed: int = 0
) -> pl.DataFrame:
    """One row per anchor; ``strata[(experiment, condition)]`` is a count or a list of hours.

    A count gets hours 0, 1, 2, ...; rows are shuffled so positions are not grouped.
    ``hour_block`` (hours // 10) gives chunk-aware batching groups of about ten anchors.
    """
    experiments, conditions, hours = [], [], []
    for (experiment, condition), spec in strata.items():
        times = np.arange(spec, dtype=float) if isinstance(spec, int) else np.asarray(spec, float)
        experiments += [experiment] * times.size
        conditions += [condition] * times.size
        hours.append(times)
    table = pl.DataFrame(
        {
            "experiment": experiments,
            "condition": conditions,
            "hours_post_infection": np.concatenate(hours),
        }
    ).with_columns(hour_block=(pl.col("hours_post_infection") // 10).cast(pl.Int64))
    return table[np.random.default_rng(seed).permutation(table.height)]


def epochs_of(sampler, n_epochs: int) -> list[list[int]]:
    """The batches of epochs ``0 .. n_epochs - 1`` of ``sampler``, one after the other."""
    batches = []
    for epoch in range(n_epochs):
        sampler.set_epoch(epoch)
        batches += list(sampler)
    return batches


@pytest.fixture
def make_anchors() -> Callable[..., pl.DataFrame]:
    """Factory fixture around :func:`build_anchors`."""
    return build_anchors


@pytest.fixture
def three_experiments() -> pl.DataFrame:
    """600 / 300 / 100 anchors in experiments a / b / c; conditions x (80%) and y (20%)."""
    return build_anchors(
        {
            ("a", "x"): 480,
            ("a", "y"): 120,
            ("b", "x"): 240,
            ("b", "y"): 60,
            ("c", "x"): 80,
            ("c", "y"): 20,
        }
    )
