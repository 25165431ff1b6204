"""Training stops at the first non-finite loss, and no checkpoint holds non-finite weights."""

import math

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from viscy_data.testing import quiet_trainer
from viscy_models import NonFiniteInputError, NonFiniteLossError

from . import _viscy_models_engine_helpers as helpers


class _NanAt(torch.nn.Module):
    """NTXent-like loss that turns NaN (with finite inputs) from call ``at`` on."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, projections, labels):
        self.calls += 1
        loss = projections.pow(2).mean()
        return loss * math.nan if self.calls > self.at else loss


def _weights(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _all_finite(state) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_a_diverging_loss_stops_fit_before_the_step_and_keeps_checkpoints_finite(tmp_path):
    module = helpers.make_module(loss_function=_NanAt(3), example_input_array_shape=None)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=1)
    trainer = quiet_trainer(
        default_root_dir=tmp_path, max_epochs=3, callbacks=[checkpoints], enable_checkpointing=True
    )
    loader = DataLoader(helpers.PairDataset(32), batch_size=8)
    with pytest.raises(
        NonFiniteLossError,
        match=r"non-finite training loss \(nan\) at global "
        r"step 3 \(epoch 0, batch 3\), with finite inputs: training diverged",
    ):
        trainer.fit(module, loader)  # fmt: skip
    assert _all_finite(module.state_dict())  # the NaN step never reached the optimizer
    saved = sorted((tmp_path / "ckpt").glob("*.ckpt"))
    assert saved, "the steps before the NaN were checkpointed"
    for path in saved:
        assert _all_finite(torch.load(path, weights_only=False)["state_dict"]), path


def test_non_finite_pixels_are_a_data_error(tmp_path):
    module = helpers.make_module(example_input_array_shape=None)
    data = helpers.PairDataset(16)
    data.cells[5, 1, 0, 3, 3] = math.nan
    trainer = quiet_trainer(default_root_dir=tmp_path, max_epochs=1)
    # the loss is NaN; this trainer has no datamodule to name the cells, so "diverged"
    with pytest.raises(NonFiniteLossError, match="non-finite training loss"):
        trainer.fit(module, DataLoader(data, batch_size=8))
    assert issubclass(NonFiniteInputError, ValueError)


def test_a_checkpoint_with_non_finite_weights_is_not_written(tmp_path):
    module = helpers.make_module(example_input_array_shape=None)
    trainer = quiet_trainer(default_root_dir=tmp_path, max_steps=1)
    trainer.fit(module, DataLoader(helpers.PairDataset(8), batch_size=8))
    before = _weights(module)
    with torch.no_grad():
        next(module.encoder.parameters()).view(-1)[0] = math.inf
    target = tmp_path / "bad.ckpt"
    with pytest.raises(NonFiniteLossError, match=r"1 of \d+ weight tensors hold NaN or infinite"):
        trainer.save_checkpoint(target)
    assert not target.exists()
    assert set(before) == set(_weights(module))


def test_the_check_can_be_switched_off_to_measure_it(tmp_path):
    module = helpers.make_module(loss_function=_NanAt(0), check_finite=False,
                                 example_input_array_shape=None)  # fmt: skip
    trainer = quiet_trainer(default_root_dir=tmp_path, max_steps=2, enable_checkpointing=False)
    trainer.fit(module, DataLoader(helpers.PairDataset(16), batch_size=8))
    assert not _all_finite(module.state_dict())  # what the check prevents
