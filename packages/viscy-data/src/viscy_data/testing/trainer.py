"""A quiet Lightning ``Trainer`` for tests: one CPU device, nothing written, nothing printed.

Lightning is not a dependency of viscy-data: it is imported when :func:`quiet_trainer` is
called, not when this module is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import lightning

__all__ = ["QUIET_TRAINER_DEFAULTS", "quiet_trainer"]

QUIET_TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "cpu",
    "devices": 1,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "use_distributed_sampler": False,
}
"""The ``Trainer`` arguments :func:`quiet_trainer` sets unless told otherwise."""


def quiet_trainer(**overrides: Any) -> lightning.Trainer:
    """A ``lightning.Trainer`` on one CPU device without logger, checkpoints or console output.

    It sets :data:`QUIET_TRAINER_DEFAULTS`: ``accelerator="cpu"``, ``devices=1``,
    ``logger=False``, ``enable_checkpointing=False``, ``enable_progress_bar=False``,
    ``enable_model_summary=False`` and ``use_distributed_sampler=False`` (the batch samplers
    under test shard themselves; with one device Lightning would not inject a sampler anyway).
    Pass only what a test needs besides, e.g. ``default_root_dir``, ``max_epochs`` or
    ``callbacks``.

    Parameters
    ----------
    **overrides
        Any ``lightning.Trainer`` argument; it replaces the default of the same name.

    Returns
    -------
    lightning.Trainer
        A new trainer.

    Raises
    ------
    ImportError
        When Lightning is not installed (``pip install lightning``).

    Examples
    --------
    >>> trainer = quiet_trainer(max_epochs=2)
    >>> trainer.logger is None, trainer.checkpoint_callback is None, trainer.max_epochs
    (True, True, 2)
    """
    try:
        import lightning
    except ImportError as err:
        raise ImportError(
            "viscy_data.testing.quiet_trainer needs Lightning; install it with "
            "`pip install lightning`."
        ) from err
    return lightning.Trainer(**{**QUIET_TRAINER_DEFAULTS, **overrides})
