"""Runs that go wrong say so in one paragraph: bad checkpoints, damaged stores, bad inspect
arguments, reserved tracks columns, ``limit_*_batches: 1`` (issue 17, docs/reliability.md).

One small fit gives a checkpoint; every case checks the exit status, the message, that no
traceback is printed and, where there are inputs, that they are byte-identical afterwards.
"""

import contextlib
import io
import re
import shutil

import polars as pl
import pytest
import yaml

from dynaclr.cli import DynaCLRCLI, main, packaged_config
from dynaclr.demo import write_demo_dataset
from viscy_data.testing import tree_digest


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny demo dataset, its fit's checkpoint and the options every run shares."""
    root = tmp_path_factory.mktemp("bad-runs")
    yaml_path = write_demo_dataset(root / "data", n_frames=5, image_size=64, cells_per_fov=3,
                                   cell_radius=5.0)  # fmt: skip
    common = [
        "--config", str(packaged_config("demo_fit.yml")), f"--data.experiments_yaml={yaml_path}",
        "--data.num_workers=0", "--data.batch_size=16", "--trainer.enable_progress_bar=false",
    ]  # fmt: skip
    fit = ["fit", *common, "--trainer.max_epochs=1", "--trainer.limit_train_batches=1",
           "--trainer.limit_val_batches=1",
           f"--trainer.default_root_dir={root / 'run'}"]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(fit) == 0
    checkpoint = re.search(r"checkpoint:\s+(\S+)", out.getvalue()).group(1)
    return root, yaml_path, common, checkpoint


def _one_paragraph(capsys, status, expected_status, *patterns) -> str:
    err = capsys.readouterr().err
    assert status == expected_status, err
    assert "Traceback" not in err and "usage:" not in err, err
    for pattern in patterns:
        assert re.search(pattern, err, re.MULTILINE), f"{pattern!r} not in:\n{err}"
    return err


def _copy_data(trained, tmp_path):
    """A private copy of the demo dataset (the cases damage it) and its experiments YAML."""
    shutil.copytree(trained[1].parent, tmp_path / "data")
    return tmp_path / "data" / "experiments.yml"


# --- row 8: --ckpt_path ----------------------------------------------------------------------
def test_a_checkpoint_that_is_no_checkpoint_or_of_another_model_is_refused(
    trained, tmp_path, capsys
):
    root, yaml_path, common, checkpoint = trained
    before = tree_digest(yaml_path.parent)
    garbage = tmp_path / "notes.ckpt"
    garbage.write_text("not a checkpoint\n")
    run = [f"--trainer.default_root_dir={tmp_path / 'out'}"]
    status = main(["predict", *common, "--ckpt_path", str(garbage), *run])
    _one_paragraph(capsys, status, 2, re.escape(f"--ckpt_path '{garbage}' is not a checkpoint "
                   "torch can load (not a file torch.save wrote)"))  # fmt: skip
    status = main(["predict", *common, "--ckpt_path", str(tmp_path), *run])
    _one_paragraph(capsys, status, 2, re.escape(f"--ckpt_path '{tmp_path}' is a folder"))
    for command in ("predict", "fit"):
        status = main([command, *common, "--model.encoder.init_args.projection_dim=32",
                       "--ckpt_path", checkpoint, *run])  # fmt: skip
        _one_paragraph(capsys, status, 2, re.escape(
            f"--ckpt_path '{checkpoint}' holds weights of another architecture: parameter "
            "'encoder.projection.3.weight' has shape (64, 512) in the checkpoint but (32, 512)"
        ))  # fmt: skip
    assert not (tmp_path / "out" / "embeddings.zarr").exists()
    assert tree_digest(yaml_path.parent) == before


