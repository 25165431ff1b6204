"""Intensity normalization: from per-sample stored statistics, or from each sample's percentiles."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from viscy_data.normalization import LEVELS as NORM_LEVELS
from viscy_data.normalization import NormLevel, NormMeta, unusable_divisor
from viscy_data.transforms.base import BatchTransform, check_range, float_dtypes

__all__ = ["NORM_LEVELS", "Normalize", "ScaleIntensityPercentiles"]


class Normalize(BatchTransform):
    """Normalize each sample with its own stored statistics: ``(x - subtrahend) / divisor``.

    Statistics come from the batch's ``norm_meta`` (``batch["anchor_norm_meta"]``): model channel
    position -> level -> stat name -> ``(B,)`` tensor with one value per sample, so a batch that
    mixes FOVs, experiments or (for ``"timepoint_statistics"``) frames normalizes every sample with
    the values of its own FOV or frame.

    Parameters
    ----------
    level : {"fov_statistics", "dataset_statistics", "timepoint_statistics"}
        Which statistics to use (default ``"fov_statistics"``).
    subtrahend : str or None
        Statistic subtracted, e.g. ``"mean"`` (default) or ``"median"``; None subtracts nothing.
    divisor : str or None
        Statistic divided by, e.g. ``"std"`` (default) or ``"iqr"``; None divides by one.
    eps : float
        Smallest divisor used (default 0.0). Divisors below ``eps`` are raised to ``eps``; with
        ``eps=0`` a zero divisor (a constant channel) raises ``ValueError`` instead of dividing by
        zero. Negative or non-finite statistics always raise.
    channels : Sequence[int] or None
        Channel positions to normalize; None (default) normalizes every channel, which then all
        need statistics.

    Raises
    ------
    ValueError
        At construction for an unknown ``level``; at call time when ``norm_meta`` is None or lacks
        the channel, level or statistic, has the wrong batch size, or holds an unusable divisor.
    """

    def __init__(
        self,
        level: NormLevel = "fov_statistics",
        subtrahend: str | None = "mean",
        divisor: str | None = "std",
        eps: float = 0.0,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(channels=channels)
        if level not in NORM_LEVELS:
            raise ValueError(
                f"level={level!r} is not a normalization level; use one of {list(NORM_LEVELS)}."
            )
        for name, stat in (("subtrahend", subtrahend), ("divisor", divisor)):
            if stat is not None and (not isinstance(stat, str) or not stat):
                raise ValueError(
                    f"{name} must be a statistic name such as 'mean', 'std', 'median' or 'iqr', "
                    f"or None; got {stat!r}."
                )
        if subtrahend is None and divisor is None:
            raise ValueError("subtrahend and divisor are both None: Normalize would do nothing.")
        if not eps >= 0.0:
            raise ValueError(f"eps must be >= 0, got {eps!r}.")
        self.level = level
        self.subtrahend = subtrahend
        self.divisor = divisor
        self.eps = float(eps)

    @property
    def required_stats(self) -> tuple[str, ...]:
        """Statistic names this transform reads at :attr:`level`, to validate stores at setup."""
        return tuple(s for s in (self.subtrahend, self.divisor) if s is not None)

    def _lookup(self, norm_meta: NormMeta, position: int, stat: str, batch_size: int) -> Tensor:
        if position not in norm_meta:
            raise ValueError(
                f"Normalize: no normalization metadata for channel position {position}; the batch "
                f"has metadata for positions {sorted(norm_meta)}. Compute statistics for that "
                f"channel or restrict Normalize with channels=[...]."
            )
        levels = norm_meta[position]
        if self.level not in levels:
            raise ValueError(
                f"Normalize: channel position {position} has no {self.level!r}; available levels: "
                f"{sorted(levels)}. Choose one of them as level."
            )
        stats = levels[self.level]
        if stat not in stats:
            raise ValueError(
                f"Normalize: channel position {position}, level {self.level!r} has no statistic "
                f"{stat!r}; available: {sorted(stats)}."
            )
        value = torch.as_tensor(stats[stat]).reshape(-1)
        if value.numel() not in (1, batch_size):
            raise ValueError(
                f"Normalize: channel position {position}, {self.level!r}[{stat!r}] holds "
                f"{value.numel()} values for a batch of {batch_size} samples; expected one per "
                f"sample."
            )
        return value.expand(batch_size)

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        if norm_meta is None:
            raise ValueError(
                f"Normalize(level={self.level!r}) needs per-sample normalization metadata "
                f"(batch['anchor_norm_meta']) but got norm_meta=None: the FOVs of this batch have "
                f"no 'normalization' attribute. Compute statistics for the plates or remove "
                f"Normalize from the normalizations."
            )
        compute, out = float_dtypes(x)
        b = x.shape[0]

        def gather(stat: str | None, default: float) -> Tensor:
            if stat is None:
                return torch.full((b, len(positions)), default, dtype=compute, device=x.device)
            cols = [self._lookup(norm_meta, p, stat, b).to(x.device, compute) for p in positions]
            return torch.stack(cols, dim=1)

        sub = gather(self.subtrahend, 0.0)
        div = gather(self.divisor, 1.0)
        bad = ~torch.isfinite(sub) | unusable_divisor(div, self.eps)
        if bad.any():  # one host sync per batch, for a clear error instead of NaN/inf output
            self._raise_bad(sub.cpu(), div.cpu(), bad.cpu(), positions)
        shape = (b, len(positions), 1, 1, 1)
        return ((x.to(compute) - sub.view(shape)) / div.clamp_min(self.eps).view(shape)).to(out)

    def _raise_bad(self, sub: Tensor, div: Tensor, bad: Tensor, positions: tuple[int, ...]) -> None:
        sample, col = (int(i) for i in bad.nonzero()[0])
        where = (
            f"Normalize: sample {sample}, channel position {positions[col]}, level {self.level!r}"
        )
        if not torch.isfinite(sub[sample, col]):
            raise ValueError(f"{where}: {self.subtrahend!r} is {float(sub[sample, col])!r}.")
        value = float(div[sample, col])
        if value == 0.0:
            raise ValueError(
                f"{where}: divisor {self.divisor!r} is 0 (a constant channel); refusing to divide "
                f"by zero. Set eps (e.g. eps=1e-6) to use max({self.divisor}, eps) instead, or "
                f"recompute the statistics."
            )
        raise ValueError(
            f"{where}: divisor {self.divisor!r} is {value!r}; it must be finite and positive."
        )

    def extra_repr(self) -> str:
        return (
            f"level={self.level!r}, subtrahend={self.subtrahend!r}, divisor={self.divisor!r}, "
            f"eps={self.eps}, {super().extra_repr()}"
        )


def batch_percentiles(x: Tensor, q: float) -> Tensor:
    """Return the ``q``-th percentile (0-100, linear interpolation) of each ``(sample, channel)``.

    Uses ``torch.kthvalue`` on the flattened ``(Z, Y, X)`` voxels, so it has no size limit (unlike
    ``torch.quantile``) and agrees with ``numpy.percentile``'s default method.

    Parameters
    ----------
    x : Tensor
        ``(B, C, Z, Y, X)`` floating tensor.
    q : float
        Percentile in ``[0, 100]``.

    Returns
    -------
    Tensor
        Shape ``(B, C)``, dtype of ``x``.
    """
    flat = x.flatten(2)
    n = flat.shape[-1]
    pos = q / 100.0 * (n - 1)
    lo = int(pos)
    low = flat.kthvalue(lo + 1, dim=-1).values
    frac = pos - lo
    if frac == 0.0 or lo + 1 >= n:
        return low
    high = flat.kthvalue(lo + 2, dim=-1).values
    return low + frac * (high - low)


class ScaleIntensityPercentiles(BatchTransform):
    """Map each sample's and channel's percentiles ``(p_low, p_high)`` linearly onto ``out_range``.

    Percentiles are computed per sample and channel over all ``(Z, Y, X)`` voxels. Where
    ``p_high == p_low`` (a constant or nearly constant channel) the scale is 1: the channel is only
    shifted so that ``p_low`` lands on ``out_range[0]``.

    Parameters
    ----------
    percentiles : tuple[float, float]
        Lower and upper percentile in ``[0, 100]`` (default ``(1.0, 99.0)``).
    out_range : tuple[float, float]
        Values the two percentiles map to (default ``(0.0, 1.0)``).
    clip : bool
        Whether to clip the output to ``out_range`` (default False).
    channels : Sequence[int] or None
        Channel positions to scale; None (default) scales all.
    """

    def __init__(
        self,
        percentiles: tuple[float, float] = (1.0, 99.0),
        out_range: tuple[float, float] = (0.0, 1.0),
        clip: bool = False,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(channels=channels)
        low, high = check_range("percentiles", percentiles, minimum=0.0)
        if high > 100.0 or low == high:
            raise ValueError(
                f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}."
            )
        self.percentiles = (low, high)
        self.out_range = check_range("out_range", out_range)
        self.clip = bool(clip)

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        compute, out = float_dtypes(x)
        xc = x.to(compute)
        p_low = batch_percentiles(xc, self.percentiles[0])[..., None, None, None]
        p_high = batch_percentiles(xc, self.percentiles[1])[..., None, None, None]
        lo, hi = self.out_range
        width = p_high - p_low
        scale = torch.where(width > 0, (hi - lo) / width.clamp_min(torch.finfo(compute).tiny), 1.0)
        result = (xc - p_low) * scale + lo
        if self.clip:
            result = result.clamp(lo, hi)
        return result.to(out)

    def extra_repr(self) -> str:
        return (
            f"percentiles={self.percentiles}, out_range={self.out_range}, clip={self.clip}, "
            f"{super().extra_repr()}"
        )
