"""Run by test_ddp.py: 2-process gloo fit that records each rank's training batches.

Usage: python ddp_record.py EXPERIMENTS_YAML OUT_DIR
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
import identity_runs  # noqa: E402

from viscy_data.testing import quiet_trainer  # noqa: E402


def main(yaml_path: str, out_dir: str) -> None:
    dm = identity_runs.identity_datamodule(
        yaml_path, yx_patch_size=(16, 16), batch_size=4, num_workers=1, seed=3,
        channel_dropout_prob=0.5,
    )  # fmt: skip
    model = identity_runs.Recorder()
    trainer = quiet_trainer(default_root_dir=out_dir, devices=2, strategy="ddp", max_epochs=2,
                            num_sanity_val_steps=0)  # fmt: skip
    trainer.fit(model, datamodule=dm)
    record = {
        "train": model.records,
        "val": model.val_records,
        "global_step": trainer.global_step,
    }
    Path(out_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
