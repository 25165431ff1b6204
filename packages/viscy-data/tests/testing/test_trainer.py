"""quiet_trainer: one CPU device, no logger, checkpoints, progress bar or summary; overridable."""

import sys

import pytest
from lightning.pytorch.loggers import CSVLogger

from viscy_data.testing import QUIET_TRAINER_DEFAULTS, quiet_trainer


def test_defaults_are_quiet_and_on_one_cpu_device(tmp_path):
    trainer = quiet_trainer(default_root_dir=tmp_path)
    assert trainer.logger is None and trainer.loggers == []
    assert trainer.checkpoint_callback is None and trainer.progress_bar_callback is None
    assert not any(type(c).__name__.endswith("ModelSummary") for c in trainer.callbacks)
    assert type(trainer.accelerator).__name__ == "CPUAccelerator" and trainer.num_devices == 1
    assert trainer.default_root_dir == str(tmp_path)
    assert set(QUIET_TRAINER_DEFAULTS) == {
        "accelerator", "devices", "logger", "enable_checkpointing", "enable_progress_bar",
        "enable_model_summary", "use_distributed_sampler",
    }  # fmt: skip


def test_overrides_win(tmp_path):
    trainer = quiet_trainer(
        default_root_dir=tmp_path,
        max_epochs=3,
        logger=CSVLogger(tmp_path),
        enable_checkpointing=True,
        enable_model_summary=True,
    )
    assert trainer.max_epochs == 3 and isinstance(trainer.logger, CSVLogger)
    assert trainer.checkpoint_callback is not None
    # Lightning picks RichModelSummary when rich is installed (geff brings it in).
    assert any(type(c).__name__.endswith("ModelSummary") for c in trainer.callbacks)


def test_without_lightning_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning", None)  # what an absent package looks like
    with pytest.raises(ImportError, match=r"quiet_trainer needs Lightning.*pip install lightning"):
        quiet_trainer()
