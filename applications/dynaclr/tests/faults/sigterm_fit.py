"""Run by test_sigterm_resume.py: a fit that waits for SIGTERM at a given step.

Usage: python sigterm_fit.py EXPERIMENTS_YAML OUT_DIR STOP_STEP

Records every training batch to OUT_DIR/batches.jsonl; at STOP_STEP it writes
OUT_DIR/batches.jsonl.ready and waits until the trainer has received SIGTERM. Lightning then
finishes the step, raises SIGTERMException, and ModelCheckpoint(save_on_exception=True)
writes OUT_DIR/ckpt/last.ckpt.
"""

import sys
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint

sys.path.insert(0, str(Path(__file__).parents[1]))
import identity_runs  # noqa: E402


def main(yaml_path: str, out_dir: str, stop_step: int) -> None:
    checkpoint = ModelCheckpoint(dirpath=Path(out_dir, "ckpt"), save_last=True,
                                 save_on_exception=True)  # fmt: skip
    model = identity_runs.Recorder(log_path=str(Path(out_dir, "batches.jsonl")),
                                   wait_for_sigterm_at=stop_step)  # fmt: skip
    trainer = identity_runs.identity_trainer(out_dir, callbacks=[checkpoint],
                                             enable_checkpointing=True)  # fmt: skip
    trainer.fit(model, datamodule=identity_runs.identity_datamodule(yaml_path))
    print("fit returned normally", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
