"""ContrastiveModule in real lightning.Trainer runs on CPU."""

import importlib.util
import json
import math
import socket
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import yaml
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.model_summary import ModelSummary
from torch.utils.data import DataLoader

from viscy_data.testing import quiet_trainer
from viscy_models import ContrastiveEncoder, ContrastiveModule, NTXentHCL

_HELPERS = Path(__file__).with_name("_viscy_models_engine_helpers.py")
_spec = importlib.util.spec_from_file_location(_HELPERS.stem, _HELPERS)
helpers = sys.modules.setdefault(_HELPERS.stem, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(helpers)

METRICS = (
    "similarity/positive",
    "similarity/negative",
    "similarity/margin",
    "negatives_per_anchor",
)


def _trainer(tmp_path, **kwargs) -> L.Trainer:
    """A quiet trainer that logs to CSV and shows the model summary unless told otherwise."""
    defaults = {"logger": CSVLogger(tmp_path, name="csv"), "enable_model_summary": True}
    return quiet_trainer(default_root_dir=tmp_path, **{**defaults, **kwargs})


class StepLosses(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(outputs["loss"].item())


def test_fast_dev_run_fits_validates_and_predicts(tmp_path):
    module = helpers.make_module()
    trainer = _trainer(tmp_path, fast_dev_run=2)
    train, val = helpers.PairDataset(16), helpers.PairDataset(8, seed=1)
    trainer.fit(module, DataLoader(train, batch_size=4), DataLoader(val, batch_size=4))
    metrics = trainer.callback_metrics
    for key in ["loss/train_step", "loss/train_epoch", "loss/val"]:
        assert math.isfinite(metrics[key].item()), key
    for stage in ("train", "val"):
        for name in METRICS:
            assert f"{name}/{stage}" in metrics
        assert metrics[f"negatives_per_anchor/{stage}"].item() == 6.0  # 2 * 4 - 2
    torch.testing.assert_close(
        metrics["similarity/margin/val"],
        metrics["similarity/positive/val"] - metrics["similarity/negative/val"],
    )
    predictions = trainer.predict(module, DataLoader(val, batch_size=4))
    assert [p["index"].tolist() for p in predictions] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert predictions[0]["features"].shape == (4, 320)
    assert predictions[0]["projections"].shape == (4, 32)


def test_training_loss_goes_down(tmp_path):
    L.seed_everything(0, verbose=False)
    steps = StepLosses()
    trainer = _trainer(tmp_path, max_epochs=4, callbacks=[steps], enable_model_summary=False)
    module = helpers.make_module(lr=2e-3)
    trainer.fit(module, DataLoader(helpers.PairDataset(32), batch_size=8, shuffle=True))
    first, last = sum(steps.losses[:3]) / 3, sum(steps.losses[-3:]) / 3
    assert len(steps.losses) == 16
    assert last < 0.5 * first, steps.losses


def test_images_go_to_image_loggers_and_csv_is_skipped(tmp_path):
    recorder, board = helpers.ImageRecorder(), helpers.BoardRecorder()
    csv = CSVLogger(tmp_path, name="csv")
    module = helpers.make_module(log_batches_per_epoch=2, log_samples_per_batch=2)
    trainer = _trainer(tmp_path, max_epochs=2, logger=[csv, recorder, board])
    train, val = helpers.PairDataset(24), helpers.PairDataset(12, seed=1)
    trainer.fit(module, DataLoader(train, batch_size=4), DataLoader(val, batch_size=4))
    # 2 batches x 2 samples = 4 rows of 34 px; anchor then positive, 2 channels each.
    expected = (4 * 34 - 2, 4 * 34 - 2)
    keys = [key for key, _, _ in recorder.images]
    assert keys == ["images/val", "images/train"] * 2  # per epoch; no sanity-check images
    assert all(
        image.shape == expected and image.dtype.name == "uint8" for _, image, _ in recorder.images
    )
    assert [(tag, img.shape, fmt) for tag, img, _, fmt in board.experiment.images] == [
        (key, (1, *expected), "CHW") for key in keys
    ]
    # The first train grid's top-left tile is anchor 0's middle Z slice (of 3), channel 0.
    tile = torch.from_numpy(recorder.images[1][1][:32, :32]).float().flatten()
    middle, top = train[0]["anchor"][0, 1].flatten(), train[0]["anchor"][0, 0].flatten()
    assert torch.corrcoef(torch.stack([tile, middle]))[0, 1] > 0.98
    assert torch.corrcoef(torch.stack([tile, top]))[0, 1].abs() < 0.3
    csv_rows = (Path(csv.log_dir) / "metrics.csv").read_text()
    assert "loss/train_epoch" in csv_rows and "similarity/margin/val" in csv_rows


def test_with_only_the_csv_logger_images_become_png_files_in_the_run_folder(tmp_path):
    from PIL import Image

    csv = CSVLogger(tmp_path, name="csv")
    module = helpers.make_module(log_batches_per_epoch=2, log_samples_per_batch=2)
    trainer = _trainer(tmp_path, max_epochs=2, logger=[csv])
    train, val = helpers.PairDataset(24), helpers.PairDataset(12, seed=1)
    trainer.fit(module, DataLoader(train, batch_size=4), DataLoader(val, batch_size=4))
    folder = Path(csv.log_dir) / "images"
    names = sorted(p.name for p in folder.glob("*.png"))
    assert names == ["train_epoch000.png", "train_epoch001.png", "val_epoch000.png",
                     "val_epoch001.png"]  # fmt: skip
    # 32 px tiles enlarged 3x to reach 96 px: 4 rows and 4 tiles of (32 + 2) px, less a gap
    pixels = np.asarray(Image.open(folder / "train_epoch000.png"))
    assert pixels.shape == (3 * (4 * 34 - 2), 3 * (4 * 34 - 2)) and pixels.std() > 10
    tile = torch.from_numpy(pixels[:96:3, :96:3].astype(np.float32)).flatten()
    middle = train[0]["anchor"][0, 1].flatten()  # anchor 0, channel 0, middle Z slice
    assert torch.corrcoef(torch.stack([tile, middle]))[0, 1] > 0.98


def test_example_input_array_feeds_the_model_summary():
    module = helpers.make_module(example_input_array_shape=(2, *helpers.SHAPE))
    assert module.example_input_array.shape == (2, *helpers.SHAPE)
    summary = ModelSummary(module, max_depth=1)
    assert summary.in_sizes[summary.layer_names.index("encoder")] == [2, *helpers.SHAPE]
    assert helpers.make_module(example_input_array_shape=None).example_input_array is None


def test_example_input_shape_must_match_the_encoder():
    with pytest.raises(ValueError, match=r"\(1, 2, 15, 256, 256\) does not match .* use "
                       r"\(1, 2, 3, 256, 256\) or None"):  # fmt: skip
        helpers.make_module(example_input_array_shape=(1, 2, 15, 256, 256))
    with pytest.raises(ValueError, match=r"must be \(B, C, Z, Y, X\), got \(2, 3, 32, 32\)"):
        helpers.make_module(example_input_array_shape=helpers.SHAPE)


def test_hyperparameters_exclude_modules_and_default_loss_is_fresh():
    first, second = helpers.make_module(loss_function=None), helpers.make_module(loss_function=None)
    assert set(first.hparams) == {
        "lr", "log_batches_per_epoch", "log_samples_per_batch", "example_input_array_shape",
        "ckpt_path", "check_finite",
    }  # fmt: skip
    assert isinstance(first.loss_function, NTXentHCL)
    assert first.loss_function is not second.loss_function
    optimizer = first.configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["lr"] == 1e-3


@pytest.mark.parametrize(("name", "value"), [("lr", 0.0), ("log_samples_per_batch", -1)])
def test_rejects_bad_settings(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be"):
        helpers.make_module(**{name: value})


def test_ckpt_path_loads_encoder_weights(tmp_path):
    trained = helpers.make_module()
    trainer = _trainer(tmp_path, max_steps=1, enable_model_summary=False)
    trainer.fit(trained, DataLoader(helpers.PairDataset(8), batch_size=4))
    ckpt = tmp_path / "trained.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = helpers.make_module(ckpt_path=ckpt)
    assert loaded.hparams.ckpt_path == str(ckpt)
    for key, value in trained.encoder.state_dict().items():
        torch.testing.assert_close(loaded.encoder.state_dict()[key], value, msg=key)
    restored = ContrastiveModule.load_from_checkpoint(ckpt, encoder=helpers.make_module().encoder)
    assert restored.hparams.example_input_array_shape == (1, *helpers.SHAPE)
    torch.testing.assert_close(restored.encoder.stem.weight, trained.encoder.stem.weight)
    plain = tmp_path / "encoder.pt"
    torch.save(trained.encoder.state_dict(), plain)
    weight = helpers.make_module(ckpt_path=plain).encoder.stem.weight
    torch.testing.assert_close(weight, trained.encoder.stem.weight)


def test_mismatched_checkpoint_lists_missing_and_unexpected_keys(tmp_path):
    other = ContrastiveEncoder("resnet10t", 2, 3, (3, 2, 2), (3, 2, 2), 512, 32)
    ckpt = tmp_path / "other.pt"
    torch.save({"state_dict": {f"encoder.{k}": v for k, v in other.state_dict().items()}}, ckpt)
    message = r"Missing keys: \d+ \[.*stages.*; unexpected keys: \d+ \[.*layer1.*mismatch.*stem"
    with pytest.raises(ValueError, match=message):
        helpers.make_module(ckpt_path=ckpt)
    with pytest.raises(FileNotFoundError, match=r"ckpt_path='.*missing.ckpt' does not exist"):
        helpers.make_module(ckpt_path=tmp_path / "missing.ckpt")


def test_triplet_loss_encodes_the_negative():
    module = helpers.make_module(loss_function=torch.nn.TripletMarginLoss())
    data = helpers.PairDataset(8)
    batch = {"anchor": data.cells[:4], "positive": data.cells[:4], "negative": data.cells[4:]}
    loss = module.training_step(batch, 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    del batch["negative"]
    with pytest.raises(ValueError, match=r"TripletMarginLoss, which needs batch\['negative'\]"):
        module.training_step(batch, 0)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ddp_two_ranks_log_the_same_metrics(tmp_path, monkeypatch):
    """Two gloo ranks fit 2 epochs (no fast_dev_run): no hang, identical synced metrics."""
    monkeypatch.syspath_prepend(str(_HELPERS.parent))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    context = mp.start_processes(
        helpers.run_ddp_rank, args=(2, port, str(tmp_path)), nprocs=2, join=False,
        start_method="spawn",
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("DDP ranks did not finish within 240 s")
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["metrics"].keys() == ranks[1]["metrics"].keys()
    for key, value in ranks[0]["metrics"].items():
        assert value == pytest.approx(ranks[1]["metrics"][key], rel=1e-6), key
    assert ranks[0]["metrics"]["negatives_per_anchor/train"] == 6.0  # local batch of 4 pairs
    # Each rank saw 2 train batches per epoch (16 items / 2 ranks / 4), 1 sample each.
    assert [key for key, _ in ranks[0]["images"]] == ["images/val", "images/train"] * 2


def test_cpu_config_in_the_docs_builds_and_trains_a_step():
    """The YAML of docs/viscy-models.md goes through jsonargparse as LightningCLI would."""
    from jsonargparse import ArgumentParser

    docs = Path(__file__).resolve().parents[4] / "docs" / "viscy-models.md"
    config = yaml.safe_load(docs.read_text().split("```yaml\n")[1].split("```")[0])
    assert config["model"]["class_path"] == "viscy_models.ContrastiveModule"
    parser = ArgumentParser()
    parser.add_class_arguments(ContrastiveModule, "model")
    module = parser.instantiate(parser.parse_object({"model": config["model"]["init_args"]})).model
    assert module.loss_function.beta == 0.5 and module.encoder.backbone_name == "convnext_atto"
    cells = torch.randn(8, *module.example_input_array.shape[1:])
    loss = module.training_step({"anchor": cells[:4], "positive": cells[4:]}, 0)
    loss.backward()
    assert torch.isfinite(loss) and module.encoder.stem.weight.grad is not None
