"""The package's public names load on first use, so the loss alone does not pull in Lightning."""

import subprocess
import sys

import pytest

import viscy_models


def test_loss_import_loads_neither_lightning_nor_timm():
    code = (
        "import sys\n"
        "from viscy_models import NTXentHCL\n"
        "print(NTXentHCL.__module__, 'lightning' in sys.modules, 'timm' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["viscy_models.losses.ntxent_hcl", "False", "False"]


def test_public_names_resolve_to_their_classes():
    from viscy_models.encoders.contrastive import ContrastiveEncoder
    from viscy_models.engine.contrastive import ContrastiveModule
    from viscy_models.losses.ntxent_hcl import NTXentHCL

    assert viscy_models.ContrastiveEncoder is ContrastiveEncoder
    assert viscy_models.ContrastiveModule is ContrastiveModule
    assert viscy_models.NTXentHCL is NTXentHCL
    assert set(viscy_models.__all__) <= set(dir(viscy_models))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'viscy_models' has no attribute 'Nope'"):
        viscy_models.Nope  # noqa: B018
    with pytest.raises(ImportError):
        from viscy_models import Nope  # noqa: F401
