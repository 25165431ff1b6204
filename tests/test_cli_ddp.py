"""`dynaclr fit` scales out: 2-process DDP on CPU with NTXentHCL gathering across ranks."""

import subprocess
import sys

import pytest
import torch
import yaml


@pytest.mark.slow
def test_dynaclr_fit_ddp_two_ranks(tmp_path, demo_yaml):
    metrics = tmp_path / "run" / "metrics.csv"
    cmd = [
        sys.executable,
        "-m",
        "dynaclr.cli",
        "fit",
        f"--data.experiments_yaml={demo_yaml}",
        "--trainer.accelerator=cpu",
        "--trainer.strategy=ddp",
        "--trainer.devices=2",
        "--trainer.max_epochs=2",
        "--trainer.limit_train_batches=3",
        "--trainer.limit_val_batches=2",
        "--trainer.enable_progress_bar=false",
        "--model.loss_function.init_args.gather_distributed=true",
        "--data.num_workers=1",
        "--data.batch_size=16",
        f"--trainer.default_root_dir={tmp_path / 'run'}",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={tmp_path / 'run'}",
        "--trainer.logger.name=",
        "--trainer.logger.version=",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=420, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "dynaclr: done." in proc.stdout
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["model"]["loss_function"]["init_args"]["gather_distributed"] is True
    checkpoint = torch.load(next((tmp_path / "run").rglob("last.ckpt")), weights_only=False)
    # 2 epochs x 3 batches on each rank: both ranks stepped together (a mismatch would hang).
    assert checkpoint["global_step"] == 6
    assert metrics.is_file() and "loss/train_epoch" in metrics.read_text()
