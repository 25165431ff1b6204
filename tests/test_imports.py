"""Importing a package is cheap, its public names load on first use, and old paths still work.

Each check runs in a fresh interpreter (``sys.modules`` of this one already holds torch).
"""

import importlib
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "kornia", "lightning", "timm")


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object, returned here."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["dynaclr", "viscy_data", "viscy_models", "viscy_data.readers"])
def test_import_loads_no_heavy_dependency(module):
    loaded = _fresh(
        f"import json, sys\nimport {module}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert loaded == [], f"import {module} loaded {loaded}"


UPSTREAM_NAMES = {
    "ExperimentConfig": "dynaclr.experiment_config",
    "ExperimentRegistry": "dynaclr.registry",
    "MultiExperimentIndex": "dynaclr.cell_index.index",
    "MultiExperimentTripletDataset": "dynaclr.triplet_dataset",
    "MultiExperimentDataModule": "dynaclr.datamodule",
    "ContrastiveModule": "viscy_models.engine.contrastive",
    "NTXentHCL": "viscy_models.losses.ntxent_hcl",
    "sample_tau": "dynaclr.cell_index.tau",
}


def test_upstream_names_import_from_dynaclr():
    import dynaclr

    for name, home in UPSTREAM_NAMES.items():
        exec(f"from dynaclr import {name}", {})
        assert getattr(dynaclr, name) is getattr(importlib.import_module(home), name), name
    assert set(UPSTREAM_NAMES) <= set(dynaclr.__all__) == set(dir(dynaclr))


@pytest.mark.parametrize("package", ["dynaclr", "viscy_data", "viscy_models"])
def test_every_public_name_resolves_and_unknown_names_are_attribute_errors(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'Nope'"):
        module.Nope  # noqa: B018


MOVED = {
    # old path: (name, new home)
    "dynaclr.cell_index.table": ("build_cell_index", "dynaclr.cell_index.build"),
    "dynaclr.sampler_sync": ("TrainerSyncedBatches", "dynaclr.trainer_batches"),
    "dynaclr.norm_meta": ("NormTable", "viscy_data.normalization"),
    "dynaclr.demo_cells": ("simulate_fov", "dynaclr.demo.simulate"),
    "dynaclr.demo_identity": ("write_identity_dataset", "dynaclr.demo.identity"),
    "dynaclr.demo_run": ("ensure_demo_dataset", "dynaclr.demo.cache"),
    "dynaclr.inspect_batches": ("inspect_main", "dynaclr.cli.inspect"),
    "dynaclr.prediction_writer": ("EmbeddingWriter", "dynaclr.cli.embeddings_writer"),
    "dynaclr.config_reference": ("render", "dynaclr.cli.config_reference"),
    "dynaclr.cli": ("main", "dynaclr.cli.main"),
    "dynaclr.demo": ("write_demo_dataset", "dynaclr.demo.dataset"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_moved_modules_re_export_from_their_old_path(old):
    name, home = MOVED[old]
    assert getattr(importlib.import_module(old), name) is getattr(
        importlib.import_module(home), name
    )
