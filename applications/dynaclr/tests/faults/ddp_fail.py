"""Run by test_ddp_failure.py: a 2-process gloo fit in which rank FAIL_RANK's loader raises.

Usage: python ddp_fail.py EXPERIMENTS_YAML OUT_DIR FAIL_RANK

The failing rank's dataset raises ``OSError("injected read failure on rank R")`` when it
starts its third training batch (in the loader reader thread); the other rank is then waiting
in a collective. The run must end (non-zero exit) instead of hanging.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
import identity_runs  # noqa: E402

from dynaclr.datamodule import MultiExperimentDataModule  # noqa: E402


class FailingDataModule(MultiExperimentDataModule):
    """Makes one rank's training reads fail from the third batch on."""

    fail_rank = 1

    def setup(self, stage=None):
        super().setup(stage)
        if self.trainer.global_rank != self.fail_rank or self.train_dataset is None:
            return
        start = self.train_dataset.start_batch
        calls = []

        def failing(positions):
            calls.append(len(positions))
            if len(calls) >= 3:
                raise OSError(f"injected read failure on rank {self.trainer.global_rank}")
            return start(positions)

        self.train_dataset.start_batch = failing


def main(yaml_path: str, out_dir: str, fail_rank: int) -> None:
    FailingDataModule.fail_rank = fail_rank
    dm = FailingDataModule(yaml_path, **{**identity_runs.DATAMODULE_ARGS, "batch_size": 4})
    trainer = identity_runs.identity_trainer(out_dir, devices=2, strategy="ddp", max_epochs=3)
    trainer.fit(identity_runs.Recorder(), datamodule=dm)
    print(f"rank {trainer.global_rank}: fit returned normally", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
