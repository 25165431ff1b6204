"""Fixtures shared by the cross-package tests."""

from pathlib import Path

import pytest

from dynaclr.demo import write_demo_dataset


@pytest.fixture(scope="session")
def demo_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo dataset; its ``experiments.yml``."""
    return write_demo_dataset(tmp_path_factory.mktemp("demo"))
