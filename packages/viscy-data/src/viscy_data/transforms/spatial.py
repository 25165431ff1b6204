"""Spatial transforms in YX: a random affine warp (kornia) and the final centre crop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from kornia.geometry.transform import get_affine_matrix2d, warp_affine
from torch import Tensor

from viscy_data.normalization import NormMeta
from viscy_data.transforms.base import (
    BatchTransform,
    RandomBatchTransform,
    _is_index,
    check_batch,
    check_range,
    float_dtypes,
)

__all__ = ["CenterCrop", "RandomAffine"]


class RandomAffine(RandomBatchTransform):
    """Random rotation, isotropic scale and shear in YX about the patch centre, per sample.

    All Z slices (and all selected channels) of a sample share one transform. The warp is kornia's
    ``warp_affine`` (``align_corners=True``), computed in float32 (float64 for float64 input) and
    cast back to the input dtype. With every range at its identity value (rotation and shear
    ``(0, 0)``, scale ``(1, 1)``) the output equals the input up to float rounding.

    Parameters
    ----------
    rotation_degrees : tuple[float, float]
        Rotation angle range in degrees, positive clockwise as displayed (default ``(-180, 180)``).
    scale_range : tuple[float, float]
        Zoom factor range, > 1 magnifies (default ``(0.9, 1.1)``; values > 0).
    shear_degrees : tuple[float, float]
        Range of the shear angles in degrees; the X and Y shears are drawn independently from it
        (default ``(0.0, 0.0)``: no shear; values in (-90, 90)).
    mode : {"bilinear", "nearest"}
        Interpolation (default ``"bilinear"``).
    padding_mode : {"reflection", "border", "zeros"}
        Values for pixels mapped from outside the patch (default ``"reflection"``, which avoids
        artificial dark corners the model could learn from).
    prob : float
        Probability per sample of applying it (default 0.5).
    channels : Sequence[int] or None
        Channel positions to warp; None (default) warps all, which keeps channels registered.
    """

    def __init__(
        self,
        rotation_degrees: tuple[float, float] = (-180.0, 180.0),
        scale_range: tuple[float, float] = (0.9, 1.1),
        shear_degrees: tuple[float, float] = (0.0, 0.0),
        mode: Literal["bilinear", "nearest"] = "bilinear",
        padding_mode: Literal["reflection", "border", "zeros"] = "reflection",
        prob: float = 0.5,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(prob=prob, channels=channels)
        self.rotation_degrees = check_range("rotation_degrees", rotation_degrees)
        self.scale_range = check_range("scale_range", scale_range, minimum=0.0, exclusive=True)
        low, high = check_range("shear_degrees", shear_degrees)
        if not (-90.0 < low and high < 90.0):
            raise ValueError(f"shear_degrees must lie in (-90, 90), got {shear_degrees!r}.")
        self.shear_degrees = (low, high)
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}.")
        if padding_mode not in ("reflection", "border", "zeros"):
            raise ValueError(
                f"padding_mode must be 'reflection', 'border' or 'zeros', got {padding_mode!r}."
            )
        self.mode = mode
        self.padding_mode = padding_mode

    def draw_matrices(
        self, batch_size: int, height: int, width: int, generator: torch.Generator | None
    ) -> Tensor:
        """Draw ``(B, 2, 3)`` float32 CPU affine matrices in pixel coordinates (x, y)."""
        angle = self.draw_uniform(*self.rotation_degrees, batch_size, generator)
        scale = self.draw_uniform(*self.scale_range, batch_size, generator)
        shear = torch.deg2rad(
            self.draw_uniform(*self.shear_degrees, 2 * batch_size, generator).view(batch_size, 2)
        )
        centre = torch.tensor([[(width - 1) / 2.0, (height - 1) / 2.0]]).expand(batch_size, 2)
        matrix = get_affine_matrix2d(
            translations=torch.zeros(batch_size, 2),
            center=centre,
            scale=scale[:, None].expand(batch_size, 2),
            angle=angle,
            sx=shear[:, 0],
            sy=shear[:, 1],
        )
        return matrix[:, :2, :]

    def apply(
        self,
        x: Tensor,
        positions: tuple[int, ...],
        norm_meta: NormMeta | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        b, c, z, h, w = x.shape
        mask = self.draw_mask(b, generator)
        matrix = self.draw_matrices(b, h, w, generator)
        compute, out = float_dtypes(x)
        planes = x.to(compute).reshape(b, c * z, h, w)
        warped = warp_affine(
            planes,
            matrix.to(x.device, compute),
            dsize=(h, w),
            mode=self.mode,
            padding_mode=self.padding_mode,
            align_corners=True,
        )
        return self.select(mask, warped.view(b, c, z, h, w).to(out), x)

    def extra_repr(self) -> str:
        return (
            f"rotation_degrees={self.rotation_degrees}, scale_range={self.scale_range}, "
            f"shear_degrees={self.shear_degrees}, mode={self.mode!r}, "
            f"padding_mode={self.padding_mode!r}, {super().extra_repr()}"
        )


class CenterCrop(BatchTransform):
    """Crop the centre ``size = (Y, X)`` of every sample (all channels and Z slices).

    When a dimension's margin is odd, the extra pixel is dropped at the end (bottom/right).

    Parameters
    ----------
    size : tuple[int, int]
        Output ``(Y, X)`` size in pixels, each >= 1.

    Raises
    ------
    ValueError
        When the batch is smaller than ``size`` in Y or X.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__(channels=None)
        if (
            isinstance(size, str | bytes)
            or len(size) != 2
            or any(not _is_index(s) or s < 1 for s in size)
        ):
            raise ValueError(f"size must be a pair (Y, X) of positive integers, got {size!r}.")
        self.size = (int(size[0]), int(size[1]))

    def forward(
        self,
        x: Tensor,
        norm_meta: NormMeta | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        check_batch(x, "CenterCrop")
        height, width = x.shape[-2:]
        if height < self.size[0] or width < self.size[1]:
            raise ValueError(
                f"CenterCrop(size={self.size}) needs a batch at least that large in (Y, X), got "
                f"{(height, width)}. Use a yx_patch_size >= the final patch size."
            )
        top = (height - self.size[0]) // 2
        left = (width - self.size[1]) // 2
        crop = x[..., top : top + self.size[0], left : left + self.size[1]]
        return crop.clone(memory_format=torch.contiguous_format)

    def extra_repr(self) -> str:
        return f"size={self.size}"
