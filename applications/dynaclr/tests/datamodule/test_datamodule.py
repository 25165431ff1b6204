"""MultiExperimentDataModule: splits, transforms order, epochs, validation, resume."""

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from dynaclr.datamodule import MultiExperimentDataModule
from viscy_data.transforms import Normalize

from .conftest import Interrupted


def _datamodule(yaml_path, **kwargs) -> MultiExperimentDataModule:
    args = dict(
        z_range=(0, 2),
        yx_patch_size=(24, 24),
        final_yx_patch_size=(16, 16),
        val_experiments=["identity1"],
        tau_range=(0.5, 1.5),
        batch_size=6,
        num_workers=2,
        channel_dropout_prob=1.0,
        seed=7,
    )
    args.update(kwargs)
    return MultiExperimentDataModule(yaml_path, **args)


def _trainer(tmp_path, **kwargs) -> pl.Trainer:
    args = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        default_root_dir=tmp_path,
        enable_checkpointing=False,
    )
    args.update(kwargs)
    return pl.Trainer(**args)


def test_split_by_whole_experiments(identity_yaml):
    dm = _datamodule(identity_yaml)
    dm.setup("fit")
    assert set(dm.train_dataset.index.tracks["experiment"]) == {"identity0"}
    assert set(dm.val_dataset.index.tracks["experiment"]) == {"identity1"}
    dm = _datamodule(identity_yaml, val_experiments=[])
    dm.setup("fit")
    assert dm.val_dataset is None and dm.val_dataloader() == []


@pytest.mark.parametrize(
    ("val", "match"),
    [
        (["nope"], r"val_experiments names \['nope'\]"),
        (["identity0", "identity1"], "holds every experiment"),
    ],
)
def test_bad_validation_split(identity_yaml, val, match):
    with pytest.raises(ValueError, match=match):
        _datamodule(identity_yaml, val_experiments=val).setup("fit")


def test_transfer_hook_without_trainer_acts_as_training(identity_yaml):
    dm = _datamodule(identity_yaml, normalizations=[Normalize(level="fov_statistics")])
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    raw = batch["anchor"].clone()
    out = dm.on_after_batch_transfer(batch, 0)
    assert set(out) == {"anchor", "positive"}
    assert out["anchor"].shape == (6, 2, 2, 16, 16)
    # Identity stores carry mean 0 / std 1, so normalization keeps values; crop is central.
    torch.testing.assert_close(out["anchor"][:, 0], raw[:, 0, :, 4:20, 4:20])
    assert torch.all(out["anchor"][:, 1] == 0), "channel dropout (p=1) must apply in training"


def test_epochs_differ_validation_fixed_and_no_dropout_in_validation(
    identity_yaml, tmp_path, recording_module
):
    dm = _datamodule(identity_yaml)
    model = recording_module()
    trainer = _trainer(
        tmp_path, max_epochs=3, limit_train_batches=3, limit_val_batches=2, num_sanity_val_steps=0
    )
    trainer.fit(model, datamodule=dm)
    by_epoch = {e: [ids for ep, ids in model.train_batches if ep == e] for e in range(3)}
    assert all(len(b) == 3 for b in by_epoch.values())
    assert by_epoch[0] != by_epoch[1] != by_epoch[2] != by_epoch[0]
    val = {e: [ids for ep, ids in model.val_batches if ep == e] for e in range(3)}
    assert val[0] == val[1] == val[2] and len(val[0]) == 2
    # Validation anchors come from the held-out experiment (identity index 1).
    assert all(e == 1 for batch in val[0] for e, _, _ in batch)
    assert not model.val_dropped, "channel dropout (p=1) must not apply in validation"


def test_resume_mid_epoch_continues_the_same_batches(identity_yaml, tmp_path, recording_module):
    common = dict(max_epochs=2, limit_val_batches=0, num_sanity_val_steps=0)
    full = recording_module()
    trainer = _trainer(tmp_path / "full", **common)
    trainer.fit(full, datamodule=_datamodule(identity_yaml))
    steps_per_epoch = trainer.num_training_batches
    assert len(full.train_batches) == 2 * steps_per_epoch
    stop = steps_per_epoch + 2  # interrupt inside the second epoch

    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    first = recording_module(fail_at_step=stop)
    with pytest.raises(Interrupted):
        _trainer(tmp_path / "a", callbacks=[ckpt], enable_checkpointing=True, **common).fit(
            first, datamodule=_datamodule(identity_yaml)
        )
    assert len(first.train_batches) == stop
    resumed = recording_module()
    _trainer(tmp_path / "b", **common).fit(
        resumed,
        datamodule=_datamodule(identity_yaml),
        ckpt_path=tmp_path / "ckpt" / f"step={stop}.ckpt",
    )
    assert first.train_batches + resumed.train_batches == full.train_batches


def test_predict_needs_no_valid_anchor(tmp_path):
    """Tracks shorter than the tau range cannot train, but every observation still embeds."""
    from dynaclr.demo import decode_identity, write_identity_dataset

    yaml_path = write_identity_dataset(tmp_path, 1, n_frames=4, divisions=False)
    args = dict(val_experiments=[], tau_range=(8.0, 10.0), num_workers=0, batch_size=4)
    with pytest.raises(ValueError, match=r"No valid anchor"):
        _datamodule(yaml_path, **args).setup("fit")
    dm = _datamodule(yaml_path, **args)
    dm.setup("predict")
    rows, identities = [], set()
    for batch in dm.predict_dataloader():
        rows += batch["index"]["row"]
        centre = batch["anchor"][:, 0, 0, 12, 12].numpy()  # the patch centre is the cell
        identities |= set(zip(*(a.tolist() for a in decode_identity(centre))))
    tracks = dm.predict_dataset.index.tracks
    assert (
        sorted(rows) == list(range(tracks.height)) and tracks.height == 2 * 4 * 4
    )  # wells, cells, frames
    assert identities == {(0, tid, t) for tid, t in tracks.select("track_id", "t").iter_rows()}
