"""Soak: thousands of training batches through the thread loader, memory flat, no thread leak.

The train loader of the demo dataset (small patches, 2 worker threads) is iterated for
:data:`N_BATCHES` batches, about a hundred epochs of a fresh iterator each. After a warm-up,
resident memory may not grow by more than :data:`RSS_SLACK_MIB` (one leaked batch per step
would add about 30 KiB x N_BATCHES = 150 MiB), the process's OS thread count stays bounded,
at most ``num_workers`` loader threads are alive at any time, and none is left at the end.
"""

import threading

import psutil
import pytest

from dynaclr.datamodule import MultiExperimentDataModule
from dynaclr.demo import write_demo_dataset
from viscy_data.testing import loader_threads, wait_for_no_loader_threads

N_BATCHES = 5000
WARM_UP = 500
RSS_SLACK_MIB = 16.0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_thousands_of_batches_keep_memory_and_threads_flat(tmp_path):
    yaml_path = write_demo_dataset(tmp_path, n_frames=8, image_size=64, z_slices=1,
                                   cells_per_fov=6, cell_radius=5.0)  # fmt: skip
    dm = MultiExperimentDataModule(
        yaml_path, z_range=(0, 1), yx_patch_size=(16, 16), final_yx_patch_size=(16, 16),
        val_experiments=[], tau_range=(0.5, 1.0), batch_size=8, num_workers=2, prefetch=2,
        pin_memory=False,
    )  # fmt: skip
    dm.setup("fit")
    loader = dm.train_dataloader()
    threads_before = set(threading.enumerate())
    process = psutil.Process()
    seen, epochs, samples = 0, 0, []
    while seen < N_BATCHES:
        for batch in loader:
            seen += 1
            assert batch["anchor"].shape == (8, 2, 1, 16, 16)
            if seen % 250 == 0:
                samples.append((seen, process.memory_info().rss / 2**20, process.num_threads()))
                assert len(loader_threads()) <= dm.num_workers, "earlier epochs' threads linger"
            if seen == N_BATCHES:
                break
        epochs += 1
    assert epochs > 50, "many epochs, so many iterators started and stopped"
    steady = [(rss, n_threads) for n, rss, n_threads in samples if n >= WARM_UP]
    growth = max(rss for rss, _ in steady) - steady[0][0]
    assert growth < RSS_SLACK_MIB, f"RSS grew {growth:.1f} MiB after warm-up: {samples}"
    counts = [n_threads for _, n_threads in steady]  # tensorstore's pools may add a few, once
    assert max(counts) - min(counts) <= 8, f"OS threads keep growing: {samples}"
    assert wait_for_no_loader_threads() == []
    assert set(threading.enumerate()) == threads_before
