"""MultiExperimentDataModule: splits, transforms order, epochs, validation, resume."""

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from viscy_data.testing import RESUME_POINTS, check_resume
from viscy_data.transforms import Normalize

from ..identity_runs import Interrupted, Recorder, anchor_ids, identity_datamodule, identity_trainer


def test_split_by_whole_experiments(identity_yaml):
    dm = identity_datamodule(identity_yaml)
    dm.setup("fit")
    assert set(dm.train_dataset.index.tracks["experiment"]) == {"identity0"}
    assert set(dm.val_dataset.index.tracks["experiment"]) == {"identity1"}
    dm = identity_datamodule(identity_yaml, val_experiments=[])
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
        identity_datamodule(identity_yaml, val_experiments=val).setup("fit")


def test_transfer_hook_without_trainer_acts_as_training(identity_yaml):
    dm = identity_datamodule(
        identity_yaml, normalizations=[Normalize(level="fov_statistics")], channel_dropout_prob=1.0
    )
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    raw = batch["anchor"].clone()
    out = dm.on_after_batch_transfer(batch, 0)
    assert set(out) == {"anchor", "positive", "rows"}  # rows: for naming non-finite cells
    assert out["anchor"].shape == (6, 2, 2, 16, 16)
    # Identity stores carry mean 0 / std 1, so normalization keeps values; crop is central.
    torch.testing.assert_close(out["anchor"][:, 0], raw[:, 0, :, 4:20, 4:20])
    assert torch.all(out["anchor"][:, 1] == 0), "channel dropout (p=1) must apply in training"


def test_epochs_differ_validation_fixed_and_no_dropout_in_validation(identity_yaml, tmp_path):
    dm = identity_datamodule(identity_yaml, channel_dropout_prob=1.0)
    model = Recorder()
    trainer = identity_trainer(tmp_path, max_epochs=3, limit_train_batches=3, limit_val_batches=2)
    trainer.fit(model, datamodule=dm)
    by_epoch = {e: [ids for ep, _, ids in model.records if ep == e] for e in range(3)}
    assert all(len(b) == 3 for b in by_epoch.values())
    assert by_epoch[0] != by_epoch[1] != by_epoch[2] != by_epoch[0]
    val = {e: [ids for ep, ids in model.val_records if ep == e] for e in range(3)}
    assert val[0] == val[1] == val[2] and len(val[0]) == 2
    # Validation anchors come from the held-out experiment (identity index 1).
    assert all(e == 1 for batch in val[0] for e, _, _ in batch)
    assert not model.val_dropped, "channel dropout (p=1) must not apply in validation"


def test_resume_mid_epoch_continues_the_same_batches(identity_yaml, tmp_path):
    full = Recorder()
    trainer = identity_trainer(tmp_path / "full")
    trainer.fit(full, datamodule=identity_datamodule(identity_yaml))
    steps_per_epoch = trainer.num_training_batches
    assert len(full.records) == 2 * steps_per_epoch
    stop = steps_per_epoch + 2  # interrupt inside the second epoch

    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    first = Recorder(fail_at_step=stop)
    with pytest.raises(Interrupted):
        identity_trainer(tmp_path / "a", callbacks=[ckpt], enable_checkpointing=True).fit(
            first, datamodule=identity_datamodule(identity_yaml)
        )
    assert len(first.records) == stop
    resumed = Recorder()
    identity_trainer(tmp_path / "b").fit(
        resumed,
        datamodule=identity_datamodule(identity_yaml),
        ckpt_path=tmp_path / "ckpt" / f"step={stop}.ckpt",
    )
    assert first.records + resumed.records == full.records


class _FitData:
    """A datamodule as ``fit`` drives it, with no trainer attached: set up for fit, then (after
    any ``load_state_dict``) one training loader, made when its first epoch starts."""

    def __init__(self, yaml_path, **kwargs) -> None:
        self.datamodule = identity_datamodule(yaml_path, **kwargs)
        self.datamodule.setup("fit")
        self.loader = None

    def epoch(self):
        if self.loader is None:
            self.loader = self.datamodule.train_dataloader()
        return iter(self.loader)

    def state_dict(self) -> dict:
        return self.datamodule.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.datamodule.load_state_dict(state)


@pytest.mark.parametrize(
    ("num_workers", "stop"),
    [*((0, stop) for stop in RESUME_POINTS), (2, "middle"), (2, "next-epoch")],
)
def test_resume_contract_without_a_trainer(identity_yaml, num_workers, stop):
    run = check_resume(
        lambda: _FitData(identity_yaml, num_workers=num_workers),
        _FitData.epoch,
        stop_after=stop,
        view=anchor_ids,
    )
    assert len(run) == 2 * 10


def test_predict_needs_no_valid_anchor(tmp_path):
    """Tracks shorter than the tau range cannot train, but every observation still embeds."""
    from dynaclr.demo import write_identity_dataset

    yaml_path = write_identity_dataset(tmp_path, 1, n_frames=4, divisions=False)
    args = dict(val_experiments=[], tau_range=(8.0, 10.0), num_workers=0, batch_size=4)
    with pytest.raises(ValueError, match=r"No valid anchor"):
        identity_datamodule(yaml_path, **args).setup("fit")
    dm = identity_datamodule(yaml_path, **args)
    dm.setup("predict")
    rows, identities = [], set()
    for batch in dm.predict_dataloader():
        rows += batch["index"]["row"]
        identities |= {tuple(ids) for ids in anchor_ids(batch)}  # the patch centre is the cell
    tracks = dm.predict_dataset.index.tracks
    assert (
        sorted(rows) == list(range(tracks.height)) and tracks.height == 2 * 4 * 4
    )  # wells, cells, frames
    assert identities == {(0, tid, t) for tid, t in tracks.select("track_id", "t").iter_rows()}


def test_plate_with_arrays_named_s0_s1_trains(tmp_path):
    """The full-resolution array is multiscales[0].datasets[0].path, whatever its name."""
    from dynaclr.demo import write_identity_dataset

    yaml_path = write_identity_dataset(tmp_path / "data", dataset_paths=("s0", "s1"))
    assert (tmp_path / "data" / "identity0.zarr" / "A/1/0/s1").is_dir()
    dm = identity_datamodule(yaml_path, num_workers=0)
    model = Recorder()
    identity_trainer(tmp_path / "run", max_epochs=1, limit_train_batches=3).fit(model, dm)
    assert [step for _, step, _ in model.records] == [0, 1, 2]
    tracks = dm.train_dataset.index.tracks
    cells = set(tracks.select("track_id", "t").iter_rows())
    for _, _, ids in model.records:
        assert all(e == 0 and (track, t) in cells for e, track, t in ids), ids
