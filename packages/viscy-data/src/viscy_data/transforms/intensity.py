"""Random intensity augmentations: gamma contrast, intensity scale, Gaussian noise and smoothing.

Each draws one parameter per sample (shared by the sample's selected channels and all its Z
slices) from a CPU generator; see :class:`~viscy_data.transforms.base.RandomBatchTransform`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from kornia.filters import filter2d, filter2d_separable, get_gaussian_kernel1d
from torch import Tensor

from viscy_data.normalization import NormMeta
from viscy_data.transforms.base import RandomBatchTransform, check_range, float_dtypes

__all__ = [
    "RandomContrast",
    "RandomGaussianNoise",
    "RandomGaussianSmooth",
    "RandomIntensityScale",
]


def _per_sample(values: Tensor, x: Tensor) -> Tensor:
    """Reshape ``(B,)`` CPU values to ``(B, 1, 1, 1, 1)`` on ``x``'s device."""
    return values.to(x.device).view(-1, 1, 1, 1, 1)


class RandomContrast(RandomBatchTransform):
    """Gamma contrast: rescale each sample's channel to [0, 1], raise it to gamma, rescale back.

    ``out = min + (max - min) * ((x - min) / (max - min)) ** gamma`` with ``min``/``max`` taken per
    sample and channel over ``(Z, Y, X)``, so the intensity range is kept. Constant channels are
    returned unchanged. ``gamma < 1`` brightens mid-tones, ``gamma > 1`` darkens them.

    Parameters
    ----------
    gamma_range : tuple[float, float]
        Range gamma is drawn from uniformly, per sample (default ``(0.5, 2.0)``; values > 0).
    prob : float
        Probability per sample of applying it (default 0.5).
    channels : Sequence[int] or None
        Channel positions to change; None (default) changes all.
    """

    def __init__(
        self,
        gamma_range: tuple[float, float] = (0.5, 2.0),
        prob: float = 0.5,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(prob=prob, channels=channels)
        self.gamma_range = check_range("gamma_range", gamma_range, minimum=0.0, exclusive=True)

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        mask = self.draw_mask(x.shape[0], generator)
        gamma = self.draw_uniform(*self.gamma_range, x.shape[0], generator)
        compute, out = float_dtypes(x)
        xc = x.to(compute)
        low = xc.amin(dim=(2, 3, 4), keepdim=True)
        width = xc.amax(dim=(2, 3, 4), keepdim=True) - low
        unit = (xc - low) / width.clamp_min(torch.finfo(compute).tiny)
        result = low + width * unit.clamp(0.0, 1.0).pow(_per_sample(gamma, xc).to(compute))
        return self.select(mask, result.to(out), x)

    def extra_repr(self) -> str:
        return f"gamma_range={self.gamma_range}, {super().extra_repr()}"


class RandomIntensityScale(RandomBatchTransform):
    """Multiply each sample by a factor drawn uniformly from ``scale_range``.

    Parameters
    ----------
    scale_range : tuple[float, float]
        Range of the multiplicative factor (default ``(0.8, 1.2)``).
    prob : float
        Probability per sample of applying it (default 0.5).
    channels : Sequence[int] or None
        Channel positions to change; None (default) changes all.
    """

    def __init__(
        self,
        scale_range: tuple[float, float] = (0.8, 1.2),
        prob: float = 0.5,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(prob=prob, channels=channels)
        self.scale_range = check_range("scale_range", scale_range)

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        mask = self.draw_mask(x.shape[0], generator)
        factor = self.draw_uniform(*self.scale_range, x.shape[0], generator)
        compute, out = float_dtypes(x)
        result = x.to(compute) * _per_sample(factor, x).to(compute)
        return self.select(mask, result.to(out), x)

    def extra_repr(self) -> str:
        return f"scale_range={self.scale_range}, {super().extra_repr()}"


class RandomGaussianNoise(RandomBatchTransform):
    """Add Gaussian noise ``N(mean, std)`` with ``std`` drawn per sample from ``std_range``.

    The per-sample ``std`` and a seed come from the CPU generator; the noise field itself is drawn
    on the batch's device from a generator seeded with that seed (drawing it on the CPU and copying
    it would cost more than the whole augmentation). So results are reproducible on a given device
    type, and the noise level, but not the exact noise field, is the same on CPU and GPU.

    Parameters
    ----------
    std_range : tuple[float, float]
        Range of the noise standard deviation, in the batch's intensity units (default
        ``(0.0, 0.1)``, i.e. up to 10% of a normalized unit; values >= 0).
    mean : float
        Mean of the noise (default 0.0).
    prob : float
        Probability per sample of applying it (default 0.5).
    channels : Sequence[int] or None
        Channel positions to change; None (default) changes all.
    """

    def __init__(
        self,
        std_range: tuple[float, float] = (0.0, 0.1),
        mean: float = 0.0,
        prob: float = 0.5,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(prob=prob, channels=channels)
        self.std_range = check_range("std_range", std_range, minimum=0.0)
        if not math.isfinite(mean):
            raise ValueError(f"mean must be finite, got {mean!r}.")
        self.mean = float(mean)

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        mask = self.draw_mask(x.shape[0], generator)
        std = self.draw_uniform(*self.std_range, x.shape[0], generator)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        device_generator = torch.Generator(device=x.device).manual_seed(seed)
        compute, out = float_dtypes(x)
        noise = torch.randn(x.shape, generator=device_generator, device=x.device, dtype=compute)
        result = x.to(compute) + noise * _per_sample(std, x).to(compute) + self.mean
        return self.select(mask, result.to(out), x)

    def extra_repr(self) -> str:
        return f"std_range={self.std_range}, mean={self.mean}, {super().extra_repr()}"


class RandomGaussianSmooth(RandomBatchTransform):
    """Blur each sample with a Gaussian whose sigma (in pixels) is drawn per sample.

    YX smoothing is isotropic (one sigma for Y and X); Z has its own range and is skipped when its
    upper bound is 0. Kernels come from kornia (``get_gaussian_kernel1d``, one per sample, applied
    separably with ``filter2d_separable`` on the YX planes and ``filter2d`` along Z, replicate
    border) and span ``2 * ceil(3 * sigma_max) + 1`` taps.

    Parameters
    ----------
    sigma_yx_range : tuple[float, float]
        Range of the YX sigma in pixels (default ``(0.5, 1.5)``; values >= 0, 0 means no blur).
    sigma_z_range : tuple[float, float]
        Range of the Z sigma in slices (default ``(0.0, 0.0)``: no Z smoothing).
    prob : float
        Probability per sample of applying it (default 0.5).
    channels : Sequence[int] or None
        Channel positions to blur; None (default) blurs all.
    """

    def __init__(
        self,
        sigma_yx_range: tuple[float, float] = (0.5, 1.5),
        sigma_z_range: tuple[float, float] = (0.0, 0.0),
        prob: float = 0.5,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(prob=prob, channels=channels)
        self.sigma_yx_range = check_range("sigma_yx_range", sigma_yx_range, minimum=0.0)
        self.sigma_z_range = check_range("sigma_z_range", sigma_z_range, minimum=0.0)

    @staticmethod
    def _kernels(sigma: Tensor, sigma_max: float, x: Tensor) -> Tensor:
        size = 2 * math.ceil(3.0 * sigma_max) + 1
        return get_gaussian_kernel1d(size, sigma.view(-1, 1).to(x.device, x.dtype))

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        b = x.shape[0]
        mask = self.draw_mask(b, generator)
        sigma_yx = self.draw_uniform(*self.sigma_yx_range, b, generator)
        sigma_z = self.draw_uniform(*self.sigma_z_range, b, generator)
        compute, out = float_dtypes(x)
        _, c, z, h, w = x.shape
        result = x.to(compute)
        # 2-D depthwise convolutions: much faster than conv3d on CPU, same maths.
        if self.sigma_yx_range[1] > 0:
            k = self._kernels(sigma_yx, self.sigma_yx_range[1], result)
            planes = result.reshape(b, c * z, h, w)
            result = filter2d_separable(planes, k, k, border_type="replicate").view(b, c, z, h, w)
        if self.sigma_z_range[1] > 0:
            k = self._kernels(sigma_z, self.sigma_z_range[1], result)
            stacks = result.reshape(b, c, z, h * w)
            result = filter2d(stacks, k[:, :, None], border_type="replicate").view(b, c, z, h, w)
        return self.select(mask, result.to(out), x)

    def extra_repr(self) -> str:
        return (
            f"sigma_yx_range={self.sigma_yx_range}, sigma_z_range={self.sigma_z_range}, "
            f"{super().extra_repr()}"
        )
