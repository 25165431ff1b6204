"""Randomly zero whole channels per sample, so a model learns to cope with a missing channel."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["ChannelDropout"]


def _check_dropout_channels(channels: Sequence[int]) -> tuple[int, ...]:
    if isinstance(channels, int | str | bytes) or not isinstance(channels, Sequence):
        raise ValueError(
            f"channels must be a list of channel positions (axis 1 of the batch), got {channels!r}."
        )
    positions = tuple(channels)
    if (
        not positions
        or any(
            not isinstance(c, numbers.Integral) or isinstance(c, bool) or c < 0 for c in positions
        )
        or len(set(positions)) != len(positions)
    ):
        raise ValueError(
            f"channels must be a non-empty list of distinct channel positions >= 0, "
            f"e.g. [1] or [0, 2]; got {channels!r}."
        )
    return tuple(int(c) for c in positions)


def _check_probability(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}.")
    return float(p)


def _check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {generator!r}.")
    if generator.device.type != "cpu":
        raise ValueError(
            "ChannelDropout draws on the CPU so the draws do not depend on the batch's device; "
            f"pass a CPU torch.Generator, got one on {generator.device}."
        )
    return generator


_SAME_WIDTH_SIGNED = {
    getattr(torch, name): signed
    for name, signed in (("uint16", torch.int16), ("uint32", torch.int32), ("uint64", torch.int64))
    if hasattr(torch, name)
}


class ChannelDropout(nn.Module):
    """Zero each listed channel of each sample independently with probability ``p``.

    In training mode, for every sample ``b`` and every listed channel ``c``, one uniform draw
    decides whether ``x[b, c]`` is replaced by zeros (NaN and inf included). Values are not
    rescaled: a kept channel comes back bit-identical. In eval mode, or when ``p == 0``, the input
    tensor itself is returned. The input is never written to; the output keeps its dtype and
    device.

    The ``(B, len(channels))`` draws are made on the CPU, from ``generator`` when given (else from
    torch's global CPU generator), and then moved to the batch's device, so the same generator
    state drops the same channels on any device.

    Parameters
    ----------
    channels : Sequence[int]
        Channel positions (axis 1 of the batch) that may be dropped; non-empty, distinct, >= 0.
    p : float
        Probability, per sample and per listed channel, of zeroing it (default 0.5); in [0, 1].
    generator : torch.Generator, optional
        CPU generator for the draws, for reproducible dropout (default None: the global one).

    Raises
    ------
    ValueError
        At construction, for bad ``channels``, ``p`` or ``generator``; in ``forward``, for a
        batch that is not 5-D or that has no channel at a listed position.

    Examples
    --------
    >>> drop = ChannelDropout(channels=[1], p=1.0)
    >>> x = torch.ones(2, 2, 1, 4, 4)
    >>> y = drop(x)
    >>> y[:, 0].sum().item(), y[:, 1].sum().item()
    (32.0, 0.0)
    >>> drop.eval()(x) is x
    True
    """

    def __init__(
        self,
        channels: Sequence[int],
        p: float = 0.5,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.channels = _check_dropout_channels(channels)
        self.p = _check_probability(p)
        self.generator = _check_generator(generator)

    def draw_dropped(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw which listed channels to zero: a CPU bool tensor of shape ``(B, len(channels))``.

        Parameters
        ----------
        batch_size : int
            Number of samples ``B``.
        generator : torch.Generator, optional
            CPU generator to draw from; defaults to the one given at construction.
        """
        generator = self.generator if generator is None else _check_generator(generator)
        draws = torch.rand((batch_size, len(self.channels)), generator=generator)
        return draws < self.p

    def forward(
        self,
        x: Tensor,
        norm_meta: object = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Return ``x`` with dropped channels zeroed (a new tensor), or ``x`` itself when inactive.

        Parameters
        ----------
        x : Tensor
            Batch of shape ``(B, C, Z, Y, X)``, any dtype, on any device.
        norm_meta : object, optional
            Ignored; accepted so the module can run in a sequence of batched transforms.
        generator : torch.Generator, optional
            CPU generator for this call only, overriding the one given at construction.

        Returns
        -------
        Tensor
            Same shape, dtype and device as ``x``.
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"ChannelDropout expects a torch.Tensor, got {type(x).__name__}.")
        if x.ndim != 5:
            raise ValueError(
                f"ChannelDropout expects a (B, C, Z, Y, X) tensor, got shape {tuple(x.shape)}."
            )
        if max(self.channels) >= x.shape[1]:
            raise ValueError(
                f"ChannelDropout: channels={list(self.channels)} but the batch has {x.shape[1]} "
                f"channels (positions 0..{x.shape[1] - 1})."
            )
        if not self.training or self.p == 0.0:
            return x
        dropped = self.draw_dropped(x.shape[0], generator)
        mask = torch.zeros((x.shape[0], x.shape[1]), dtype=torch.bool)
        mask[:, list(self.channels)] = dropped
        mask = mask.to(x.device).view(*mask.shape, 1, 1, 1)
        signed = _SAME_WIDTH_SIGNED.get(x.dtype)
        if signed is not None:
            # Older torch lacks where/masked_fill for uint16/32/64 on the CPU; zero has the same
            # bits in the signed integer of the same width, so work on that view.
            return torch.where(mask, 0, x.view(signed)).view(x.dtype)
        return torch.where(mask, x.new_zeros(()), x)

    def extra_repr(self) -> str:
        return f"channels={list(self.channels)}, p={self.p}"
