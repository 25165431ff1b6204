"""keyed_uniform is reproducible, key-sensitive and uniform."""

import numpy as np

from viscy_data.keyed_random import keyed_uniform


def test_same_key_same_value_whatever_the_batch():
    whole = keyed_uniform(3, 0, np.arange(100), 7)
    parts = np.concatenate(
        [keyed_uniform(3, 0, np.arange(50, 100), 7), keyed_uniform(3, 0, np.arange(50), 7)]
    )
    np.testing.assert_array_equal(whole, np.roll(parts, 50))


def test_seed_stream_and_extra_change_values():
    base = keyed_uniform(0, 0, np.arange(1000), 0)
    for other in (
        keyed_uniform(1, 0, np.arange(1000), 0),
        keyed_uniform(0, 1, np.arange(1000), 0),
        keyed_uniform(0, 0, np.arange(1000), 1),
    ):
        assert np.mean(base == other) < 0.01


def test_uniform_histogram():
    values = keyed_uniform(42, 0, np.arange(200_000))
    assert values.min() >= 0 and values.max() < 1
    counts, _ = np.histogram(values, bins=10, range=(0, 1))
    assert np.all(np.abs(counts / 20_000 - 1) < 0.03)
