"""`dynaclr predict` writes only where it may: the output rule, --overwrite, provenance.

One small fit gives a checkpoint; every refusal is checked for its exit status, its message,
no traceback, and inputs and existing outputs left byte-identical.
"""

import hashlib
import re

import anndata as ad
import numpy as np
import pytest
import yaml

from dynaclr.cli import main, packaged_config
from dynaclr.demo import write_demo_dataset
from viscy_data.outputs import MARKER_ATTRIBUTE
from viscy_data.testing import tree_digest


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny demo dataset, its fit's checkpoint and the options every predict shares."""
    root = tmp_path_factory.mktemp("predict-outputs")
    yaml_path = write_demo_dataset(root / "data", n_frames=5, image_size=64, cells_per_fov=3,
                                   cell_radius=5.0)  # fmt: skip
    common = [
        "--config", str(packaged_config("demo_fit.yml")), f"--data.experiments_yaml={yaml_path}",
        "--data.num_workers=0", "--data.batch_size=16", "--trainer.enable_progress_bar=false",
    ]  # fmt: skip
    fit = ["fit", *common, "--trainer.max_epochs=1", "--trainer.limit_train_batches=1",
           "--trainer.limit_val_batches=1",
           f"--trainer.default_root_dir={root / 'run'}"]  # fmt: skip
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(fit) == 0
    checkpoint = re.search(r"checkpoint:\s+(\S+)", out.getvalue()).group(1)
    return root, yaml_path, common, checkpoint


def _predict(trained, *extra):
    _, _, common, checkpoint = trained
    return main(["predict", *common, "--ckpt_path", checkpoint, *extra])


def _refused(capsys, status, *fragments):
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_a_store_carries_provenance_marker_and_upstream_columns(trained, tmp_path):
    root, yaml_path, _, checkpoint = trained
    assert _predict(trained, f"--trainer.default_root_dir={tmp_path}") == 0
    store = tmp_path / "embeddings.zarr"
    adata = ad.read_zarr(store)
    made = adata.uns["provenance"]
    assert made["checkpoint_sha256"] == hashlib.sha256(open(checkpoint, "rb").read()).hexdigest()
    assert made["experiments_yaml_content"] == yaml_path.read_text()
    assert made["random_init"] is False or made["random_init"] == 0
    assert yaml.safe_load(made["config"])["data"]["batch_size"] == 16
    assert set(made["versions"]) >= {"dynaclr", "viscy-data", "torch"}
    for column in ("fov_name", "track_id", "t", "id", "parent_track_id", "parent_id", "z", "y",
                   "x"):  # fmt: skip
        assert column in adata.obs, column
    import zarr

    assert zarr.open_group(store, mode="r").attrs[MARKER_ATTRIBUTE]["kind"] == "dynaclr embeddings"


def test_an_existing_store_needs_overwrite_and_is_replaced_only_when_ours(
    trained, tmp_path, capsys
):
    root = tmp_path / "run"
    assert _predict(trained, f"--trainer.default_root_dir={root}") == 0
    store = root / "embeddings.zarr"
    first = ad.read_zarr(store).uns["provenance"]["created"]
    before = tree_digest(store)
    _refused(capsys, _predict(trained, f"--trainer.default_root_dir={root}"),
             "embeddings.zarr' already exists", "--overwrite")  # fmt: skip
    assert tree_digest(store) == before
    assert _predict(trained, f"--trainer.default_root_dir={root}", "--overwrite") == 0
    assert ad.read_zarr(store).uns["provenance"]["created"] >= first
    other = tmp_path / "notes"
    (other / "embeddings.zarr").mkdir(parents=True)
    (other / "embeddings.zarr" / "mine.txt").write_text("keep me")
    before = tree_digest(other)
    _refused(capsys, _predict(trained, f"--trainer.default_root_dir={other}", "--overwrite"),
             "holds nothing written by viscy", "not a 'dynaclr embeddings' output")  # fmt: skip
    assert tree_digest(other) == before


@pytest.mark.parametrize("where", ["root-in-plate", "output-is-plate", "output-is-tracks"])
def test_an_output_touching_an_input_is_refused_and_nothing_changes(trained, tmp_path, capsys,
                                                                    where):  # fmt: skip
    root, yaml_path, _, _ = trained
    data = yaml_path.parent
    plate = next(data.glob("*.zarr"))
    tracks = next(p for p in data.iterdir() if p.name.endswith("_tracks"))
    before = tree_digest(data)
    if where == "root-in-plate":
        extra = [f"--trainer.default_root_dir={plate / 'runs'}"]
        expected = ["lies inside the plate of experiment"]
    else:
        target = plate if where == "output-is-plate" else tracks
        overlay = tmp_path / "writer.yml"
        writer = {"class_path": "dynaclr.cli.embeddings_writer.EmbeddingWriter",
                  "init_args": {"output_path": str(target), "overwrite": True}}  # fmt: skip
        overlay.write_text(yaml.safe_dump({"trainer": {"callbacks": [writer]}}))
        extra = ["--config", str(overlay), f"--trainer.default_root_dir={tmp_path}"]
        expected = [f"output {str(target)!r} is the", "inputs are never written"]
    _refused(capsys, _predict(trained, *extra, "--overwrite"), *expected)
    assert tree_digest(data) == before


def test_no_checkpoint_is_refused_unless_random_weights_are_asked_for(trained, tmp_path, capsys):
    _, _, common, _ = trained
    status = main(["predict", *common, f"--trainer.default_root_dir={tmp_path}"])
    _refused(capsys, status, "no --ckpt_path given", "--random_init")
    assert not (tmp_path / "embeddings.zarr").exists()
    assert main(["predict", *common, f"--trainer.default_root_dir={tmp_path}",
                 "--random_init"]) == 0  # fmt: skip
    made = ad.read_zarr(tmp_path / "embeddings.zarr").uns["provenance"]
    assert bool(made["random_init"]) and made["checkpoint"] == ""
    assert np.isfinite(ad.read_zarr(tmp_path / "embeddings.zarr").X).all()
