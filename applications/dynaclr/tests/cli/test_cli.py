"""The dynaclr command line end to end on the built-in demo: fit, predict, inspect, errors."""

import re
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import yaml
from PIL import Image

from dynaclr import ExperimentRegistry, MultiExperimentIndex
from dynaclr.cli import DynaCLRCLI, main, packaged_config

FAST = [
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=2",
    "--trainer.max_epochs=1",
    "--data.num_workers=1",
    "--trainer.enable_progress_bar=false",
]


@pytest.fixture(scope="module")
def demo_fit(tmp_path_factory):
    """`dynaclr fit` with no config (demo written into a fresh cache), shortened."""
    root = tmp_path_factory.mktemp("cli")
    mp = pytest.MonkeyPatch()
    mp.setenv("DYNACLR_CACHE", str(root / "cache"))
    capture = root / "stdout.txt"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["fit", *FAST, f"--trainer.default_root_dir={root / 'run'}"])
    capture.write_text(out.getvalue())
    yield root, status, out.getvalue()
    mp.undo()


def _printed(text: str, label: str) -> Path:
    match = re.search(rf"{label}:\s+(\S+)", text)
    assert match, f"{label} not printed in:\n{text}"
    return Path(match.group(1))


def test_fit_without_arguments_trains_on_the_demo(demo_fit):
    root, status, text = demo_fit
    assert status == 0
    assert (root / "cache" / "demo-v2" / "experiments.yml").is_file()
    assert _printed(text, "checkpoint").is_file()
    assert _printed(text, "logs").is_dir()
    config = _printed(text, "config")
    saved = yaml.safe_load(config.read_text())
    assert saved["trainer"]["use_distributed_sampler"] is False
    assert saved["model"]["loss_function"]["init_args"]["beta"] == saved["data"]["hcl_beta"]


def test_predict_embeds_every_observation_once(demo_fit, tmp_path):
    _, _, text = demo_fit
    config, ckpt = _printed(text, "config"), _printed(text, "checkpoint")
    status = main(
        [
            "predict",
            "--config",
            str(config),
            "--ckpt_path",
            str(ckpt),
            f"--trainer.default_root_dir={tmp_path}",
            "--data.batch_size=256",
            "--trainer.enable_progress_bar=false",
        ]
    )
    assert status == 0
    adata = ad.read_zarr(tmp_path / "embeddings.zarr")
    data = yaml.safe_load(config.read_text())["data"]
    index = MultiExperimentIndex(
        ExperimentRegistry.from_yaml(data["experiments_yaml"]),
        z_range=data["z_range"],
        yx_patch_size=data["yx_patch_size"],
        tau_range_hours=data["tau_range"],
    )
    assert adata.n_obs == index.tracks.height
    keys = set(
        zip(adata.obs["experiment"], adata.obs["fov_name"], adata.obs["track_id"], adata.obs["t"])
    )
    expected = set(index.tracks.select("experiment", "fov_name", "track_id", "t").iter_rows())
    assert keys == expected
    assert adata.obsm["X_projections"].shape == (adata.n_obs, 64)
    assert np.isfinite(adata.X).all()
    for column in ("condition", "well", "lineage_id", "hours_post_infection", "y", "x"):
        assert column in adata.obs


def test_inspect_writes_a_png_and_a_composition_table(demo_fit, tmp_path, capsys):
    _, _, text = demo_fit
    png = tmp_path / "grid.png"
    status = main(
        [
            "inspect",
            "--config",
            str(_printed(text, "config")),
            "--batches",
            "2",
            "--samples",
            "3",
            "--output",
            str(png),
        ]
    )
    assert status == 0
    image = np.asarray(Image.open(png).convert("L"))
    # 6 labelled rows of 4 tiles (anchor, positive x 2 channels), tiles drawn >= 96 px
    assert image.shape[0] >= 6 * 96 and image.shape[1] >= 4 * 96 + 100
    assert image.std() > 10
    out = capsys.readouterr().out
    assert "experiments" in out and "hpi median" in out and "demo0" in out
    assert "6 pairs from 2 batches" in out
    assert re.search(r"Phase3D: black -?[\d.e+-]+, white [\d.e+-]+ \(1st-99th percentile", out)


def test_help_lists_every_argument_with_its_doc(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--data.batch_size",
        "--data.temporal_enrichment",
        "--data.hcl_beta",
        "--model.encoder",
        "--model.lr",
        "--trainer.max_epochs",
    ):
        assert option in out
    assert "Anchors per batch" in out


def _config(tmp_path, **data_overrides) -> Path:
    config = yaml.safe_load(packaged_config("demo_fit.yml").read_text())
    config["data"].update(data_overrides)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [({"bogus_key": 1}, "data.bogus_key"), ({"batch_size": "many"}, "data.batch_size")],
)
def test_config_errors_name_key_and_file(tmp_path, capsys, change, expected):
    path = _config(tmp_path, **change)
    assert main(["fit", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err
    assert "Traceback" not in err


def test_missing_experiments_file_is_one_paragraph(tmp_path, capsys):
    path = _config(tmp_path, experiments_yaml=str(tmp_path / "nope.yml"))
    assert main(["fit", "--config", str(path), "--trainer.max_epochs=1"]) == 2
    err = capsys.readouterr().err
    assert "nope.yml" in err and "Traceback" not in err


def test_hcl_beta_is_the_single_source_of_the_loss_beta(tmp_path, demo_yaml, capsys):
    path = _config(tmp_path, experiments_yaml=str(demo_yaml), hcl_beta=0.1)
    cli = DynaCLRCLI(args=["--config", str(path)], run=False)
    assert cli.model.loss_function.beta == pytest.approx(0.1)

    config = yaml.safe_load(path.read_text())
    config["model"]["loss_function"]["init_args"]["beta"] = 0.7
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path)]) == 2
    assert "conflicting hcl_beta values" in capsys.readouterr().err


def test_saved_config_round_trips_every_datamodule_argument(demo_fit, tmp_path):
    from dynaclr.cli.inspect import _without_run_keys

    _, _, text = demo_fit
    saved = _printed(text, "config")
    args = _without_run_keys(["--config", str(saved)], tmp_path)
    cli = DynaCLRCLI(args=args, run=False, save_config_callback=None)
    dm, data = cli.datamodule, yaml.safe_load(saved.read_text())["data"]
    for name in ("z_range", "yx_patch_size", "final_yx_patch_size", "tau_range"):
        assert list(getattr(dm, name)) == list(data[name])
    for name in (
        "batch_size",
        "hcl_beta",
        "seed",
        "leaky",
        "val_experiments",
        "channel_dropout_prob",
        "temporal_enrichment",
        "cache_pool_bytes",
    ):
        assert getattr(dm, name) == data[name], name
    assert [type(t).__name__ for t in dm.augmentations] == [
        a["class_path"].rsplit(".", 1)[1] for a in data["augmentations"]
    ]
    assert dm.normalizations[0].level == data["normalizations"][0]["init_args"]["level"]


def test_validate_runs_from_the_saved_config(demo_fit, tmp_path):
    _, _, text = demo_fit
    status = main(
        [
            "validate",
            "--config",
            str(_printed(text, "config")),
            "--ckpt_path",
            str(_printed(text, "checkpoint")),
            "--trainer.limit_val_batches=2",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
        ]
    )
    assert status == 0
