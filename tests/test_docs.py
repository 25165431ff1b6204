"""The docs stay true: the configuration reference matches the code, and the example
multi-experiment config runs as-is on demo data."""

from pathlib import Path

import yaml

from dynaclr.cli import main
from dynaclr.cli.config_reference import render
from dynaclr.demo import write_demo_dataset

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_configuration_reference_is_up_to_date():
    expected = render()
    actual = (DOCS / "configuration.md").read_text()
    assert actual == expected, (
        "docs/configuration.md is stale: run "
        "`uv run python -m dynaclr.cli.config_reference > docs/configuration.md`"
    )


def test_every_option_is_documented():
    missing = [line for line in render().splitlines() if line.endswith("|  |")]
    assert not missing, f"options without a description: {missing}"


def test_example_multi_experiment_config_runs_on_demo_data(tmp_path):
    experiments = write_demo_dataset(tmp_path / "demo3", n_experiments=3)
    config = yaml.safe_load((DOCS / "examples" / "multi_experiment_fit.yml").read_text())
    config["data"]["experiments_yaml"] = str(experiments)
    path = tmp_path / "example.yml"
    path.write_text(yaml.safe_dump(config))
    status = main(
        [
            "fit",
            "--config",
            str(path),
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
            "--trainer.accelerator=cpu",
            "--trainer.devices=1",
            "--trainer.enable_progress_bar=false",
        ]
    )
    assert status == 0
    saved = next((tmp_path / "run").rglob("config.yaml"))
    data = yaml.safe_load(saved.read_text())["data"]
    assert data["temporal_enrichment"] and data["leaky"] > 0 and data["condition_ratio"]
