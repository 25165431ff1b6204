"""Block reductions and pooled moments equal numpy's statistics of all the pixels at once."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from viscy_data.normalization import (
    SAMPLE_VOXELS,
    block_statistics,
    dataset_sample,
    grid_step,
    pool_moments,
)
from viscy_data.normalization.sampling import grid_sample_size
from viscy_data.normalization.streaming import moment_statistics

from .conftest import shifted_grid


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(*(st.integers(1, 4),) * 3, st.integers(1, 9), st.integers(1, 9)),
    offset=st.sampled_from([0.0, 1e4, -3e5]),
    dtype=st.sampled_from(["float32", "float64", "uint16", "int32"]),
    seed=st.integers(0, 2**16),
    step=st.integers(1, 4),
    first=st.integers(0, 7),
)
def test_block_moments_and_quartiles_match_numpy(shape, offset, dtype, seed, step, first):
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 50, shape) + (abs(offset) if dtype.startswith("u") else offset)
    block = values.astype(dtype)
    stats = block_statistics(block, timepoint_step=1, fov_step=step, first_frame=first)
    as64 = block.astype(np.float64).reshape(*shape[:2], -1)
    np.testing.assert_allclose(stats.mean, as64.mean(-1), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(stats.m2, ((as64 - as64.mean(-1, keepdims=True)) ** 2).sum(-1),
                               rtol=1e-9, atol=1e-6)  # fmt: skip
    q25, q50, q75 = np.percentile(as64, [25, 50, 75], axis=-1)
    np.testing.assert_allclose(stats.median, q50, rtol=1e-12)
    np.testing.assert_allclose(stats.iqr, q75 - q25, rtol=1e-9, atol=1e-9)
    size = grid_sample_size((shape[0], *shape[2:]), step, first)
    assert stats.sample.shape == (shape[1], size)
    for c in range(shape[1]):
        np.testing.assert_array_equal(stats.sample[c], shifted_grid(block[:, c], step, first))


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 50), min_size=1, max_size=6), seed=st.integers(0, 2**16))
def test_pooled_moments_equal_the_moments_of_the_union(sizes, seed):
    rng = np.random.default_rng(seed)
    parts = [rng.gamma(2.0, 30.0, n) + 1e3 for n in sizes]
    count = np.array(sizes)
    mean = np.array([p.mean() for p in parts])
    m2 = np.array([((p - p.mean()) ** 2).sum() for p in parts])
    n, pooled_mean, pooled_m2 = pool_moments(count, mean, m2)
    union = np.concatenate(parts)
    got = moment_statistics(n, pooled_mean, pooled_m2)
    np.testing.assert_allclose(got["mean"], union.mean(), rtol=1e-12)
    np.testing.assert_allclose(got["std"], union.std(), rtol=1e-10)


def test_constant_block_has_zero_spread_exactly():
    stats = block_statistics(np.full((2, 1, 3, 5, 5), 12345.678, dtype="float32"))
    assert stats.m2.tolist() == [[0.0], [0.0]] and stats.median is None and stats.sample is None


def test_sample_rule_sizes():
    assert grid_step(SAMPLE_VOXELS) == 1 and grid_step(SAMPLE_VOXELS + 1) == 2
    step = grid_step(50 * 5 * 2048 * 2048)
    assert grid_sample_size((50, 5, 2048, 2048), step) <= SAMPLE_VOXELS
    frame_step = grid_step(5 * 2048 * 2048)
    sizes = [grid_sample_size((1, 5, 2048, 2048), frame_step, t) for t in range(50)]
    # about the budget: between ((s - 1) / s)^2 of it and all of it (here 838k of 1,049k)
    assert SAMPLE_VOXELS * ((frame_step - 1) / frame_step) ** 2 < min(sizes)
    assert max(sizes) <= SAMPLE_VOXELS
    samples = [np.arange(10).reshape(1, 10), np.arange(10, 16).reshape(1, 6)]
    np.testing.assert_array_equal(dataset_sample(samples), np.arange(16).reshape(1, 16))
    assert dataset_sample(samples, max_voxels=8).tolist() == [[0, 2, 4, 6, 8, 10, 12, 14]]
