"""Shared settings for the viscy-models tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run each test with one intra-op thread, then restore the previous setting.

    The tensors here are tiny: a second OpenMP thread gains little, and on a busy 2-core
    CI runner its spin-waiting slows steps down by an order of magnitude.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
