"""A read that fails in a loader worker thread stops ``Trainer.fit`` with that error, no hang."""

import re
from pathlib import Path

import pytest

from dynaclr.demo import write_identity_dataset
from viscy_data.readers import PatchReadError
from viscy_data.testing import wait_for_no_loader_threads

from ..identity_runs import Recorder, identity_datamodule, identity_trainer


def _corrupt(fov_array: Path) -> int:
    chunks = [p for p in fov_array.rglob("*") if p.is_file() and not p.name.startswith(".")]
    for path in chunks:
        path.write_bytes(b"not a blosc frame")
    return len(chunks)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("num_workers", [2, 0])
def test_worker_error_surfaces_in_fit_with_store_fov_and_frame(tmp_path, num_workers):
    yaml_path = write_identity_dataset(tmp_path / "data")
    store = tmp_path / "data" / "identity0.zarr"
    assert _corrupt(store / "A/1/0/0") > 0  # after writing, before fit: setup reads no pixels
    model = Recorder()
    with pytest.raises(PatchReadError) as info:
        identity_trainer(tmp_path).fit(
            model, datamodule=identity_datamodule(yaml_path, num_workers=num_workers)
        )
    message = str(info.value)
    assert re.search(rf"cannot read array \('{re.escape(str(store))}', 'A/1/0'\) at frame t=\d",
                     message)  # fmt: skip
    assert "Invalid blosc-compressed data" in message, "the tensorstore cause is kept"
    notes = "\n".join(getattr(info.value, "__notes__", []))
    if num_workers:
        assert re.search(r"raised in thread 'ThreadDataLoader-\d+-reader' while fetching "
                         r"batch 0 of this epoch", notes)  # fmt: skip
    assert model.records == [], "every batch of the uninfected well reads the corrupted FOV"
    assert wait_for_no_loader_threads() == [], "the worker threads stop"
