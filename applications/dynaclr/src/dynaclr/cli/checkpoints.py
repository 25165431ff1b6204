"""Check ``--ckpt_path`` before a run: a checkpoint file whose weights fit this model.

Lightning loads the checkpoint only when the run starts, and a wrong file then ends in an
``UnpicklingError`` or a list of size mismatches. :func:`check_checkpoint` reads the file
first (memory-mapped, so a large checkpoint costs little), before LightningCLI reads its
hyperparameters, and refuses it with one message
naming the file and, for weights of another architecture, the first parameter that differs
and both shapes.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

__all__ = ["check_checkpoint", "read_checkpoint"]

_LIGHTNING_NAMES = ("last", "best", "hpc", "registry")
"""``ckpt_path`` values Lightning resolves itself; not files."""


def read_checkpoint(ckpt_path: str | Path | None, weights_only: bool | None = None) -> dict | None:
    """Load ``ckpt_path`` (memory-mapped) as Lightning will, or refuse it naming the file.

    Parameters
    ----------
    ckpt_path : str or Path or None
        The run's ``--ckpt_path``; None, Lightning's names (``"last"``...) and URLs give None.
    weights_only : bool, optional
        As the run's ``--weights_only`` (None: torch's default).

    Returns
    -------
    dict or None
        The checkpoint, with its ``state_dict``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        A folder, a file torch cannot load, or no ``state_dict`` in it.
    """
    if ckpt_path is None:
        return None
    text = str(ckpt_path)
    if text in _LIGHTNING_NAMES or text.startswith("registry:") or "://" in text:
        return None
    path = Path(text)
    where = f"--ckpt_path '{path}'"
    if not path.exists():
        raise FileNotFoundError(f"{where} does not exist")
    if path.is_dir():
        raise ValueError(f"{where} is a folder; give a checkpoint file, e.g. {path / 'last.ckpt'}")
    zipped = zipfile.is_zipfile(path)  # torch.save's format since torch 1.6
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only, mmap=zipped)
    except Exception as err:  # UnpicklingError, RuntimeError, EOFError, ... from torch.load
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        why = f"{type(err).__name__}: {first}" if zipped else "not a file torch.save wrote"
        raise ValueError(
            f"{where} is not a checkpoint torch can load ({why}); give the .ckpt file a "
            "dynaclr fit wrote (it prints the path at the end)."
        ) from err
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        keys = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint)
        raise ValueError(
            f"{where} holds no 'state_dict' (found {keys}); it is not a Lightning checkpoint of "
            "a dynaclr model."
        )
    return checkpoint


def check_checkpoint(
    ckpt_path: str | Path | None, model: torch.nn.Module, weights_only: bool | None = None
) -> None:
    """Refuse a ``ckpt_path`` that is not a checkpoint of ``model``'s architecture.

    Parameters
    ----------
    ckpt_path : str or Path or None
        As :func:`read_checkpoint`.
    model : torch.nn.Module
        The model the run builds from its config.
    weights_only : bool, optional
        As :func:`read_checkpoint`.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_checkpoint`; and weights that do not fit ``model``: names the file, the
        first mismatched parameter and both shapes, or the first missing or unexpected one.
    """
    checkpoint = read_checkpoint(ckpt_path, weights_only)
    if checkpoint is not None:
        _check_weights(f"--ckpt_path '{ckpt_path}'", checkpoint["state_dict"], model.state_dict())


def _check_weights(where: str, saved: dict, expected: dict) -> None:
    """The first parameter whose shape differs, then the first missing or unexpected one."""
    for name, tensor in expected.items():
        if name in saved and tuple(saved[name].shape) != tuple(tensor.shape):
            raise ValueError(
                f"{where} holds weights of another architecture: parameter {name!r} has shape "
                f"{tuple(saved[name].shape)} in the checkpoint but {tuple(tensor.shape)} in "
                "the model of this config. Use the config the checkpoint was trained with (its "
                "run folder's config.yaml), or a checkpoint of this model."
            )
    missing = [name for name in expected if name not in saved]
    unexpected = [name for name in saved if name not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"lacks {len(missing)} parameter(s) of this model, e.g. {missing[0]!r}")
        if unexpected:
            parts.append(
                f"holds {len(unexpected)} this model does not have, e.g. {unexpected[0]!r}"
            )
        raise ValueError(
            f"{where} holds weights of another architecture: it {' and '.join(parts)}. Use the "
            "config the checkpoint was trained with (its run folder's config.yaml), or a "
            "checkpoint of this model."
        )
