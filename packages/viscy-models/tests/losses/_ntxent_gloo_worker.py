"""A gloo rank for test_distributed.py (a plain module so that spawned ranks can import it)."""

from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from viscy_models import NTXentHCL

WORLD_SIZE = 2
DIM = 8
TEMPERATURE = 0.2
# (per-rank batch sizes, beta): uneven shards make the gather pad and unpad.
CASES = [((5, 5), 0.0), ((5, 5), 0.5), ((6, 3), 0.5)]


def shard(rank: int, sizes: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Model inputs, anchor+positive embeddings and pair labels of one rank's batch."""
    gen = torch.Generator().manual_seed(100 + 10 * rank + sizes[rank])
    n = 2 * sizes[rank]
    inputs = torch.randn(n, 5, dtype=torch.float64, generator=gen)
    embeddings = torch.randn(n, DIM, dtype=torch.float64, generator=gen)
    return inputs, embeddings, torch.arange(sizes[rank]).repeat(2)


def model() -> torch.nn.Linear:
    """The same small model on every rank."""
    torch.manual_seed(0)
    return torch.nn.Linear(5, DIM).double()


def run_rank(rank: int, init_file: str, out_dir: str) -> None:
    """Compute every case's loss and gradients with gather_distributed=True; save them."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=60),
    )
    try:
        results = []
        for sizes, beta in CASES:
            inputs, embeddings, labels = shard(rank, sizes)
            loss_fn = NTXentHCL(temperature=TEMPERATURE, beta=beta, gather_distributed=True)
            embeddings.requires_grad_(True)
            loss = loss_fn(embeddings, labels)
            loss.backward()
            ddp = torch.nn.parallel.DistributedDataParallel(model())
            loss_fn(ddp(inputs), labels).backward()
            results.append(
                {
                    "loss": loss.detach(),
                    "grad": embeddings.grad,
                    "weight_grad": ddp.module.weight.grad,
                    "negatives": loss_fn.last_negatives_per_anchor,
                }
            )
            del ddp  # its reducer must not outlive the process group
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
        # Tear down together: a rank that destroys its group while the other still talks to
        # it can abort in gloo's C++ threads ("terminate called without an active exception").
        dist.barrier()
    finally:
        dist.destroy_process_group()
