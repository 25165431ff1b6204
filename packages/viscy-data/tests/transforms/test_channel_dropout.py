"""ChannelDropout: per-sample, per-channel zeroing in training mode; identity otherwise."""

import copy
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from viscy_data import ChannelDropout


def _batch(b: int = 8, c: int = 3, seed: int = 0, dtype: torch.dtype = torch.float32):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand((b, c, 2, 4, 4), generator=generator) + 1.0  # strictly positive: zero = dropped
    return x.to(dtype)


def _dropped(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, C) bool: which sample-channels came back all zero."""
    return (y == 0).flatten(2).all(dim=2) & (x != 0).flatten(2).all(dim=2)


def test_eval_mode_and_p_zero_return_the_input_itself():
    x = _batch()
    drop = ChannelDropout(channels=[0, 1], p=1.0).eval()
    assert drop(x) is x
    assert ChannelDropout(channels=[0, 1], p=0.0)(x) is x


def test_p_one_zeroes_every_listed_channel_and_keeps_the_others_bit_identical():
    x = _batch(c=4)
    y = ChannelDropout(channels=[1, 3], p=1.0)(x)
    assert torch.equal(y[:, [1, 3]], torch.zeros_like(x[:, [1, 3]]))
    assert torch.equal(y[:, [0, 2]], x[:, [0, 2]])


def test_drop_rate_is_p_per_sample_and_channel_independently():
    x = _batch(b=4000, c=3)
    y = ChannelDropout(channels=[0, 2], p=0.3, generator=torch.Generator().manual_seed(1))(x)
    dropped = _dropped(x, y)
    rates = dropped.float().mean(dim=0)
    assert rates[1] == 0.0
    assert abs(rates[0].item() - 0.3) < 0.03 and abs(rates[2].item() - 0.3) < 0.03
    both = (dropped[:, 0] & dropped[:, 2]).float().mean().item()
    assert abs(both - 0.09) < 0.02  # independent draws: p * p
    # A sample-channel is either dropped whole or left bit-identical.
    kept = (y == x).flatten(2).all(dim=2)
    assert torch.all(dropped ^ kept)


def test_input_is_never_modified_and_output_is_a_new_tensor():
    x = _batch()
    before = x.clone()
    y = ChannelDropout(channels=[0, 1, 2], p=0.5, generator=torch.Generator().manual_seed(0))(x)
    assert torch.equal(x, before)
    assert y.data_ptr() != x.data_ptr()
    assert _dropped(x, y).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.uint16])
def test_dtype_is_kept(dtype):
    x = _batch(dtype=dtype) if dtype.is_floating_point else (_batch() * 100).to(dtype)
    y = ChannelDropout(channels=[1], p=1.0)(x)
    assert y.dtype == dtype
    assert torch.equal(y[:, 1], torch.zeros_like(x[:, 1]))
    assert torch.equal(y[:, 0], x[:, 0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_is_kept_and_draws_match_cpu():
    x = _batch(b=64)
    cpu = ChannelDropout(channels=[0, 2], p=0.5, generator=torch.Generator().manual_seed(3))(x)
    gpu = ChannelDropout(channels=[0, 2], p=0.5, generator=torch.Generator().manual_seed(3))(
        x.cuda()
    )
    assert gpu.device.type == "cuda"
    assert torch.equal(gpu.cpu(), cpu)


def test_nan_and_inf_channels_are_zeroed_not_propagated():
    x = _batch(b=2, c=2)
    x[:, 1] = float("nan")
    x[0, 1, 0, 0, 0] = float("inf")
    y = ChannelDropout(channels=[1], p=1.0)(x)
    assert torch.equal(y[:, 1], torch.zeros_like(y[:, 1]))


def test_same_generator_seed_gives_same_draws_and_different_seeds_differ():
    x = _batch(b=64)

    def run(seed: int) -> torch.Tensor:
        return ChannelDropout([0, 1, 2], p=0.5, generator=torch.Generator().manual_seed(seed))(x)

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))
    # Successive calls advance the generator: two batches get different masks.
    drop = ChannelDropout([0, 1, 2], p=0.5, generator=torch.Generator().manual_seed(7))
    assert not torch.equal(_dropped(x, drop(x)), _dropped(x, drop(x)))


def test_forward_generator_overrides_the_constructor_one():
    x = _batch(b=64)
    drop = ChannelDropout([0, 1], p=0.5, generator=torch.Generator().manual_seed(0))
    a = drop(x, generator=torch.Generator().manual_seed(5))
    b = ChannelDropout([0, 1], p=0.5, generator=torch.Generator().manual_seed(5))(x)
    assert torch.equal(a, b)


def test_gradient_is_zero_for_dropped_channels_only():
    x = _batch(b=4).requires_grad_(True)
    y = ChannelDropout(channels=[0], p=1.0)(x)
    y.sum().backward()
    assert torch.equal(x.grad[:, 0], torch.zeros_like(x.grad[:, 0]))
    assert torch.equal(x.grad[:, 1:], torch.ones_like(x.grad[:, 1:]))


def test_pickle_and_deepcopy_keep_the_configuration_and_generator_state():
    drop = ChannelDropout(channels=[2, 0], p=0.25, generator=torch.Generator().manual_seed(9))
    x = _batch(b=32)
    for clone in (pickle.loads(pickle.dumps(drop)), copy.deepcopy(drop)):
        assert clone.channels == (2, 0) and clone.p == 0.25
        assert torch.equal(clone(x), copy.deepcopy(drop)(x))
    assert "channels=[2, 0], p=0.25" in repr(drop)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_invalid_p_is_rejected_by_name(p):
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got"):
        ChannelDropout(channels=[0], p=p)


@pytest.mark.parametrize("channels", [[], [1, 1], [-1], 1, ["a"], [True], [0.5], "01"])
def test_invalid_channels_are_rejected_by_name(channels):
    with pytest.raises(ValueError, match=r"channels must be .*got"):
        ChannelDropout(channels=channels)


def test_channel_out_of_range_is_rejected_in_training_and_eval():
    drop = ChannelDropout(channels=[0, 3], p=0.5)
    x = _batch(c=3)
    with pytest.raises(ValueError, match=r"channels=\[0, 3\] but the batch has 3 channels"):
        drop(x)
    with pytest.raises(ValueError, match=r"channels=\[0, 3\] but the batch has 3 channels"):
        drop.eval()(x)


def test_non_5d_input_and_non_tensor_are_rejected():
    drop = ChannelDropout(channels=[0])
    with pytest.raises(ValueError, match=r"\(B, C, Z, Y, X\) tensor, got shape \(2, 3, 4, 4\)"):
        drop(torch.ones(2, 3, 4, 4))
    with pytest.raises(TypeError, match="expects a torch.Tensor, got list"):
        drop([1.0])


def test_non_cpu_or_non_generator_is_rejected():
    with pytest.raises(ValueError, match="generator must be a torch.Generator or None, got 3"):
        ChannelDropout(channels=[0], generator=3)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="pass a CPU torch.Generator"):
            ChannelDropout(channels=[0], generator=torch.Generator(device="cuda"))


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(1, 6),
    c=st.integers(1, 5),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_every_sample_channel_is_either_identical_or_all_zero(b, c, p, seed, data):
    channels = data.draw(st.lists(st.integers(0, c - 1), min_size=1, max_size=c, unique=True))
    x = _batch(b=b, c=c, seed=seed)
    y = ChannelDropout(channels, p=p, generator=torch.Generator().manual_seed(seed))(x)
    dropped, kept = _dropped(x, y), (y == x).flatten(2).all(dim=2)
    assert torch.all(dropped ^ kept)
    unlisted = [i for i in range(c) if i not in channels]
    assert not dropped[:, unlisted].any()
    if p == 1.0:
        assert dropped[:, channels].all()
