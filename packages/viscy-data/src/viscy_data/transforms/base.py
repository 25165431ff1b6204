"""Base classes of the batched transforms: channel restriction, per-sample randomness, composition.

Every transform takes a batch ``x`` of shape ``(B, C, Z, Y, X)`` already on its device and returns a
new tensor on the same device; the input is never written to. Transforms run with autocast disabled
and compute in float32 (float64 for float64 input), returning the input's floating dtype, so a bf16
mixed-precision context does not lower the precision of interpolation grids or statistics.

Random parameters are drawn per sample on the CPU from a ``torch.Generator`` (the global CPU
generator when none is given) and then moved to the batch's device, so the same generator state
gives the same parameters on any device.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from viscy_data.normalization import NormMeta

__all__ = ["BatchCompose", "BatchTransform", "NormMeta", "RandomBatchTransform"]


def check_batch(x: object, owner: str) -> Tensor:
    """Return ``x`` if it is a 5-D ``(B, C, Z, Y, X)`` tensor, else raise naming ``owner``."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{owner} expects a torch.Tensor, got {type(x).__name__}; pass a (B, C, Z, Y, X) batch."
        )
    if x.ndim != 5:
        raise ValueError(
            f"{owner} expects a (B, C, Z, Y, X) tensor, got shape {tuple(x.shape)} ({x.ndim}-D)."
        )
    return x


def check_generator(generator: object, owner: str) -> torch.Generator | None:
    """Return ``generator`` if it is None or a CPU ``torch.Generator``, else raise naming ``owner``.

    Random parameters are drawn on the CPU so that the same generator state gives the same
    parameters whatever device the batch is on.
    """
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {generator!r}.")
    if generator.device.type != "cpu":
        raise ValueError(
            f"{owner} draws its random parameters on the CPU so they do not depend on the "
            f"device; pass a CPU torch.Generator, got one on {generator.device}."
        )
    return generator


def check_range(
    name: str, value: Sequence[float], *, minimum: float | None = None, exclusive: bool = False
) -> tuple[float, float]:
    """Validate a ``(low, high)`` pair of finite floats with ``low <= high`` and return it.

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : Sequence[float]
        The pair to check.
    minimum : float, optional
        Smallest allowed value of ``low`` (inclusive unless ``exclusive``).
    exclusive : bool
        Whether ``low`` must be strictly greater than ``minimum``.
    """
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"{name} must be finite with low <= high, got {value!r}.")
    if minimum is not None and (low <= minimum if exclusive else low < minimum):
        bound = f"> {minimum}" if exclusive else f">= {minimum}"
        raise ValueError(f"{name} values must be {bound}, got {value!r}.")
    return low, high


def float_dtypes(x: Tensor) -> tuple[torch.dtype, torch.dtype]:
    """Return ``(compute dtype, output dtype)`` for ``x``: float32 maths, floating dtype kept.

    float64 batches compute in float64; integer batches come out as float32.
    """
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    out = x.dtype if x.is_floating_point() else torch.float32
    return compute, out


def _no_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Disable autocast: transforms choose their own precision (see :func:`float_dtypes`)."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _is_index(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_channels(channels: Sequence[int] | None) -> tuple[int, ...] | None:
    if channels is None:
        return None
    if isinstance(channels, int | str | bytes):
        raise ValueError(f"channels must be a list of channel positions or None, got {channels!r}.")
    positions = tuple(channels)
    if (
        not positions
        or any(not _is_index(c) or c < 0 for c in positions)
        or len(set(positions)) != len(positions)
    ):
        raise ValueError(
            f"channels must be a non-empty list of distinct channel positions >= 0, or None "
            f"for all channels; got {channels!r}."
        )
    return tuple(int(c) for c in positions)


