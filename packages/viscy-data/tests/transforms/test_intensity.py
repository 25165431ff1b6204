"""Measured behaviour of the random intensity transforms: ranges, noise and blur levels."""

import math

import pytest
import torch

from viscy_data.transforms import (
    RandomContrast,
    RandomGaussianNoise,
    RandomGaussianSmooth,
    RandomIntensityScale,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gamma_drawn_per_sample_within_range_and_range_of_intensities_kept():
    # Each sample spans [2, 6] exactly, with a voxel at the midpoint 4: out = 2 + 4 * 0.5**gamma.
    b = 64
    ramp = torch.linspace(2.0, 6.0, 9).view(1, 1, 1, 3, 3).repeat(b, 2, 1, 1, 1)
    out = RandomContrast(gamma_range=(0.6, 1.8), prob=1.0)(ramp, generator=_gen())
    mid = out[:, :, 0, 1, 1]  # the value 4.0
    gamma = torch.log((mid - 2.0) / 4.0) / math.log(0.5)
    assert gamma.min() >= 0.6 - 1e-4 and gamma.max() <= 1.8 + 1e-4
    assert gamma.max() - gamma.min() > 0.8  # spread over the range, not one value
    torch.testing.assert_close(gamma[:, 0], gamma[:, 1])  # one gamma per sample
    assert torch.all(out.amin(dim=(2, 3, 4)) == 2.0) and torch.all(out.amax(dim=(2, 3, 4)) == 6.0)


def test_gamma_leaves_constant_channels_unchanged():
    x = torch.full((3, 1, 2, 4, 4), 5.0)
    assert torch.equal(RandomContrast(prob=1.0)(x, generator=_gen()), x)


def test_gamma_one_is_identity():
    x = torch.rand(4, 2, 2, 5, 5, generator=_gen(1))
    out = RandomContrast(gamma_range=(1.0, 1.0), prob=1.0)(x, generator=_gen())
    torch.testing.assert_close(out, x)


def test_intensity_scale_factor_within_range_and_shared_by_channels_and_slices():
    b = 64
    x = torch.rand(b, 2, 3, 4, 4, generator=_gen(1)) + 1.0
    out = RandomIntensityScale(scale_range=(0.7, 1.4), prob=1.0)(x, generator=_gen())
    ratio = out / x
    factor = ratio[:, 0, 0, 0, 0]
    torch.testing.assert_close(ratio, factor.view(b, 1, 1, 1, 1).expand_as(ratio))
    assert factor.min() >= 0.7 and factor.max() <= 1.4
    assert factor.max() - factor.min() > 0.4


def test_noise_std_and_mean_measured():
    x = torch.zeros(8, 2, 4, 64, 64)
    out = RandomGaussianNoise(std_range=(0.25, 0.25), mean=1.0, prob=1.0)(x, generator=_gen())
    flat = out.flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.ones(8), atol=0.01, rtol=0)
    torch.testing.assert_close(flat.std(1), torch.full((8,), 0.25), atol=0.005, rtol=0)


def test_noise_std_drawn_per_sample_within_range():
    x = torch.zeros(32, 1, 2, 64, 64)
    out = RandomGaussianNoise(std_range=(0.1, 0.3), prob=1.0)(x, generator=_gen(2))
    std = out.flatten(1).std(1)
    assert std.min() > 0.1 * 0.97 and std.max() < 0.3 * 1.03
    assert std.max() - std.min() > 0.1


def test_noise_independent_between_channels():
    out = RandomGaussianNoise(std_range=(1.0, 1.0), prob=1.0)(
        torch.zeros(1, 2, 1, 64, 64), generator=_gen()
    )
    corr = torch.corrcoef(out[0].flatten(1))[0, 1]
    assert abs(float(corr)) < 0.05


def _impulse(b: int, z: int = 1, size: int = 21) -> torch.Tensor:
    x = torch.zeros(b, 1, z, size, size)
    x[:, :, z // 2, size // 2, size // 2] = 1.0
    return x


def _sigma_along(out: torch.Tensor, dim: int) -> torch.Tensor:
    """Per-sample standard deviation of the blurred impulse's mass along one axis."""
    other = [d for d in (2, 3, 4) if d != dim]
    mass = out.sum(dim=other).squeeze(1)  # (B, n)
    pos = torch.arange(mass.shape[1], dtype=mass.dtype)
    mean = (mass * pos).sum(1) / mass.sum(1)
    return ((mass * (pos - mean[:, None]) ** 2).sum(1) / mass.sum(1)).sqrt()


def test_smoothing_sigma_measured_within_range_and_mass_kept():
    b = 32
    t = RandomGaussianSmooth(sigma_yx_range=(0.8, 2.0), prob=1.0)
    out = t(_impulse(b), generator=_gen())
    torch.testing.assert_close(out.sum(dim=(1, 2, 3, 4)), torch.ones(b))
    sy, sx = _sigma_along(out, 3), _sigma_along(out, 4)
    torch.testing.assert_close(sy, sx)  # isotropic in YX
    assert sy.min() > 0.8 * 0.97 and sy.max() < 2.0 * 1.01  # truncation at 3 sigma shrinks it
    assert sy.max() - sy.min() > 0.5


def test_smoothing_in_z_only_when_asked():
    x = _impulse(8, z=9)
    yx_only = RandomGaussianSmooth(sigma_yx_range=(1.0, 1.0), prob=1.0)(x, generator=_gen())
    assert torch.count_nonzero(yx_only.sum(dim=(3, 4)).squeeze(1)[:, [0, 1, 2, 3, 5, 6, 7, 8]]) == 0
    with_z = RandomGaussianSmooth(sigma_yx_range=(0.0, 0.0), sigma_z_range=(1.0, 1.0), prob=1.0)
    out = with_z(x, generator=_gen())
    torch.testing.assert_close(_sigma_along(out, 2), torch.full((8,), 1.0), atol=0.02, rtol=0)
    torch.testing.assert_close(out.sum(dim=2), x.sum(dim=2))  # no YX blur at sigma 0


def test_smoothing_keeps_constant_image_and_zero_sigma_is_identity():
    x = torch.full((2, 1, 3, 6, 6), 3.0)
    out = RandomGaussianSmooth(sigma_yx_range=(1.0, 2.0), sigma_z_range=(1.0, 2.0), prob=1.0)(x)
    torch.testing.assert_close(out, x)
    y = torch.rand(2, 2, 3, 6, 6, generator=_gen())
    torch.testing.assert_close(
        RandomGaussianSmooth(sigma_yx_range=(0.0, 0.0), prob=1.0)(y, generator=_gen()), y
    )


@pytest.mark.parametrize("z", [1, 2])
def test_smoothing_thin_stacks_with_large_z_sigma(z):
    x = torch.rand(2, 1, z, 8, 8, generator=_gen())
    out = RandomGaussianSmooth(sigma_z_range=(2.0, 3.0), prob=1.0)(x, generator=_gen())
    assert out.shape == x.shape and torch.isfinite(out).all()
