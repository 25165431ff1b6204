"""`dynaclr fit` on NaN pixels stops at the first step, names the cells, saves nothing NaN."""

import re

import numpy as np
import torch
import zarr

from dynaclr.cli import main, packaged_config
from dynaclr.demo import write_demo_dataset
from dynaclr.registry import ExperimentRegistry
from viscy_data.readers import read_plate


def test_nan_pixels_stop_fit_naming_experiment_fov_frames_and_channel(tmp_path, capsys):
    yaml_path = write_demo_dataset(tmp_path / "data", n_frames=5, image_size=64, cells_per_fov=3,
                                   cell_radius=5.0)  # fmt: skip
    registry = ExperimentRegistry.from_yaml(yaml_path)
    experiment = next(e for e in registry.experiments if e.name != "demo1_TOMM20")  # trained on
    fov = read_plate(experiment.data_path).fovs[0]
    pixels = zarr.open_array(f"{fov.store_path}/{fov.fov_name}/0", mode="r+")
    frames = np.zeros(pixels.shape, dtype=bool)
    frames[1:3, 0] = np.random.default_rng(0).random(frames[1:3, 0].shape) < 0.01  # 1% NaN
    block = pixels[...]
    block[frames] = np.nan
    pixels[...] = block
    run = tmp_path / "run"
    status = main([
        "fit", "--config", str(packaged_config("demo_fit.yml")),
        f"--data.experiments_yaml={yaml_path}", "--data.num_workers=0", "--data.batch_size=16",
        "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={run}",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert "Traceback" not in captured.err and "dynaclr: done." not in captured.out
    message = captured.err
    assert re.search(r"non-finite training loss \(nan\) at global step \d+ \(epoch", message)
    assert f"experiment {experiment.name!r}, FOV {fov.fov_name!r}" in message
    assert re.search(r"frames \[[12](, 2)?\]", message), message
    assert f"channel {experiment.source_channel[0]!r}" in message
    for path in run.rglob("*.ckpt"):  # whatever was saved holds finite weights only
        state = torch.load(path, weights_only=False)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
