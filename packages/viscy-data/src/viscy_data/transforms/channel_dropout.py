"""Randomly zero whole channels per sample, so a model learns to cope with a missing channel."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from viscy_data.normalization import NormMeta
from viscy_data.transforms.base import BatchTransform, check_generator

__all__ = ["ChannelDropout"]


def _check_probability(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}.")
    return float(p)


_SAME_WIDTH_SIGNED = {
    getattr(torch, name): signed
    for name, signed in (("uint16", torch.int16), ("uint32", torch.int32), ("uint64", torch.int64))
    if hasattr(torch, name)
}


class ChannelDropout(BatchTransform):
    """Zero each listed channel of each sample independently with probability ``p``.

    In training mode, for every sample ``b`` and every listed channel ``c``, one uniform draw
    decides whether ``x[b, c]`` is replaced by zeros (NaN and inf included). Values are not
    rescaled: a kept channel comes back bit-identical. In eval mode, or when ``p == 0``, the input
    tensor itself is returned. The input is never written to; the output keeps its dtype and
    device.

    The ``(B, len(channels))`` draws are made on the CPU, from the ``generator`` passed to the
    call, else the one given at construction, else torch's global CPU generator, and then moved
    to the batch's device, so the same generator state drops the same channels on any device.
    It is a :class:`~viscy_data.transforms.BatchTransform`, so it runs in a
    :class:`~viscy_data.transforms.BatchPipeline` like any other transform.

    Parameters
    ----------
    channels : Sequence[int]
        Channel positions (axis 1 of the batch) that may be dropped; non-empty, distinct, >= 0.
    p : float
        Probability, per sample and per listed channel, of zeroing it (default 0.5); in [0, 1].
    generator : torch.Generator, optional
        CPU generator for the draws when a call passes none (default None: the global one).

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
        if channels is None:
            raise ValueError(
                "channels must be a list of channel positions (axis 1 of the batch), e.g. [1] "
                "or [0, 2]; got None."
            )
        super().__init__(channels=channels)
        self.p = _check_probability(p)
        self.generator = check_generator(generator, "ChannelDropout")

    def draw_dropped(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw which listed channels to zero: a CPU bool tensor of shape ``(B, len(channels))``.

        Parameters
        ----------
        batch_size : int
            Number of samples ``B``.
        generator : torch.Generator, optional
            CPU generator to draw from; defaults to the one given at construction.
        """
        generator = (
            self.generator if generator is None else check_generator(generator, "ChannelDropout")
        )
        draws = torch.rand((batch_size, len(self.channels)), generator=generator)
        return draws < self.p

    def forward(
        self,
        x: Tensor,
        norm_meta: NormMeta | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Return ``x`` with dropped channels zeroed (a new tensor), or ``x`` itself when inactive.

        As :meth:`BatchTransform.forward`; any dtype, and ``generator`` overrides the one given
        at construction for this call only. ``norm_meta`` is ignored.
        """
        generator = self.generator if generator is None else generator
        self.check_input(x, generator)
        if not self.training or self.p == 0.0:
            return x
        signed = _SAME_WIDTH_SIGNED.get(x.dtype)
        if signed is not None:
            # Older torch lacks where/index_copy for uint16/32/64 on the CPU; zero has the same
            # bits in the signed integer of the same width, so work on that view.
            return super().forward(x.view(signed), norm_meta, generator).view(x.dtype)
        return super().forward(x, norm_meta, generator)

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        dropped = self.draw_dropped(x.shape[0], generator)
        mask = dropped.to(x.device).view(*dropped.shape, 1, 1, 1)
        return torch.where(mask, x.new_zeros(()), x)

    def extra_repr(self) -> str:
        return f"channels={list(self.channels)}, p={self.p}"
