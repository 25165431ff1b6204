"""Fixtures shared by every test folder of the workspace (packages, applications, tests)."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo dataset (2 experiments, NGFF 0.4); its ``experiments.yml``.

    Read-only: tests must not modify it.
    """
    from dynaclr.demo import write_demo_dataset  # only the tests that use it import dynaclr

    return write_demo_dataset(tmp_path_factory.mktemp("demo"))
