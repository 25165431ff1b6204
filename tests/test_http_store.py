"""Training reads a plate served over HTTP (data_path is a URL tensorstore and zarr can read)."""

import functools
import gc
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from dynaclr.cli import main, packaged_config
from dynaclr.demo import write_demo_dataset
from viscy_data.testing import wait_for_no_loader_threads


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output readable
        pass


@pytest.fixture
def served_demo(tmp_path):
    """The demo's plates served read-only on 127.0.0.1; tracks stay local."""
    experiments = write_demo_dataset(tmp_path / "demo")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path / "demo"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    config = yaml.safe_load(experiments.read_text())
    for exp in config["experiments"]:
        exp["data_path"] = f"{base}/{exp['data_path']}"
        exp["tracks_path"] = str(Path(tmp_path / "demo" / exp["tracks_path"]))
    remote = tmp_path / "remote_experiments.yml"
    remote.write_text(yaml.safe_dump(config))
    yield remote
    # The loaders' read-ahead may still be fetching chunks after fit returns: serve them until
    # the threads end (a stopped server leaves those reads retrying until the exit hook gives
    # up, 60 s later).
    gc.collect()
    wait_for_no_loader_threads(timeout=30.0)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.slow
def test_fit_from_plates_served_over_http(served_demo, tmp_path):
    status = main(
        [
            "fit",
            "--config",
            str(packaged_config("demo_fit.yml")),
            f"--data.experiments_yaml={served_demo}",
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
        ]
    )
    assert status == 0
    assert list((tmp_path / "run").rglob("*.ckpt"))
