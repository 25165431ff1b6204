"""NTXentHCL against pytorch-metric-learning (beta = 0) and the paper's formula (beta > 0)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_metric_learning.losses import NTXentLoss

import viscy_models.losses.ntxent_hcl as ntxent_hcl
from viscy_models import NTXentHCL


def reference_hcl(embeddings, labels, temperature, beta):
    """Robinson et al. (ICLR 2021) with tau_plus = 0, written out one positive pair at a time."""
    z = torch.nn.functional.normalize(embeddings.double(), dim=1)
    losses = []
    for i in range(len(z)):
        negatives = [n for n in range(len(z)) if labels[n] != labels[i]]
        for p in range(len(z)):
            if p == i or labels[p] != labels[i]:
                continue
            if not negatives:
                losses.append(z.new_zeros(()))
                continue
            s_in = torch.stack([z[i] @ z[n] for n in negatives]) / temperature
            weights = torch.exp(beta * s_in) / torch.exp(beta * s_in).mean()
            pos = torch.exp(z[i] @ z[p] / temperature)
            losses.append(-torch.log(pos / (pos + (weights * torch.exp(s_in)).sum())))
    return torch.stack(losses).mean() if losses else z.new_zeros(())


def pair_labels(batch_size):
    return torch.arange(batch_size).repeat(2)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
@pytest.mark.parametrize(
    "labels", [pair_labels(32), torch.randint(0, 6, (64,))], ids=["pairs", "classes"]
)
def test_beta_zero_matches_pytorch_metric_learning(temperature, labels):
    embeddings = torch.randn(len(labels), 16, generator=torch.Generator().manual_seed(0))
    ours = NTXentHCL(temperature=temperature, beta=0.0)(embeddings, labels)
    theirs = NTXentLoss(temperature=temperature)(embeddings, labels)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 2.0])
@pytest.mark.parametrize("temperature", [0.05, 0.2])
def test_matches_reference_value_and_gradient(beta, temperature):
    gen = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3, 4, 4])
    x = torch.randn(len(labels), 6, dtype=torch.float64, generator=gen, requires_grad=True)
    ours = NTXentHCL(temperature, beta)(x, labels)
    (grad_ours,) = torch.autograd.grad(ours, x)
    ref = reference_hcl(x, labels, temperature, beta)
    (grad_ref,) = torch.autograd.grad(ref, x)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("beta", [0.0, 0.8])
def test_row_blocks_give_the_same_loss_and_gradients(monkeypatch, beta):
    x = torch.randn(24, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x.requires_grad_(True)
    labels = torch.randint(0, 7, (24,), generator=torch.Generator().manual_seed(3))
    whole = NTXentHCL(0.1, beta)(x, labels)
    (grad_whole,) = torch.autograd.grad(whole, x)
    monkeypatch.setattr(ntxent_hcl, "_BLOCK_ENTRIES", 3 * 24)  # blocks of 3 rows
    assert torch.autograd.gradcheck(lambda z: NTXentHCL(0.1, beta)(z, labels), (x,))
    blocked = NTXentHCL(0.1, beta)(x, labels)
    (grad_blocked,) = torch.autograd.grad(blocked, x)
    torch.testing.assert_close(blocked, whole, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_blocked, grad_whole, rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    batch_size=st.integers(2, 24),
    beta=st.floats(0.05, 3.0),
    temperature=st.floats(0.03, 1.0),
)
def test_hard_negative_concentration_never_lowers_the_loss(seed, batch_size, beta, temperature):
    x = torch.randn(2 * batch_size, 8, generator=torch.Generator().manual_seed(seed))
    labels = pair_labels(batch_size)
    plain = NTXentHCL(temperature, 0.0)(x, labels)
    hard = NTXentHCL(temperature, beta)(x, labels)
    assert hard >= plain - 1e-5 * (1 + plain.abs())


def test_planted_hard_negative_raises_the_loss_more_with_beta():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(16, 32, generator=gen)
    labels = pair_labels(8)
    planted = x.clone()
    planted[1] = x[0] + 0.05 * torch.randn(32, generator=gen)  # a near-copy of anchor 0
    rise = {}
    for beta in (0.0, 1.0):
        loss = NTXentHCL(0.1, beta)
        before, after = loss(x, labels), loss(planted, labels)
        assert after > before
        rise[beta] = (after - before).item()
    assert rise[1.0] > rise[0.0]


def test_gradients_finite_under_bf16_autocast_at_low_temperature():
    torch.manual_seed(5)
    layer = torch.nn.Linear(32, 16)
    x = torch.randn(64, 32) * 20
    with torch.autocast("cpu", dtype=torch.bfloat16):
        embeddings = layer(x)
        assert embeddings.dtype == torch.bfloat16
        loss = NTXentHCL(temperature=0.05, beta=1.0)(embeddings, pair_labels(32))
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
    reference = NTXentHCL(temperature=0.05, beta=1.0)(embeddings.float(), pair_labels(32))
    torch.testing.assert_close(loss, reference)


def test_extreme_temperature_does_not_overflow():
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(6), requires_grad=True)
    loss = NTXentHCL(temperature=1e-3, beta=2.0)(x, pair_labels(16))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("labels", "negatives"),
    [(torch.zeros(6, dtype=torch.long), 0.0), (torch.tensor([0, 0]), 0.0)],
    ids=["one-label", "one-pair"],
)
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_no_negatives_gives_a_finite_zero(labels, negatives, beta):
    x = torch.randn(len(labels), 4, generator=torch.Generator().manual_seed(7), requires_grad=True)
    loss_fn = NTXentHCL(0.1, beta)
    loss = loss_fn(x, labels)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(x.grad, torch.zeros_like(x))
    assert loss_fn.last_negatives_per_anchor.item() == negatives


def test_anchors_without_negatives_contribute_zero():
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 1, 1])
    torch.testing.assert_close(NTXentHCL(0.2, 0.5)(x, labels), reference_hcl(x, labels, 0.2, 0.5))


def test_no_positive_pairs_gives_zero():
    x = torch.randn(5, 4, requires_grad=True)
    loss = NTXentHCL()(x, torch.arange(5))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


def test_reports_negatives_per_anchor():
    loss_fn = NTXentHCL()
    loss_fn(torch.randn(20, 4), pair_labels(10))
    assert loss_fn.last_negatives_per_anchor.item() == 18.0


@pytest.mark.parametrize("temperature", [0, -0.1, math.nan, math.inf, "0.1"])
def test_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match=r"temperature must be .*> 0, got"):
        NTXentHCL(temperature=temperature)


@pytest.mark.parametrize("beta", [math.nan, math.inf, -0.5])
def test_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match=r"beta must be a finite number >= 0, got"):
        NTXentHCL(beta=beta)


def test_rejects_mismatched_shapes():
    with pytest.raises(
        ValueError, match=r"expected embeddings of shape \(N, D\).*\(8, 4\) and \(6,\)"
    ):
        NTXentHCL()(torch.randn(8, 4), torch.arange(6))