# --- row 6: a damaged chunk while running ------------------------------------------------------
def test_a_corrupt_chunk_during_fit_and_inspect_is_one_message_and_status_1(
    trained, tmp_path, capsys
):
    _, _, common, _ = trained
    yaml_path = _copy_data(trained, tmp_path)
    store = yaml_path.parent / "demo0_SEC61B.zarr"  # the training experiment
    for path in store.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            path.write_bytes(b"this is not a blosc frame")
    before = tree_digest(yaml_path.parent)
    data = [f"--data.experiments_yaml={yaml_path}", "--data.num_workers=2"]  # loader threads
    status = main(["fit", *common, *data, "--trainer.max_epochs=1",
                   f"--trainer.default_root_dir={tmp_path / 'run'}"])  # fmt: skip
    where = rf"cannot read array \('{re.escape(str(store))}', 'A/[12]/0'\) at frame t=\d"
    _one_paragraph(capsys, status, 1, r"^dynaclr fit: error \(config: .*\): " + where)
    status = main(["inspect", *common, *data, "--output", str(tmp_path / "pairs.png")])
    _one_paragraph(capsys, status, 1, r"^dynaclr inspect: error \(config: .*\): " + where)
    assert tree_digest(yaml_path.parent) == before


# --- row 9: inspect's arguments ---------------------------------------------------------------
@pytest.mark.parametrize("case", ["config-dir", "output-dir", "output-no-extension", "key-typo"])
def test_inspect_refuses_bad_paths_and_typos_before_any_batch(trained, tmp_path, capsys, case):
    _, yaml_path, common, _ = trained
    config = yaml.safe_load(packaged_config("demo_fit.yml").read_text())
    config["data"]["batchsize"] = config["data"].pop("batch_size")
    typo = tmp_path / "typo.yml"
    typo.write_text(yaml.safe_dump(config))
    data = f"--data.experiments_yaml={yaml_path}"
    folder, typo_file = re.escape(str(tmp_path)), re.escape(str(typo))
    argv, expected = {
        "config-dir": (["--config", str(tmp_path)],
                       rf"configuration error in {folder}: .*Path is not a file"),
        "output-dir": ([*common, "--output", str(tmp_path)],
                       rf"--output '{folder}' is a folder; give an image file"),
        "output-no-extension": ([*common, "--output", str(tmp_path / "pairs")],
                                r"--output '.*pairs' has no image extension"),
        "key-typo": (["--config", str(typo), data],
                     rf"configuration error in {typo_file}: .*'batchsize'"),
    }[case]  # fmt: skip
    status = main(["inspect", *argv])
    _one_paragraph(capsys, status, 2, r"^dynaclr inspect: .*" + expected)
    assert not list(tmp_path.rglob("*.png")), "nothing drawn"


# --- row 5: extra and reserved tracks columns --------------------------------------------------
def test_inspect_takes_extra_tracks_columns_and_refuses_reserved_ones(trained, tmp_path, capsys):
    _, _, common, _ = trained
    yaml_path = _copy_data(trained, tmp_path)
    files = sorted(yaml_path.parent.glob("*_tracks/*/*/*/*.csv"))
    for path in files:
        pl.read_csv(path).with_columns(area=pl.lit(12.5)).write_csv(path)
    data = [f"--data.experiments_yaml={yaml_path}", "--batches=1"]
    status = main(["inspect", *common, *data, "--output", str(tmp_path / "a.png")])
    assert status == 0, capsys.readouterr().err
    capsys.readouterr()
    pl.read_csv(files[0]).with_columns(row=pl.lit(1)).write_csv(files[0])
    before = tree_digest(yaml_path.parent)
    status = main(["inspect", *common, *data, "--output", str(tmp_path / "b.png")])
    _one_paragraph(capsys, status, 2, re.escape(
        f"{files[0]}: column(s) ['row'] have names the cell index writes itself"
    ), r"reserved: \['experiment', 'condition', ")  # fmt: skip
    assert tree_digest(yaml_path.parent) == before


# --- section 8: limit_*_batches: 1 -------------------------------------------------------------
def test_limit_batches_of_one_in_a_config_mean_one_batch(trained, tmp_path):
    _, yaml_path, _, _ = trained
    limits = tmp_path / "limits.yml"
    limits.write_text("trainer:\n  limit_train_batches: 1\n  limit_val_batches: 1\n")
    cli = DynaCLRCLI(args=["--config", str(packaged_config("demo_fit.yml")), "--config",
                           str(limits), f"--data.experiments_yaml={yaml_path}"],
                     run=False, save_config_callback=None)  # fmt: skip
    for value in (cli.trainer.limit_train_batches, cli.trainer.limit_val_batches):
        assert value == 1 and isinstance(value, int), "1 is one batch; 1.0 would be all"
