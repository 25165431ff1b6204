"""A 2-rank DDP fit (gloo on CPU) in which one rank's data loading raises fails; nothing hangs.

The failing rank exits with its error; the other rank, waiting in the gradient all-reduce,
sees the closed connection and exits too. The test bounds the run with a timeout and checks
that no process of the run outlives it.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynaclr.demo import write_identity_dataset

SCRIPT = Path(__file__).with_name("ddp_fail.py")


def _survivors(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("fail_rank", [1, 0])
def test_one_rank_failing_to_load_ends_the_whole_run(tmp_path, fail_rank):
    yaml_path = write_identity_dataset(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(yaml_path), str(tmp_path / "run"), str(fail_rank)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=180)
        deadline = time.monotonic() + 10
        while _survivors(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _survivors(proc.pid), "a rank outlived the failed run"
    finally:
        if _survivors(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "fit returned normally" not in stdout
    assert f"[rank{fail_rank}]: OSError: injected read failure on rank {fail_rank}" in stderr
    other = 1 - fail_rank
    assert re.search(rf"\[rank{other}\]: RuntimeError: .*[Cc]onnection", stderr), stderr[-3000:]