class BatchTransform(nn.Module):
    """Base of the batched ``(B, C, Z, Y, X)`` transforms, optionally restricted to some channels.

    Subclasses implement :meth:`apply`, which sees only the selected channels; channels outside
    ``channels`` come back bit-identical. ``forward(x, norm_meta=None, generator=None)`` is the
    common call signature of every transform, so a list of them can be run in sequence.

    Parameters
    ----------
    channels : Sequence[int] or None
        Model channel positions (axis 1 of the batch) to transform; None (default) transforms all.
    """

    def __init__(self, channels: Sequence[int] | None = None) -> None:
        super().__init__()
        self.channels = _check_channels(channels)

    def forward(
        self,
        x: Tensor,
        norm_meta: NormMeta | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Transform a batch.

        Parameters
        ----------
        x : Tensor
            Batch of shape ``(B, C, Z, Y, X)``, any floating dtype (integer input gives float32).
        norm_meta : dict or None
            Per-sample normalization statistics (see :data:`NormMeta`); only ``Normalize`` reads it.
        generator : torch.Generator or None
            CPU generator for the random parameters; None uses torch's global CPU generator.

        Returns
        -------
        Tensor
            A new tensor on ``x``'s device; same shape and dtype unless the transform says
            otherwise.
        """
        self.check_input(x, generator)
        with _no_autocast(x.device.type):
            if self.channels is None:
                return self.apply(x, tuple(range(x.shape[1])), norm_meta, generator)
            index = torch.tensor(self.channels, device=x.device)
            part = self.apply(x.index_select(1, index), self.channels, norm_meta, generator)
            return x.to(dtype=part.dtype, copy=True).index_copy_(1, index, part)

    def check_input(self, x: object, generator: object = None) -> None:
        """Reject a batch that is not ``(B, C, Z, Y, X)`` lacks a channel, or a GPU generator."""
        name = type(self).__name__
        check_batch(x, name)
        check_generator(generator, name)
        if self.channels is not None and max(self.channels) >= x.shape[1]:
            raise ValueError(
                f"{name}: channels={list(self.channels)} but the batch has {x.shape[1]} channels "
                f"(positions 0..{x.shape[1] - 1})."
            )

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        """Transform the selected channels ``x`` (model positions ``positions``) out of place."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"channels={list(self.channels) if self.channels is not None else None}"


class RandomBatchTransform(BatchTransform):
    """Base of the random transforms: each sample is transformed with probability ``prob``.

    Parameters
    ----------
    prob : float
        Probability, per sample, of applying the transform (default 0.5); samples not drawn come
        back bit-identical.
    channels : Sequence[int] or None
        Channel positions to transform; None (default) transforms all.
    """

    def __init__(self, prob: float = 0.5, channels: Sequence[int] | None = None) -> None:
        super().__init__(channels=channels)
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob!r}.")
        self.prob = float(prob)

    def draw_mask(self, batch_size: int, generator: torch.Generator | None) -> Tensor:
        """Draw which samples are transformed: a CPU bool tensor of shape ``(B,)``."""
        return torch.rand(batch_size, generator=generator) < self.prob

    @staticmethod
    def draw_uniform(
        low: float, high: float, batch_size: int, generator: torch.Generator | None
    ) -> Tensor:
        """Draw ``(B,)`` float32 values uniformly in ``[low, high]`` on the CPU."""
        return low + (high - low) * torch.rand(batch_size, generator=generator)

    @staticmethod
    def select(mask: Tensor, transformed: Tensor, original: Tensor) -> Tensor:
        """Take ``transformed`` for samples where ``mask`` is true and ``original`` elsewhere."""
        keep = mask.to(original.device).view(-1, 1, 1, 1, 1)
        return torch.where(keep, transformed, original.to(transformed.dtype))

    def extra_repr(self) -> str:
        return f"prob={self.prob}, {super().extra_repr()}"


class BatchCompose(BatchTransform):
    """Run batched transforms in order, passing each the same ``norm_meta`` and generator.

    Parameters
    ----------
    transforms : Sequence[BatchTransform]
        Transforms applied first to last. Empty gives a copy of the input.

    Examples
    --------
    >>> from viscy_data.transforms import BatchCompose, CenterCrop, RandomIntensityScale
    >>> double = RandomIntensityScale(scale_range=(2.0, 2.0), prob=1.0)
    >>> t = BatchCompose([double, CenterCrop((2, 2))])
    >>> t(torch.ones(1, 1, 1, 4, 4)).shape
    torch.Size([1, 1, 1, 2, 2])
    """

    def __init__(self, transforms: Sequence[BatchTransform] = ()) -> None:
        super().__init__(channels=None)
        for i, t in enumerate(transforms):
            if not isinstance(t, BatchTransform):
                raise TypeError(
                    f"transforms[{i}] must be a BatchTransform, got {type(t).__name__}: {t!r}."
                )
        self.transforms = nn.ModuleList(transforms)

    def forward(
        self,
        x: Tensor,
        norm_meta: NormMeta | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        check_batch(x, "BatchCompose")
        if not len(self.transforms):
            return x.clone()
        for t in self.transforms:
            x = t(x, norm_meta=norm_meta, generator=generator)
        return x

    def extra_repr(self) -> str:
        return ""
