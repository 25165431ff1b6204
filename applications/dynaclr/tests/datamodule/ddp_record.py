"""Run by test_ddp.py: 2-process gloo fit that records each rank's training batches.

Usage: python ddp_record.py EXPERIMENTS_YAML OUT_DIR
"""

import json
import sys
from pathlib import Path

import lightning.pytorch as pl

sys.path.insert(0, str(Path(__file__).parent))
from conftest import RecordingModule  # noqa: E402

from dynaclr.datamodule import MultiExperimentDataModule  # noqa: E402


def main(yaml_path: str, out_dir: str) -> None:
    dm = MultiExperimentDataModule(
        yaml_path,
        z_range=(0, 2),
        yx_patch_size=(16, 16),
        final_yx_patch_size=(16, 16),
        val_experiments=["identity1"],
        tau_range=(0.5, 1.5),
        batch_size=4,
        num_workers=1,
        seed=3,
    )
    model = RecordingModule()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        default_root_dir=out_dir,
    )
    trainer.fit(model, datamodule=dm)
    record = {
        "train": model.train_batches,
        "val": model.val_batches,
        "global_step": trainer.global_step,
    }
    Path(out_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
