"""3D stem + timm 2D backbone + projection head."""

import difflib
import re
from collections.abc import Sequence

from torch import Tensor, nn

# timm families this encoder is built and tested for; CLIP variants pool at a fixed size.
_SUPPORTED = re.compile(r"^(convnext|convnextv2|resnet|resnetv2)")
_EXAMPLES = "'convnext_tiny', 'convnext_atto', 'resnet18', 'resnet10t'"


def supported_backbones() -> list[str]:
    """Names of the timm ConvNeXt and ResNet models that `ContrastiveEncoder` accepts."""
    import timm  # imported here: timm pulls in torchvision, seconds that loss-only users skip

    return [m for m in timm.list_models() if _SUPPORTED.match(m) and "clip" not in m]


def _triple(name: str, value: Sequence[int]) -> tuple[int, int, int]:
    values = tuple(value)
    if len(values) != 3 or not all(isinstance(v, int) and v >= 1 for v in values):
        raise ValueError(f"{name} must be three positive ints (Z, Y, X), got {value!r}")
    return values


def _stem_depth(in_stack_depth: int, kernel_z: int, stride_z: int, first_channels: int) -> int:
    """Return the stem's output depth, or raise a ValueError saying what would fold."""
    if in_stack_depth < 1:
        raise ValueError(f"in_stack_depth must be >= 1, got {in_stack_depth!r}")
    depth_out = (in_stack_depth - kernel_z) // stride_z + 1
    if kernel_z > in_stack_depth:
        reason = f"the stem kernel is deeper ({kernel_z}) than the stack"
    elif (in_stack_depth - kernel_z) % stride_z:
        extra = in_stack_depth - kernel_z
        reason = f"in_stack_depth - kernel ({extra}) is not a multiple of the stride"
    elif first_channels % depth_out:
        reason = f"{first_channels} is not divisible by the stem's output depth {depth_out}"
    else:
        return depth_out
    # With kernel Z = stride Z (the usual choice), k must divide the depth and the
    # backbone's first channels must split evenly over depth / k slices.
    divisors = [k for k in range(1, in_stack_depth + 1) if in_stack_depth % k == 0]
    fits = [k for k in divisors if first_channels % (in_stack_depth // k) == 0]
    raise ValueError(
        f"in_stack_depth={in_stack_depth} cannot be folded into the backbone's "
        f"{first_channels} first-layer channels with stem_kernel_size Z={kernel_z} and "
        f"stem_stride Z={stride_z}: {reason}. For in_stack_depth={in_stack_depth}, setting "
        f"both stem_kernel_size[0] and stem_stride[0] to one of {fits} works."
    )


class ContrastiveEncoder(nn.Module):
    """Encode (B, C, Z, Y, X) patches into features and projections for contrastive learning.

    A Conv3d stem maps the stack to ``(B, C0 / D', D', Y', X')`` and folds its output
    depth ``D'`` into channels, replacing the first convolution of a timm 2D backbone
    (``C0`` is that convolution's output channels: 96 for ``convnext_tiny``, 40 for
    ``convnext_atto``, 64 for ``resnet18``, 24 for ``resnet10t``). The backbone's pooled
    features go through a projection MLP (Linear, BatchNorm, ReLU, Linear, BatchNorm), as in
    SimCLR (Chen et al., ICML 2020).

    Parameters
    ----------
    backbone : str
        timm ConvNeXt or ResNet name (see `supported_backbones`), default ``"convnext_tiny"``.
    in_channels : int
        Input channels ``C``, default 2.
    in_stack_depth : int
        Input depth ``Z`` in slices, default 15.
    stem_kernel_size, stem_stride : tuple of int
        Conv3d stem kernel and stride in (Z, Y, X), default ``(5, 4, 4)`` both. The output
        depth ``(Z - kernel_z) / stride_z + 1`` must be a whole number dividing ``C0``.
    embedding_dim : int
        Backbone feature size (its ``num_features``: 768 for ``convnext_tiny``, 320 for
        ``convnext_atto``, 512 for ``resnet18``), default 768.
    projection_dim : int
        Output size of the projection head, default 128.
    drop_path_rate : float
        Stochastic depth rate passed to timm, default 0.0.
    pretrained : bool
        Load timm's ImageNet weights (needs network access), default False. The first
        convolution is replaced by the stem either way.

    Raises
    ------
    ValueError
        For an unsupported backbone name, a stem/depth combination that does not fold
        evenly, or an ``embedding_dim`` that differs from the backbone's feature size.

    Examples
    --------
    >>> import torch
    >>> encoder = ContrastiveEncoder("convnext_atto", in_channels=2, in_stack_depth=5,
    ...     stem_kernel_size=(5, 4, 4), stem_stride=(5, 4, 4), embedding_dim=320)
    >>> features, projections = encoder(torch.zeros(2, 2, 5, 64, 64))
    >>> tuple(features.shape), tuple(projections.shape)
    ((2, 320), (2, 128))
    """

    def __init__(
        self,
        backbone: str = "convnext_tiny",
        in_channels: int = 2,
        in_stack_depth: int = 15,
        stem_kernel_size: Sequence[int] = (5, 4, 4),
        stem_stride: Sequence[int] = (5, 4, 4),
        embedding_dim: int = 768,
        projection_dim: int = 128,
        drop_path_rate: float = 0.0,
        pretrained: bool = False,
    ) -> None:
        super().__init__()
        supported = supported_backbones()
        if backbone not in supported:
            near = difflib.get_close_matches(str(backbone), supported, n=4)
            raise ValueError(
                f"backbone={backbone!r} is not a supported timm ConvNeXt or ResNet name. "
                f"Closest: {near}; small CPU-friendly choices: {_EXAMPLES}."
            )
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels!r}")
        kernel = _triple("stem_kernel_size", stem_kernel_size)
        stride = _triple("stem_stride", stem_stride)

        import timm

        net = timm.create_model(
            backbone, pretrained=pretrained, num_classes=0, drop_path_rate=drop_path_rate
        )
        first_conv = net.pretrained_cfg["first_conv"]
        first_channels = net.get_submodule(first_conv).out_channels
        if net.num_features != embedding_dim:
            raise ValueError(
                f"embedding_dim={embedding_dim!r} does not match {backbone!r}, whose pooled "
                f"features have {net.num_features} channels: set embedding_dim="
                f"{net.num_features}."
            )
        depth_out = _stem_depth(in_stack_depth, kernel[0], stride[0], first_channels)
        net.set_submodule(first_conv, nn.Identity())

        self.backbone_name = backbone
        self.in_channels = in_channels
        self.in_stack_depth = in_stack_depth
        self.embedding_dim = embedding_dim
        self.projection_dim = projection_dim
        self.stem = nn.Conv3d(
            in_channels, first_channels // depth_out, kernel_size=kernel, stride=stride
        )
        self.backbone = net
        self.projection = nn.Sequential(
            nn.Linear(embedding_dim, embedding_dim),
            nn.BatchNorm1d(embedding_dim),
            nn.ReLU(inplace=True),
            nn.Linear(embedding_dim, projection_dim),
            nn.BatchNorm1d(projection_dim),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encode a batch.

        Parameters
        ----------
        x : Tensor
            Shape ``(B, C, Z, Y, X)`` with ``C = in_channels`` and ``Z = in_stack_depth``.

        Returns
        -------
        features : Tensor
            Backbone features, shape ``(B, embedding_dim)``.
        projections : Tensor
            Projection head output, shape ``(B, projection_dim)``.
        """
        if x.ndim != 5 or x.shape[1] != self.in_channels or x.shape[2] != self.in_stack_depth:
            raise ValueError(
                f"expected input of shape (B, {self.in_channels}, {self.in_stack_depth}, Y, X), "
                f"got {tuple(x.shape)}"
            )
        stem = self.stem(x)
        folded = stem.flatten(1, 2)
        features = self.backbone(folded)
        return features, self.projection(features)
