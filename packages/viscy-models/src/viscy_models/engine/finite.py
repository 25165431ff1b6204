"""Training never goes on with non-finite numbers: the loss checked each step, weights at save.

A non-finite training or validation loss stops the run at that step, before the backward pass
and the optimizer step, so the weights stay finite. The error says where (stage, step, epoch,
batch) and, when the datamodule can tell (a ``describe_nonfinite(batch, stage)`` method
returning a description, or None), which inputs of the batch hold non-finite pixels:
:class:`NonFiniteInputError` (a ``ValueError``: a data problem) when they do, else
:class:`NonFiniteLossError` (training diverged). A checkpoint whose weights hold a non-finite
value is never written (:func:`check_finite_state`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "NonFiniteInputError",
    "NonFiniteLossError",
    "check_finite_loss",
    "check_finite_state",
]


class NonFiniteLossError(RuntimeError):
    """The loss or the weights became non-finite while the inputs were finite."""


class NonFiniteInputError(ValueError):
    """The loss is non-finite because the batch holds non-finite pixels (a data problem)."""


def check_finite_loss(module: Any, loss: Tensor, batch: dict, batch_idx: int, stage: str) -> None:
    """Raise when ``loss`` is NaN or infinite (one device sync per step).

    Parameters
    ----------
    module : LightningModule
        Gives the step, the epoch and, through its trainer, the datamodule.
    loss : Tensor
        The scalar loss of the step.
    batch : dict
        The batch as the model saw it (after the datamodule's transforms).
    batch_idx : int
        Index of the batch in its epoch.
    stage : str
        ``"train"`` or ``"val"``.
    """
    if bool(torch.isfinite(loss.detach()).all()):
        return
    trainer = getattr(module, "_trainer", None)
    where = (
        f"non-finite {'training' if stage == 'train' else 'validation'} loss "
        f"({float(loss.detach().float().cpu())}) at global step {module.global_step} "
        f"(epoch {module.current_epoch}, batch {batch_idx})"
    )
    describe = getattr(getattr(trainer, "datamodule", None), "describe_nonfinite", None)
    inputs = describe(batch, stage) if callable(describe) else None
    if inputs:
        raise NonFiniteInputError(
            f"{where}: the batch holds non-finite pixels: {inputs}. Training stopped before "
            "this step changed the weights; no checkpoint with non-finite weights is written. "
            "Fix those pixels, or leave the FOVs out (data.exclude_fovs)."
        )
    raise NonFiniteLossError(
        f"{where}, with finite inputs: training diverged. Training stopped before this step "
        "changed the weights; no checkpoint with non-finite weights is written. Lower "
        "model.lr, or resume from the last checkpoint."
    )


def check_finite_state(state_dict: Mapping[str, Any], where: str) -> None:
    """Raise :class:`NonFiniteLossError` when a floating tensor of ``state_dict`` is not finite.

    Parameters
    ----------
    state_dict : mapping
        Name -> tensor (a LightningModule's ``state_dict``).
    where : str
        What is being saved, first in the message (e.g. ``"checkpoint at step 12"``).
    """
    bad = [
        name
        for name, value in state_dict.items()
        if isinstance(value, Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]
    if bad:
        shown = ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise NonFiniteLossError(
            f"{where}: {len(bad)} of {len(state_dict)} weight tensors hold NaN or infinite "
            f"values ({shown}); the checkpoint is not written, so 'last' and the best "
            "checkpoint stay the finite ones saved before. Lower model.lr, or resume from them."
        )
