"""Training and prediction never modify their inputs: stores, tracks and the experiments YAML.

Checksums, sizes and modification times of every file (and the list of files and folders) of
the input tree are compared before and after a fit with validation and checkpoints, and a
prediction pass over every observation. Stores are opened read-only (tensorstore
``read=True``, zarr ``mode="r"``), so nothing (no lock, cache or index file) appears there.
"""

import re

import pytest

from dynaclr.demo import write_demo_dataset, write_identity_dataset
from viscy_data.testing import tree_digest

from ..identity_runs import Recorder, identity_datamodule, identity_trainer


@pytest.mark.timeout(90)
@pytest.mark.filterwarnings("ignore:.*custom batch sampler")
@pytest.mark.parametrize("layout", ["0.4", "0.5-sharded"])
def test_fit_and_predict_leave_the_input_tree_untouched(tmp_path, layout):
    data = tmp_path / "data"
    sharded = dict(version="0.5", chunks=(1, 1, 1, 32, 32), shards=(2, 1, 2, 64, 64))
    yaml_path = write_identity_dataset(data, **(sharded if layout != "0.4" else {}))
    before = tree_digest(data)
    assert any(path.endswith("tracks.csv") for path in before) and len(before) > 20

    run = identity_trainer(tmp_path / "out", limit_train_batches=3, limit_val_batches=2,
                           enable_checkpointing=True)  # fmt: skip
    run.fit(Recorder(), datamodule=identity_datamodule(yaml_path))
    assert run.checkpoint_callback.best_model_path.startswith(str(tmp_path / "out"))
    dm = identity_datamodule(yaml_path)
    predictions = identity_trainer(tmp_path / "out").predict(Recorder(), datamodule=dm)
    assert sum(len(p) for p in predictions) == dm.predict_dataset.index.tracks.height

    assert tree_digest(data) == before


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_dynaclr_fit_and_predict_leave_the_input_tree_untouched(tmp_path, capsys):
    from dynaclr.cli import main, packaged_config

    data = tmp_path / "data"
    yaml_path = write_demo_dataset(data, n_frames=6, image_size=64, cells_per_fov=3,
                                   cell_radius=5.0)  # fmt: skip
    before = tree_digest(data)
    common = [
        "--config", str(packaged_config("demo_fit.yml")), f"--data.experiments_yaml={yaml_path}",
        "--data.num_workers=1", "--data.batch_size=16", "--trainer.enable_progress_bar=false",
    ]  # fmt: skip
    fit = [
        "fit",
        *common,
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        f"--trainer.default_root_dir={tmp_path / 'run'}",
    ]
    assert main(fit) == 0
    checkpoint = re.search(r"checkpoint:\s+(\S+)", capsys.readouterr().out).group(1)
    predict = ["predict", *common, "--ckpt_path", checkpoint,
               f"--trainer.default_root_dir={tmp_path / 'predict'}"]  # fmt: skip
    assert main(predict) == 0
    assert (tmp_path / "predict" / "embeddings.zarr").is_dir()
    assert tree_digest(data) == before
