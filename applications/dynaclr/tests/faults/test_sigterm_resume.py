"""A run stopped by SIGTERM mid-epoch and resumed from its last checkpoint sees every batch once.

Lightning 2.6 turns SIGTERM into a clean stop: the running step finishes, then
``SIGTERMException`` (a ``SystemExit``) ends ``fit``; ``ModelCheckpoint(save_on_exception=True,
save_last=True)`` writes ``last.ckpt`` on the way out. Without such a callback nothing is saved.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynaclr.demo import write_identity_dataset

from ..identity_runs import Recorder, identity_datamodule, identity_trainer

SCRIPT = Path(__file__).with_name("sigterm_fit.py")


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"the fit never reached the stop step:\n{err[-3000:]}")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigterm_mid_epoch_then_resume_continues_the_same_batches(tmp_path):
    yaml_path = write_identity_dataset(tmp_path / "data")
    full = Recorder()
    run = identity_trainer(tmp_path / "full")
    run.fit(full, datamodule=identity_datamodule(yaml_path))
    steps_per_epoch = run.num_training_batches
    assert len(full.records) == 2 * steps_per_epoch >= 6
    stop = steps_per_epoch + 1  # inside the second epoch

    out = tmp_path / "interrupted"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(yaml_path), str(out), str(stop)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    _wait_for(out / "batches.jsonl.ready", proc, timeout=120)
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert "fit returned normally" not in stdout, "SIGTERM must stop fit early"
    seen = [json.loads(line) for line in (out / "batches.jsonl").read_text().splitlines()]
    assert [step for _, step, _ in seen] == list(range(stop + 1)), "the signalled step finishes"
    last = out / "ckpt" / "last.ckpt"
    assert last.is_file(), f"no checkpoint on SIGTERM; stderr:\n{stderr[-3000:]}"

    resumed = Recorder()
    identity_trainer(tmp_path / "resumed").fit(
        resumed, datamodule=identity_datamodule(yaml_path), ckpt_path=last
    )
    assert [step for _, step, _ in resumed.records][0] == stop + 1, "no repeated or skipped step"
    assert seen + resumed.records == full.records
