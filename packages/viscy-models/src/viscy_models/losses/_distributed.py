"""All-gather across DDP ranks, with gradients flowing back to each rank's own shard.

Every function here also works when ``torch.distributed`` is unavailable or not
initialised: the world is then one process and the input comes back unchanged.
"""

import torch
import torch.distributed as dist
from torch import Tensor


def world_size_and_rank() -> tuple[int, int]:
    """Return ``(world_size, rank)`` of the default process group, or ``(1, 0)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _gather_sizes(n_local: int, device: torch.device) -> list[int]:
    """All-gather the number of rows each rank holds."""
    world_size, _ = world_size_and_rank()
    mine = torch.tensor([n_local], dtype=torch.int64, device=device)
    sizes = [torch.empty_like(mine) for _ in range(world_size)]
    dist.all_gather(sizes, mine)
    return [int(s.item()) for s in sizes]


def _gather_padded(tensor: Tensor, sizes: list[int]) -> Tensor:
    """All-gather ``tensor`` along dim 0 when ranks may hold different numbers of rows."""
    n_max = max(sizes)
    padded = tensor.new_zeros((n_max, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate every rank's rows; backward sums the gradients of all ranks' losses.

    Each rank's loss depends on every rank's embeddings (they are its negatives), so the
    gradient for the local shard is the sum over ranks of d(loss_r)/d(shard). With DDP's
    gradient averaging, parameters then receive the gradient of the mean of the ranks'
    losses, i.e. of the loss over the global batch.
    """

    @staticmethod
    def forward(ctx, tensor: Tensor, sizes: list[int], offset: int) -> Tensor:
        ctx.offset, ctx.n_local = offset, tensor.shape[0]
        return _gather_padded(tensor, sizes)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.offset : ctx.offset + ctx.n_local], None, None


def all_gather_with_grad(tensor: Tensor) -> tuple[Tensor, int]:
    """All-gather ``tensor`` (N_r, ...) from every rank along dim 0, keeping gradients.

    Parameters
    ----------
    tensor : Tensor
        This rank's rows, shape ``(N_r, ...)``; ranks may hold different ``N_r``.

    Returns
    -------
    gathered : Tensor
        Shape ``(sum_r N_r, ...)``, rank 0's rows first. Gradients reaching it flow back to
        ``tensor`` (only this rank's slice, summed over all ranks).
    offset : int
        Row of ``gathered`` where this rank's shard starts.
    """
    world_size, rank = world_size_and_rank()
    if world_size == 1:
        return tensor, 0
    sizes = _gather_sizes(tensor.shape[0], tensor.device)
    offset = sum(sizes[:rank])
    return _AllGatherWithGrad.apply(tensor, sizes, offset), offset


def all_gather_no_grad(tensor: Tensor) -> Tensor:
    """All-gather ``tensor`` (N_r, ...) along dim 0 without gradients (labels, ids)."""
    world_size, _ = world_size_and_rank()
    if world_size == 1:
        return tensor
    sizes = _gather_sizes(tensor.shape[0], tensor.device)
    return _gather_padded(tensor.detach(), sizes)
