"""sample_tau: decaying weights over [tau_min, tau_max], checked by frequency."""

import math

import numpy as np
import pytest

from dynaclr import sample_tau
from dynaclr.cell_index.tau import sample_taus, tau_probabilities


def formula(tau_min: int, tau_max: int, decay_rate: float) -> np.ndarray:
    """The spec's weights, written out term by term."""
    if tau_min == tau_max:
        return np.array([1.0])
    weights = [
        math.exp(-decay_rate * (k - tau_min) / (tau_max - tau_min))
        for k in range(tau_min, tau_max + 1)
    ]
    return np.array(weights) / sum(weights)


def assert_frequencies(draws: np.ndarray, tau_min: int, tau_max: int, decay_rate: float):
    expected = formula(tau_min, tau_max, decay_rate)
    counts = np.bincount(draws - tau_min, minlength=expected.size)
    assert counts.size == expected.size  # nothing outside the range
    n = draws.size
    tolerance = 5 * np.sqrt(expected * (1 - expected) / n) + 1e-12
    np.testing.assert_array_less(np.abs(counts / n - expected), tolerance)


@pytest.mark.parametrize(
    ("tau_min", "tau_max", "decay_rate"), [(1, 4, 2.0), (2, 6, 0.0), (1, 10, 5.0)]
)
def test_sample_tau_frequencies_follow_the_formula(tau_min, tau_max, decay_rate):
    rng = np.random.default_rng(7)
    draws = np.array([sample_tau(tau_min, tau_max, rng, decay_rate) for _ in range(20_000)])
    assert_frequencies(draws, tau_min, tau_max, decay_rate)


@pytest.mark.parametrize(("tau_min", "tau_max", "decay_rate"), [(1, 4, 2.0), (3, 12, 1.0)])
def test_sample_taus_frequencies_follow_the_formula(tau_min, tau_max, decay_rate):
    draws = sample_taus(tau_min, tau_max, np.random.default_rng(1), 200_000, decay_rate)
    assert draws.dtype == np.int64 and draws.shape == (200_000,)
    assert_frequencies(draws, tau_min, tau_max, decay_rate)


def test_probabilities_match_formula_and_decay_zero_is_uniform():
    np.testing.assert_allclose(tau_probabilities(1, 4, 2.0), formula(1, 4, 2.0))
    np.testing.assert_allclose(tau_probabilities(2, 5, 0.0), [0.25] * 4)
    # the longest offset is e**decay less likely than the shortest
    p = tau_probabilities(1, 7, 3.0)
    assert p[0] / p[-1] == pytest.approx(math.exp(3.0))


def test_equal_bounds_return_tau_min():
    rng = np.random.default_rng(0)
    assert [sample_tau(3, 3, rng) for _ in range(5)] == [3] * 5
    assert sample_taus(3, 3, rng, 4).tolist() == [3, 3, 3, 3]


def test_same_seed_same_draws():
    a = [sample_tau(1, 8, np.random.default_rng(42)) for _ in range(3)]
    b = [sample_tau(1, 8, np.random.default_rng(42)) for _ in range(3)]
    assert a == b
    assert isinstance(a[0], int)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5, 2, 2.0), r"Empty tau range: tau_max=2 < tau_min=5"),
        ((0, 3, 2.0), r"tau_min must be at least 1 frame .* got 0"),
        ((-1, 3, 2.0), r"tau_min must be at least 1 frame .* got -1"),
        ((1.5, 3, 2.0), r"tau_min must be an integer number of frames, got 1.5"),
        ((1, True, 2.0), r"tau_max must be an integer number of frames, got True"),
        ((1, 3, -1.0), r"decay_rate must be a finite number >= 0 .* got -1.0"),
        ((1, 3, float("nan")), r"decay_rate must be a finite number >= 0 .* got nan"),
    ],
)
def test_invalid_ranges_are_value_errors(args, match):
    with pytest.raises(ValueError, match=match):
        sample_tau(args[0], args[1], np.random.default_rng(0), args[2])


def test_numpy_integers_are_accepted():
    assert 2 <= sample_tau(np.int64(2), np.int32(4), np.random.default_rng(0)) <= 4
