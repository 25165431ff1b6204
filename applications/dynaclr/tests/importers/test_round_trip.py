"""CTC import -> preprocess -> index -> datamodule -> three normalized training steps."""

import torch

from dynaclr import ExperimentRegistry, MultiExperimentDataModule, MultiExperimentIndex
from dynaclr.importers import import_ctc
from viscy_data.normalization import preprocess_plate
from viscy_data.testing import quiet_trainer
from viscy_data.transforms import Normalize
from viscy_models import ContrastiveEncoder, ContrastiveModule

from .ctc_data import write_irregular, write_simple


def test_imported_sequences_train_for_three_steps(tmp_path):
    summary = import_ctc(
        [write_irregular(tmp_path), write_simple(tmp_path)],
        tmp_path / "data" / "ctc.zarr",
        interval_minutes=30,
        conditions=["mock", "infected"],
    )
    preprocess_plate(tmp_path / "data" / "ctc.zarr", num_workers=0)  # the tutorial's next step
    registry = ExperimentRegistry.from_yaml(summary.experiments_yaml)
    index = MultiExperimentIndex(registry, (0, 1), (32, 32), (0.5, 1.0))
    assert index.tracks.height == summary.counts.observations
    dm = MultiExperimentDataModule(
        summary.experiments_yaml,
        z_range=(0, 1),
        yx_patch_size=(32, 32),
        final_yx_patch_size=(32, 32),
        tau_range=(0.5, 1.0),
        batch_size=4,
        num_workers=1,
        channel_dropout_channels=(),
        pin_memory=False,
        normalizations=[Normalize(level="fov_statistics")],
    )
    # one channel, one z slice, 4x4 stem: (backbone, in_channels, depth, kernel, stride, 512, 16)
    encoder = ContrastiveEncoder("resnet10t", 1, 1, (1, 4, 4), (1, 4, 4), 512, 16)
    model = ContrastiveModule(encoder, example_input_array_shape=None)
    trainer = quiet_trainer(default_root_dir=tmp_path, max_steps=3, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())
