"""What `dynaclr fit` shows: the index summary, online evaluation, pictures and next steps."""

import csv
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from dynaclr.cli import main, packaged_config
from dynaclr.demo import write_demo_dataset


def test_fit_shows_index_evaluation_pictures_and_next_commands(tmp_path, capsys):
    yaml_path = write_demo_dataset(tmp_path / "data", n_frames=5, image_size=64, cells_per_fov=3,
                                   cell_radius=5.0)  # fmt: skip
    overlay = tmp_path / "evaluate.yml"
    callbacks = [
        {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
         "init_args": {"monitor": "loss/val", "save_last": True}},
        {"class_path": "dynaclr.evaluate.OnlineEvaluation",
         "init_args": {"every_n_epochs": 1, "labels": ["infected", "nope"]}},
    ]  # fmt: skip
    overlay.write_text(yaml.safe_dump({"trainer": {"callbacks": callbacks}}))
    run = tmp_path / "run"
    status = main([
        "fit", "--config", str(packaged_config("demo_fit.yml")), "--config", str(overlay),
        f"--data.experiments_yaml={yaml_path}", "--data.num_workers=0", "--data.batch_size=16",
        "--trainer.max_epochs=2", "--trainer.limit_train_batches=2",
        "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={run}",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "dynaclr: fit index:" in err and "MultiExperimentIndex:" in err  # INFO is shown
    assert "validation cells (never trained on), after epoch 1" in out
    assert "linear probe of infected: " in out and "nope: not probed (no such column)" in out
    images = Path(out.split("images:", 1)[1].split()[0])
    pngs = sorted(p.name for p in images.glob("*.png"))
    assert "train_epoch000.png" in pngs and "val_epoch001.png" in pngs
    assert np.asarray(Image.open(images / "train_epoch000.png")).std() > 10
    rows = list(csv.DictReader(open(images.parent / "metrics.csv")))
    logged = [r for r in rows if r.get("eval/probe/infected")]
    assert len(logged) == 2 and 0 <= float(logged[-1]["eval/probe/infected"]) <= 1
    assert "eval/temporal_smoothness" in rows[0] and "eval/effective_rank" in rows[0]
    assert "dynaclr predict --config " in out and "dynaclr evaluate " in out
