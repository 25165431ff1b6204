"""Normalize (stored per-sample statistics) and ScaleIntensityPercentiles."""

import numpy as np
import pytest
import torch

from viscy_data.transforms import NORM_LEVELS, Normalize, ScaleIntensityPercentiles

B, C, Z, Y, X = 4, 2, 3, 16, 16


def _batch(seed: int = 0) -> torch.Tensor:
    """Samples and channels with very different offsets and spreads, like mixed FOVs."""
    g = torch.Generator().manual_seed(seed)
    offset = torch.linspace(100.0, 900.0, B * C).view(B, C, 1, 1, 1)
    spread = torch.linspace(5.0, 60.0, B * C).flip(0).view(B, C, 1, 1, 1)
    return offset + spread * torch.randn(B, C, Z, Y, X, generator=g)


def _meta_from(x: torch.Tensor, level: str = "fov_statistics", **wrong_levels) -> dict:
    """Metadata whose `level` holds each sample's true statistics; other levels hold junk."""
    flat = x.flatten(2).double()
    q25, med, q75 = (flat.quantile(q, dim=-1) for q in (0.25, 0.5, 0.75))
    true = {
        "mean": flat.mean(-1),
        "std": flat.std(-1, correction=0),
        "median": med,
        "iqr": q75 - q25,
    }
    junk = {k: torch.full((x.shape[0],), 7.0) for k in true}
    meta = {}
    for c in range(x.shape[1]):
        levels = {lvl: junk for lvl in NORM_LEVELS if lvl != level}
        levels[level] = {k: v[:, c].float() for k, v in true.items()}
        meta[c] = levels
    return meta


@pytest.mark.parametrize("level", NORM_LEVELS)
def test_normalized_batch_has_zero_mean_unit_std_per_sample_and_channel(level):
    x = _batch()
    out = Normalize(level=level)(x, norm_meta=_meta_from(x, level))
    flat = out.flatten(2)
    torch.testing.assert_close(flat.mean(-1), torch.zeros(B, C), atol=1e-4, rtol=0)
    torch.testing.assert_close(flat.std(-1, correction=0), torch.ones(B, C), atol=1e-4, rtol=0)


def test_timepoint_level_uses_each_samples_own_frame_values():
    # Two samples of the same FOV at different frames: identical pixels, different frame stats.
    x = torch.full((2, 1, 1, 2, 2), 10.0)
    meta = {
        0: {
            "fov_statistics": {"mean": torch.tensor([0.0, 0.0]), "std": torch.tensor([1.0, 1.0])},
            "timepoint_statistics": {
                "mean": torch.tensor([4.0, 8.0]),
                "std": torch.tensor([2.0, 0.5]),
            },
        }
    }
    out = Normalize(level="timepoint_statistics")(x, norm_meta=meta)
    assert torch.all(out[0] == 3.0)  # (10 - 4) / 2
    assert torch.all(out[1] == 4.0)  # (10 - 8) / 0.5


def test_median_iqr_follow_the_formula():
    x = _batch(1)
    meta = _meta_from(x, "dataset_statistics")
    out = Normalize("dataset_statistics", subtrahend="median", divisor="iqr")(x, norm_meta=meta)
    med = torch.stack([meta[c]["dataset_statistics"]["median"] for c in range(C)], 1)
    iqr = torch.stack([meta[c]["dataset_statistics"]["iqr"] for c in range(C)], 1)
    expected = (x - med[..., None, None, None]) / iqr[..., None, None, None]
    torch.testing.assert_close(out, expected)


def test_none_subtrahend_only_divides_and_required_stats_lists_what_is_read():
    x = _batch()
    t = Normalize(subtrahend=None, divisor="std")
    assert t.required_stats == ("std",)
    assert Normalize().required_stats == ("mean", "std")
    meta = _meta_from(x)
    std = torch.stack([meta[c]["fov_statistics"]["std"] for c in range(C)], 1)
    torch.testing.assert_close(t(x, norm_meta=meta), x / std[..., None, None, None])


def test_channel_restriction_leaves_other_channels_bit_identical():
    x = _batch()
    meta = _meta_from(x)
    del meta[1]  # statistics only for channel 0
    out = Normalize(channels=[0])(x, norm_meta=meta)
    assert torch.equal(out[:, 1], x[:, 1])
    assert out[:, 0].flatten(1).mean(-1).abs().max() < 1e-4
    with pytest.raises(
        ValueError, match=r"no normalization metadata for channel position 1.*\[0\]"
    ):
        Normalize()(x, norm_meta=meta)


