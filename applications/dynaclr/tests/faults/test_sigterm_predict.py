"""SIGTERM or SIGINT during ``dynaclr predict``: it stops within seconds, writes no store, leaves
an existing one as it was, and exits 143 (SIGTERM) or 130 (SIGINT).

Lightning's prediction loop never looks at SIGTERM by itself (before: the run went on to the
end and wrote its store); :class:`dynaclr.cli.embeddings_writer.EmbeddingWriter` stops it
after the current batch.
"""

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynaclr.cli import main, packaged_config
from dynaclr.demo import write_demo_dataset
from viscy_data.testing import tree_digest

SCRIPT = Path(__file__).with_name("sigterm_predict.py")


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """A checkpoint of a one-batch fit and an embeddings store a predict wrote with it."""
    root = tmp_path_factory.mktemp("sigterm-predict")
    yaml_path = write_demo_dataset(root / "data", n_frames=5, image_size=64, cells_per_fov=3,
                                   cell_radius=5.0)  # fmt: skip
    common = [
        "--config", str(packaged_config("demo_fit.yml")), f"--data.experiments_yaml={yaml_path}",
        "--data.num_workers=0", "--trainer.enable_progress_bar=false",
    ]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["fit", *common, "--data.batch_size=16", "--trainer.max_epochs=1",
                     "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
                     f"--trainer.default_root_dir={root / 'run'}"]) == 0  # fmt: skip
    checkpoint = re.search(r"checkpoint:\s+(\S+)", out.getvalue()).group(1)
    predict = ["predict", *common, "--data.batch_size=1", "--ckpt_path", checkpoint,
               f"--trainer.default_root_dir={root / 'predict'}"]  # fmt: skip
    assert main(predict) == 0
    return root, yaml_path, predict


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_predict_and_leaves_the_old_store(predicted, tmp_path, signum, status):
    root, yaml_path, predict = predicted
    store = root / "predict" / "embeddings.zarr"
    old, inputs = tree_digest(store), tree_digest(yaml_path.parent)
    ready = tmp_path / "first-batch-done"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(ready), *predict, "--overwrite"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=SCRIPT.parent)  # fmt: skip
    deadline = time.monotonic() + 150
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"predict never reached its first batch:\n{proc.communicate()[1][-3000:]}")
        time.sleep(0.05)
    sent = time.monotonic()
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15, "stopped within seconds (160 batches of 0.5 s left)"
    assert proc.returncode == status, err[-3000:]
    assert f"dynaclr predict: stopped by {signum.name}" in err and "Traceback" not in err, err
    assert "no embeddings were written" in err
    assert tree_digest(store) == old, "the old store is intact"
    assert sorted(p.name for p in store.parent.iterdir() if p.name.startswith(".")) == []
    assert tree_digest(yaml_path.parent) == inputs
