"""The demo trained and embedded on a CUDA device (skipped without one): pinned batches from the
reader thread, transforms on the GPU, finite loss, and the same embeddings as on the CPU."""

import contextlib
import io
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch

from dynaclr.cli import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _run(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return out.getvalue()


def _printed(text: str, label: str) -> Path:
    match = re.search(rf"{label}:\s+(\S+)", text)
    assert match, f"{label} not printed in:\n{text}"
    return Path(match.group(1))


def test_demo_fits_and_predicts_on_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNACLR_CACHE", str(tmp_path / "cache"))
    text = _run([
        "fit", "--trainer.accelerator=gpu", "--trainer.devices=1", "--trainer.max_epochs=2",
        "--data.num_workers=2", "--data.pin_memory=true", "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path / 'run'}",
    ])  # fmt: skip
    checkpoint = _printed(text, "checkpoint")
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert state["global_step"] > 0
    assert all(
        torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point()
    )
    scores = [
        value["best_model_score"]
        for key, value in state["callbacks"].items()
        if key.startswith("ModelCheckpoint")
    ]
    assert scores and all(torch.isfinite(score) for score in scores), "validation loss is finite"
    config = _printed(text, "config")
    outputs = {}
    for device in ("gpu", "cpu"):
        root = tmp_path / f"predict-{device}"
        _run([
            "predict", f"--config={config}", f"--ckpt_path={checkpoint}",
            f"--trainer.accelerator={device}", "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={root}",
        ])  # fmt: skip
        outputs[device] = ad.read_zarr(root / "embeddings.zarr")
    gpu, cpu = outputs["gpu"], outputs["cpu"]
    assert gpu.n_obs == cpu.n_obs > 0
    for column in ("experiment", "fov_name", "track_id", "t"):
        assert gpu.obs[column].tolist() == cpu.obs[column].tolist()
    # cuDNN convolutions use TF32 by default: close, not equal (seen: max |diff| 0.006 on H200).
    cosine = (gpu.X * cpu.X).sum(1) / np.linalg.norm(gpu.X, axis=1) / np.linalg.norm(cpu.X, axis=1)
    assert cosine.min() > 0.999, f"GPU and CPU embeddings differ: min cosine {cosine.min():.5f}"
    assert np.abs(gpu.X - cpu.X).max() < 0.05
