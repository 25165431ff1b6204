"""What every random transform keeps: channels, reproducibility, prob, dtype, no in-place."""

import pytest
import torch

from viscy_data.transforms import (
    RandomAffine,
    RandomContrast,
    RandomGaussianNoise,
    RandomGaussianSmooth,
    RandomIntensityScale,
)

B, C, Z, Y, X = 6, 3, 2, 12, 12


def _random_transforms(**kwargs):
    return [
        RandomAffine(rotation_degrees=(-30.0, 30.0), shear_degrees=(-5.0, 5.0), **kwargs),
        RandomContrast(**kwargs),
        RandomIntensityScale(**kwargs),
        RandomGaussianNoise(std_range=(0.05, 0.2), **kwargs),
        RandomGaussianSmooth(sigma_z_range=(0.0, 1.0), **kwargs),
    ]


def _ids(transforms):
    return [type(t).__name__ for t in transforms]


def _batch(seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, C, Z, Y, X, generator=g) * 3.0 + 0.5).to(dtype)


ALL = _random_transforms(prob=1.0)


@pytest.mark.parametrize("transform", ALL, ids=_ids(ALL))
def test_same_generator_state_reproduces_and_another_seed_differs(transform):
    x = _batch()
    a = transform(x, generator=torch.Generator().manual_seed(7))
    b = transform(x, generator=torch.Generator().manual_seed(7))
    c = transform(x, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("transform", ALL, ids=_ids(ALL))
def test_global_generator_is_used_when_none_is_given(transform):
    x = _batch()
    torch.manual_seed(3)
    a = transform(x)
    torch.manual_seed(3)
    assert torch.equal(a, transform(x))


@pytest.mark.parametrize("transform", ALL, ids=_ids(ALL))
def test_identical_samples_get_different_parameters(transform):
    x = _batch()[:1].expand(B, -1, -1, -1, -1)
    out = transform(x, generator=torch.Generator().manual_seed(0))
    for i in range(1, B):
        assert not torch.allclose(out[0], out[i]), f"samples 0 and {i} got the same parameters"


@pytest.mark.parametrize("transform", ALL, ids=_ids(ALL))
def test_input_is_not_modified_and_output_does_not_alias_it(transform):
    x = _batch()
    before = x.clone()
    out = transform(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, before)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert out.data_ptr() != x.data_ptr()


RESTRICTED = _random_transforms(prob=1.0, channels=[0, 2])


@pytest.mark.parametrize("transform", RESTRICTED, ids=_ids(RESTRICTED))
def test_untouched_channels_are_bit_identical(transform):
    x = _batch()
    out = transform(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, 1], x[:, 1])
    assert not torch.allclose(out[:, 0], x[:, 0])
    assert not torch.allclose(out[:, 2], x[:, 2])


@pytest.mark.parametrize("transform", RESTRICTED, ids=_ids(RESTRICTED))
def test_channels_beyond_the_batch_raise(transform):
    with pytest.raises(ValueError, match=r"channels=\[0, 2\] but the batch has 2 channels"):
        transform(_batch()[:, :2])


NEVER = _random_transforms(prob=0.0)


@pytest.mark.parametrize("transform", NEVER, ids=_ids(NEVER))
def test_prob_zero_returns_the_input_values(transform):
    x = _batch()
    assert torch.equal(transform(x, generator=torch.Generator().manual_seed(0)), x)


def test_prob_half_transforms_some_samples_and_leaves_the_rest_bit_identical():
    x = torch.rand(200, 1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    out = RandomIntensityScale(scale_range=(2.0, 3.0), prob=0.5)(
        x, generator=torch.Generator().manual_seed(1)
    )
    same = (out == x).flatten(1).all(1)
    assert 70 < int(same.sum()) < 130
    assert not (out[~same] == x[~same]).flatten(1).any(1).any()


@pytest.mark.parametrize("transform", ALL, ids=_ids(ALL))
def test_bf16_input_stays_bf16_and_close_to_fp32(transform):
    x = _batch().bfloat16()
    out = transform(x, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.bfloat16
    ref = transform(x.float(), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.float(), ref, atol=0.05, rtol=0.02)


@pytest.mark.parametrize("transform", ALL, ids=_ids(ALL))
def test_bf16_autocast_does_not_change_the_fp32_result(transform):
    x = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = transform(x, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32
    assert torch.equal(out, transform(x, generator=torch.Generator().manual_seed(0)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("transform", ALL, ids=_ids(ALL))
def test_cuda_keeps_device_and_draws_the_cpu_parameters(transform):
    x = _batch()
    out = transform(x.cuda(), generator=torch.Generator().manual_seed(0))
    assert out.device.type == "cuda"
    if not isinstance(transform, RandomGaussianNoise):  # the noise field is device-specific
        ref = transform(x, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="pass a CPU torch.Generator"):
        transform(x.cuda(), generator=torch.Generator(device="cuda"))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RandomIntensityScale(prob=1.5), r"prob must be in \[0, 1\], got 1.5"),
        (lambda: RandomContrast(gamma_range=(0.0, 2.0)), r"gamma_range values must be > 0"),
        (lambda: RandomGaussianNoise(std_range=(-0.1, 0.1)), "std_range values must be >= 0"),
        (lambda: RandomGaussianSmooth(sigma_yx_range=(2.0, 1.0)), "low <= high"),
        (lambda: RandomAffine(scale_range=(0.0, 1.0)), "scale_range values must be > 0"),
        (lambda: RandomAffine(shear_degrees=(-90.0, 0.0)), r"shear_degrees must lie in"),
        (lambda: RandomAffine(padding_mode="wrap"), "padding_mode must be"),
        (lambda: RandomAffine(rotation_degrees=5.0), r"pair \(low, high\) of numbers, got 5.0"),
        (lambda: RandomContrast(channels=1), "channels must be a list"),
        (lambda: RandomContrast(channels=[-1]), "distinct channel positions >= 0"),
    ],
)
def test_bad_constructor_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_non_5d_input_raises():
    with pytest.raises(ValueError, match=r"expects a \(B, C, Z, Y, X\) tensor, got shape \(2, 3\)"):
        RandomContrast()(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="got ndarray"):
        RandomContrast()(torch.zeros(1, 1, 1, 1, 1).numpy())
