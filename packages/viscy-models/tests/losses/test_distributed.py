"""gather_distributed=True on two gloo ranks against one process on the concatenated batch."""

import importlib
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from viscy_models import NTXentHCL
from viscy_models.losses._distributed import all_gather_with_grad, world_size_and_rank


def _run_ranks(worker, tmp_path: Path, timeout_s: float = 120.0) -> list[list[dict]]:
    context = mp.start_processes(
        worker.run_rank,
        args=(str(tmp_path / "init"), str(tmp_path)),
        nprocs=worker.WORLD_SIZE,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + timeout_s
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"gloo ranks did not finish within {timeout_s} s")
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(worker.WORLD_SIZE)]


def _rank_losses(embeddings, sizes, loss_fn):
    """Each rank's loss, computed in one process: its anchors against the whole batch.

    Labels of the other ranks' items are made unique, so they are only negatives.
    """
    offsets = [0, *torch.tensor([2 * b for b in sizes]).cumsum(0).tolist()]
    unique = -1 - torch.arange(offsets[-1])
    losses = []
    for r, b in enumerate(sizes):
        labels = unique.clone()
        labels[offsets[r] : offsets[r + 1]] = torch.arange(b).repeat(2)
        losses.append(loss_fn(embeddings, labels))
    return torch.stack(losses), offsets


@pytest.mark.slow
def test_gathered_loss_and_gradients_match_one_process(tmp_path, monkeypatch):
    # Spawned ranks import the worker by name: its folder goes on their sys.path.
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    worker = importlib.import_module("_ntxent_gloo_worker")
    results = _run_ranks(worker, tmp_path)

    for case, (sizes, beta) in enumerate(worker.CASES):
        shards = [worker.shard(r, sizes) for r in range(worker.WORLD_SIZE)]
        loss_fn = NTXentHCL(temperature=worker.TEMPERATURE, beta=beta)
        embeddings = torch.cat([emb for _, emb, _ in shards]).requires_grad_(True)
        rank_losses, offsets = _rank_losses(embeddings, sizes, loss_fn)
        # DDP averages gradients, so the ranks together minimise the mean of their losses;
        # with equal shards that is the loss of the concatenated batch.
        (grad,) = torch.autograd.grad(rank_losses.sum(), embeddings)
        for r, per_rank in enumerate(results):
            res = per_rank[case]
            torch.testing.assert_close(res["loss"], rank_losses[r].detach())
            torch.testing.assert_close(res["grad"], grad[offsets[r] : offsets[r + 1]])
            assert res["negatives"].item() == offsets[-1] - 2
        if len(set(sizes)) == 1:
            labels = torch.cat([lab + offsets[r] for r, (_, _, lab) in enumerate(shards)])
            torch.testing.assert_close(rank_losses.mean(), loss_fn(embeddings, labels))

        model = worker.model()
        inputs = torch.cat([x for x, _, _ in shards])
        mean_loss = _rank_losses(model(inputs), sizes, loss_fn)[0].mean()
        (weight_grad,) = torch.autograd.grad(mean_loss, model.weight)
        for per_rank in results:
            torch.testing.assert_close(per_rank[case]["weight_grad"], weight_grad)


def test_gather_is_identity_without_a_process_group():
    assert world_size_and_rank() == (1, 0)
    x = torch.randn(3, 2, requires_grad=True)
    gathered, offset = all_gather_with_grad(x)
    assert gathered is x and offset == 0
    labels = torch.tensor([0, 0, 1])
    gathered_loss = NTXentHCL(gather_distributed=True)(x, labels)
    torch.testing.assert_close(gathered_loss, NTXentHCL()(x, labels))
