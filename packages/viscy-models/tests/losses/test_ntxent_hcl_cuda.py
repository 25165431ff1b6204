"""NTXentHCL on a CUDA device: same loss and gradients as on the CPU, memory linear in N."""

import pytest
import torch

from viscy_models import NTXentHCL

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _loss_and_grad(embeddings: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    x = embeddings.clone().requires_grad_(True)
    labels = torch.arange(len(x) // 2, device=x.device).repeat(2)
    loss = NTXentHCL(temperature=0.1, beta=beta)(x, labels)
    loss.backward()
    return loss.detach(), x.grad


@pytest.mark.parametrize("beta", [0.0, 0.5])
@pytest.mark.parametrize("n", [512, 4096])
def test_cuda_matches_cpu(n, beta):
    embeddings = torch.randn(n, 128, generator=torch.Generator().manual_seed(n))
    cpu_loss, cpu_grad = _loss_and_grad(embeddings, beta)
    gpu_loss, gpu_grad = _loss_and_grad(embeddings.cuda(), beta)
    torch.testing.assert_close(gpu_loss.cpu(), cpu_loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gpu_grad.cpu(), cpu_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_cuda_memory_is_linear_in_n(beta):
    """N = 16384 in float32: a full N x N similarity matrix alone would need 1 GiB."""
    embeddings = torch.randn(16384, 128, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    loss, grad = _loss_and_grad(embeddings, beta)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert peak < 256 * 2**20, f"peak {peak / 2**20:.0f} MiB over the inputs"


def test_bf16_autocast_on_cuda_gives_finite_gradients():
    embeddings = torch.randn(2048, 128, device="cuda")
    x = embeddings.clone().requires_grad_(True)
    labels = torch.arange(1024, device="cuda").repeat(2)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = NTXentHCL(temperature=0.05, beta=0.5)(x @ torch.eye(128, device="cuda"), labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    reference = NTXentHCL(temperature=0.05, beta=0.5)(embeddings, labels)
    assert abs(loss.item() - reference.item()) < 0.05 * reference.item()