def test_zero_std_raises_unless_eps_is_set():
    x = torch.full((2, 1, 1, 3, 3), 5.0)
    meta = {
        0: {"fov_statistics": {"mean": torch.tensor([5.0, 1.0]), "std": torch.tensor([1, 0.0])}}
    }
    with pytest.raises(ValueError, match=r"sample 1, channel position 0.*'std' is 0.*eps"):
        Normalize()(x, norm_meta=meta)
    out = Normalize(eps=1e-3)(x, norm_meta=meta)
    assert torch.all(out[0] == 0.0)
    torch.testing.assert_close(out[1], torch.full((1, 1, 3, 3), 4000.0))


@pytest.mark.parametrize(
    ("std", "message"),
    [(-1.0, r"'std' is -1\.0.*finite and positive"), (float("nan"), r"'std' is nan")],
)
def test_negative_or_nan_divisor_raises_even_with_eps(std, message):
    meta = {0: {"fov_statistics": {"mean": torch.tensor([0.0]), "std": torch.tensor([std])}}}
    with pytest.raises(ValueError, match=message):
        Normalize(eps=1e-6)(torch.ones(1, 1, 1, 2, 2), norm_meta=meta)


def test_unknown_level_raises_naming_it_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"level='fov' .*'dataset_statistics', 'fov_statistics'"):
        Normalize(level="fov")


def test_level_missing_from_metadata_lists_available_levels():
    x = _batch()
    meta = {c: {"fov_statistics": v["fov_statistics"]} for c, v in _meta_from(x).items()}
    with pytest.raises(ValueError, match=r"no 'timepoint_statistics'; available levels: \['fov_"):
        Normalize(level="timepoint_statistics")(x, norm_meta=meta)


def test_missing_statistic_lists_available_ones():
    x = _batch()
    with pytest.raises(ValueError, match=r"no statistic 'p99'; available: \['iqr', 'mean'"):
        Normalize(divisor="p99")(x, norm_meta=_meta_from(x))


def test_metadata_none_raises_a_clear_error():
    with pytest.raises(
        ValueError, match=r"needs per-sample normalization metadata.*norm_meta=None"
    ):
        Normalize()(_batch())


def test_metadata_with_wrong_batch_size_raises():
    x = _batch()
    meta = _meta_from(x)
    meta[0]["fov_statistics"]["mean"] = torch.zeros(B + 1)
    with pytest.raises(ValueError, match=rf"holds {B + 1} values for a batch of {B} samples"):
        Normalize()(x, norm_meta=meta)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subtrahend": None, "divisor": None}, "both None"),
        ({"divisor": ""}, "divisor must be a statistic name"),
        ({"eps": -1.0}, "eps must be >= 0"),
        ({"channels": [0, 0]}, "distinct channel positions"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Normalize(**kwargs)


def test_integer_input_gives_float32_and_bf16_stays_bf16():
    x = _batch()
    meta = _meta_from(x)
    out_int = Normalize()(x.round().to(torch.int32), norm_meta=meta)
    assert out_int.dtype == torch.float32
    out_bf16 = Normalize()(x.bfloat16(), norm_meta=meta)
    assert out_bf16.dtype == torch.bfloat16
    # bf16 rounds the raw input (values ~900 to steps of 4); compare with that same input in fp32
    expected = Normalize()(x.bfloat16().float(), norm_meta=meta)
    torch.testing.assert_close(out_bf16.float(), expected, atol=0.02, rtol=0.01)


def test_percentiles_match_numpy_per_sample_and_channel():
    x = _batch(2)
    out = ScaleIntensityPercentiles(percentiles=(2.0, 97.5), out_range=(-1.0, 1.0))(x)
    flat = x.flatten(2).numpy()
    p_low = np.percentile(flat, 2.0, axis=-1)[..., None, None, None]
    p_high = np.percentile(flat, 97.5, axis=-1)[..., None, None, None]
    expected = (x.numpy() - p_low) / (p_high - p_low) * 2.0 - 1.0
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-4)


def test_percentile_clip_and_constant_channel():
    x = _batch(3)
    x[1, 0] = 42.0  # a constant channel: only shifted
    out = ScaleIntensityPercentiles(percentiles=(5.0, 95.0), clip=True)(x)
    assert out.min() == 0.0 and out.max() == 1.0
    assert torch.all(out[1, 0] == 0.0)
    frac_low = (out[0, 1] == 0.0).float().mean()
    assert 0.03 < frac_low < 0.08  # about 5% of the voxels lie below the 5th percentile


def test_percentile_channel_restriction_and_bad_arguments():
    x = _batch()
    out = ScaleIntensityPercentiles(channels=[1])(x)
    assert torch.equal(out[:, 0], x[:, 0])
    assert not torch.equal(out[:, 1], x[:, 1])
    with pytest.raises(ValueError, match=r"0 <= low < high <= 100, got \(1\.0, 101\.0\)"):
        ScaleIntensityPercentiles(percentiles=(1.0, 101.0))
    with pytest.raises(ValueError, match="percentiles must be finite with low <= high"):
        ScaleIntensityPercentiles(percentiles=(99.0, 1.0))
