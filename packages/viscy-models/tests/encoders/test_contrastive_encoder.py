"""ContrastiveEncoder: every stem/depth example of docs/viscy-models.md, and its errors."""

import re
from pathlib import Path

import pytest
import torch

from viscy_models import ContrastiveEncoder
from viscy_models.encoders.contrastive import supported_backbones

# (backbone, embedding_dim, in_stack_depth, stem kernel = stride, stem channels x depth),
# the table in docs/viscy-models.md.
DOC_EXAMPLES = [
    ("convnext_tiny", 768, 15, (5, 4, 4), (32, 3)),
    ("convnext_tiny", 768, 16, (2, 4, 4), (12, 8)),
    ("convnext_atto", 320, 1, (1, 4, 4), (40, 1)),
    ("convnext_atto", 320, 5, (5, 4, 4), (40, 1)),
    ("convnext_atto", 320, 5, (1, 4, 4), (8, 5)),
    ("resnet18", 512, 1, (1, 4, 4), (64, 1)),
    ("resnet18", 512, 5, (5, 2, 2), (64, 1)),
    ("resnet18", 512, 16, (4, 4, 4), (16, 4)),
    ("resnet10t", 512, 1, (1, 2, 2), (24, 1)),
]


@pytest.mark.parametrize(
    ("backbone", "embedding_dim", "depth", "stem", "folded"),
    DOC_EXAMPLES,
    ids=[f"{b}-z{d}-k{s[0]}" for b, _, d, s, _ in DOC_EXAMPLES],
)
def test_documented_stems_fold_and_encode(backbone, embedding_dim, depth, stem, folded):
    encoder = ContrastiveEncoder(
        backbone, in_channels=2, in_stack_depth=depth, stem_kernel_size=stem,
        stem_stride=stem, embedding_dim=embedding_dim, projection_dim=32,
    ).eval()  # fmt: skip
    assert (encoder.stem.out_channels, depth // stem[0]) == folded
    x = torch.randn(3, 2, depth, 64, 64)
    with torch.no_grad():
        features, projections = encoder(x)
        stem_out = encoder.stem(x)
    assert stem_out.shape == (3, folded[0], folded[1], 64 // stem[1], 64 // stem[2])
    assert features.shape == (3, embedding_dim)
    assert projections.shape == (3, 32)
    assert torch.isfinite(features).all() and torch.isfinite(projections).all()


def test_docs_table_lists_exactly_these_examples():
    docs = Path(__file__).resolve().parents[4] / "docs" / "viscy-models.md"
    row = re.compile(
        r"^\| `(\w+)` \(\d+, (\d+)\) \| (\d+) \| \((\d+), (\d+), (\d+)\)[^|]*\| (\d+) x (\d+) \|$"
    )
    rows = [m.groups() for m in map(row.match, docs.read_text().splitlines()) if m]
    documented = [
        (b, int(e), int(d), (int(kz), int(ky), int(kx)), (int(c), int(z)))
        for b, e, d, kz, ky, kx, c, z in rows
    ]
    assert documented == DOC_EXAMPLES


def test_gradients_reach_the_stem():
    encoder = ContrastiveEncoder("resnet10t", 1, 1, (1, 2, 2), (1, 2, 2), 512, 16)
    _, projections = encoder(torch.randn(4, 1, 1, 32, 32))
    projections.square().mean().backward()
    assert encoder.stem.weight.grad.abs().sum() > 0


def test_backbone_keeps_its_own_layers_after_the_first_conv():
    encoder = ContrastiveEncoder("convnext_atto", 2, 1, (1, 4, 4), (1, 4, 4), 320)
    assert isinstance(encoder.backbone.stem[0], torch.nn.Identity)
    assert isinstance(encoder.backbone.stem[1], torch.nn.Module)  # ConvNeXt's stem norm stays


@pytest.mark.parametrize(
    ("backbone", "depth", "stem", "message"),
    [
        ("convnext_tiny", 16, (5, 4, 4), r"in_stack_depth - kernel \(11\) is not a multiple .* "
         r"one of \[1, 2, 4, 8, 16\] works"),
        ("resnet18", 15, (5, 4, 4), r"64 is not divisible by the stem's output depth 3.* "
         r"one of \[15\] works"),
        ("convnext_tiny", 3, (5, 4, 4), r"kernel is deeper \(5\) than the stack.*\[1, 3\] works"),
    ],
    ids=["remainder", "channels", "too-deep"],
)  # fmt: skip
def test_stems_that_cannot_fold_say_what_works(backbone, depth, stem, message):
    embedding_dim = 768 if backbone == "convnext_tiny" else 512
    with pytest.raises(ValueError, match=rf"in_stack_depth={depth} cannot be folded.*{message}"):
        ContrastiveEncoder(backbone, 2, depth, stem, stem, embedding_dim)


@pytest.mark.parametrize(
    ("name", "closest"), [("convnxt_tiny", "convnext_tiny"), ("vit_small", "")]
)
def test_unsupported_backbone_names_the_alternatives(name, closest):
    with pytest.raises(ValueError, match=rf"backbone='{name}' is not a supported .*{closest}.*"
                       r"'resnet18'"):  # fmt: skip
        ContrastiveEncoder(name)


def test_embedding_dim_must_match_the_backbone():
    with pytest.raises(ValueError, match=r"embedding_dim=768 .* 'resnet18'.*set embedding_dim=512"):
        ContrastiveEncoder("resnet18", in_stack_depth=1, stem_kernel_size=(1, 4, 4),
                           stem_stride=(1, 4, 4))  # fmt: skip


@pytest.mark.parametrize("stem", [(5, 4), (0, 4, 4)])
def test_rejects_malformed_stem(stem):
    with pytest.raises(ValueError, match=r"stem_kernel_size must be three positive ints"):
        ContrastiveEncoder("convnext_atto", 2, 5, stem, (5, 4, 4), 320)


def test_input_of_the_wrong_shape_is_a_value_error():
    encoder = ContrastiveEncoder("convnext_atto", 2, 5, (5, 4, 4), (5, 4, 4), 320)
    with pytest.raises(
        ValueError, match=r"expected input of shape \(B, 2, 5, Y, X\), got \(1, 2, 1"
    ):
        encoder(torch.zeros(1, 2, 1, 64, 64))


def test_supported_backbones_are_convnext_and_resnet_only():
    names = supported_backbones()
    assert {"convnext_tiny", "convnext_atto", "resnet18", "resnet10t"} <= set(names)
    assert all(n.startswith(("convnext", "resnet")) and "clip" not in n for n in names)
    assert "resnext50_32x4d" not in names
