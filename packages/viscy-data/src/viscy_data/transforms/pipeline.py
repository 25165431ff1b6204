"""The device-side pipeline of a contrastive batch: normalize, augment, crop, drop channels.

One object any application can run after a batch reaches its device (Lightning's
``on_after_batch_transfer``)::

    batch["anchor"], batch["anchor_norm_meta"]  (same for "positive", "negative")
      --normalizations--> (training) --augmentations--> --centre crop--> (training) --dropout-->
    batch["anchor"]  (the *_norm_meta entries are consumed)

Every random transform draws from one CPU generator per batch, keyed on
``(seed, epoch, step, rank, stream)`` by :meth:`BatchPipeline.generator`, so a run's
augmentations are reproducible whatever the loader's thread timing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from viscy_data.transforms.base import BatchTransform
from viscy_data.transforms.channel_dropout import ChannelDropout
from viscy_data.transforms.spatial import CenterCrop

__all__ = ["IMAGE_KEYS", "BatchPipeline"]

IMAGE_KEYS = ("anchor", "positive", "negative")
"""Batch entries the pipeline transforms, each with its optional ``{key}_norm_meta``."""


def _checked(transforms: Sequence[Any], name: str) -> list[BatchTransform]:
    out = list(transforms)
    for i, transform in enumerate(out):
        if not isinstance(transform, BatchTransform):
            raise TypeError(
                f"{name}[{i}] must be a viscy_data.transforms.BatchTransform, got "
                f"{type(transform).__name__}: {transform!r}."
            )
    return out


class BatchPipeline:
    """Normalize, (training) augment, centre-crop and (training) drop channels of a batch.

    Parameters
    ----------
    normalizations : sequence of BatchTransform, default ()
        Run on every batch (training, validation, prediction), e.g.
        :class:`~viscy_data.transforms.Normalize`; they read ``{key}_norm_meta``.
    augmentations : sequence of BatchTransform, default ()
        Run on training batches only, after the normalizations.
    final_yx_patch_size : (int, int) or None, default None
        Centre crop applied to every batch after the augmentations; None keeps the size.
    channel_dropout : ChannelDropout or None, default None
        Run on training batches only, last.
    seed : int, default 0
        Seed of :meth:`generator`, and of the generator used when a call passes none.

    Examples
    --------
    >>> pipeline = BatchPipeline(final_yx_patch_size=(2, 2))
    >>> pipeline({"anchor": torch.ones(1, 1, 1, 4, 4)}, training=False)["anchor"].shape
    torch.Size([1, 1, 1, 2, 2])
    """

    def __init__(
        self,
        normalizations: Sequence[BatchTransform] = (),
        augmentations: Sequence[BatchTransform] = (),
        final_yx_patch_size: tuple[int, int] | None = None,
        channel_dropout: ChannelDropout | None = None,
        seed: int = 0,
    ) -> None:
        self.normalizations = _checked(normalizations, "normalizations")
        self.augmentations = _checked(augmentations, "augmentations")
        self.crop = CenterCrop(tuple(final_yx_patch_size)) if final_yx_patch_size else None
        if channel_dropout is not None and not isinstance(channel_dropout, ChannelDropout):
            raise TypeError(
                f"channel_dropout must be a ChannelDropout or None, got {channel_dropout!r}."
            )
        self.channel_dropout = channel_dropout
        self.seed = int(seed)
        # (transform, training only?) in the order they run
        self.steps: list[tuple[BatchTransform, bool]] = [
            *((t, False) for t in self.normalizations),
            *((t, True) for t in self.augmentations),
            *([(self.crop, False)] if self.crop is not None else []),
            *([(channel_dropout, True)] if channel_dropout is not None else []),
        ]

    def generator(
        self, epoch: int = 0, step: int = 0, rank: int = 0, stream: int = 0
    ) -> torch.Generator:
        """A CPU generator keyed on ``(seed, epoch, step, rank, stream)``.

        ``stream`` separates purposes sharing a step (e.g. Lightning's dataloader index).
        """
        generator = torch.Generator()
        generator.manual_seed(hash((self.seed, epoch, step, rank, stream)) & (2**63 - 1))
        return generator

    def __call__(
        self, batch: dict, training: bool, generator: torch.Generator | None = None
    ) -> dict:
        """Transform the image entries of ``batch`` in place of the originals; returns ``batch``.

        Parameters
        ----------
        batch : dict
            ``anchor`` (and ``positive`` / ``negative``) ``(B, C, Z, Y, X)`` tensors with their
            ``*_norm_meta`` (popped); other entries pass through.
        training : bool
            True runs every step; False only the normalizations and the crop (what
            validation and prediction see).
        generator : torch.Generator, optional
            CPU generator of the random steps (default: seeded from ``seed``).
        """
        if generator is None:
            generator = torch.Generator().manual_seed(self.seed)
        for key in IMAGE_KEYS:
            if key not in batch:
                continue
            x = batch[key]
            meta = batch.pop(f"{key}_norm_meta", None)
            for transform, training_only in self.steps:
                if training or not training_only:
                    x = transform(x, norm_meta=meta, generator=generator)
            batch[key] = x
        return batch

    def __repr__(self) -> str:
        steps = ", ".join(
            f"{type(t).__name__}{' (training)' if only else ''}" for t, only in self.steps
        )
        return f"BatchPipeline([{steps}], seed={self.seed})"
