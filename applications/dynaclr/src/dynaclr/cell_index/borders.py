"""Image borders: patch and z-range checks, crop centres shifted inward.

A patch of size P along an axis covers pixels ``[c - P // 2, c - P // 2 + P)`` around the
integer centre ``c``. A centroid ``y`` (in pixels, ``0 <= y < height``) lies in pixel
``floor(y)``; the crop centre is that pixel clipped to ``[P // 2, height - P + P // 2]``, so
the patch always fits and cells near the edge are kept, shifted inward. Centroids outside
``[0, height) x [0, width)`` are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import polars as pl

from dynaclr.cell_index.track_values import locate

__all__ = [
    "check_fov_shapes",
    "check_some_inside",
    "crop_centres",
    "inside_image",
    "normalize_patch",
    "normalize_z_range",
    "patch_corner",
    "report_outside",
]

_logger = logging.getLogger(__name__)


def normalize_z_range(z_range: slice | Sequence[int]) -> slice:
    """Return ``z_range`` as ``slice(start, stop)`` with ``0 <= start < stop``.

    Raises
    ------
    ValueError
        If it is not a slice or (start, stop) pair of integers with ``0 <= start < stop``.
    """
    if isinstance(z_range, slice):
        if z_range.step not in (None, 1):
            raise ValueError(f"z_range must have step 1, got {z_range!r}.")
        pair = (z_range.start, z_range.stop)
    else:
        try:
            pair = tuple(z_range)
        except TypeError:
            pair = ()
    ok = len(pair) == 2 and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in pair
    )
    if not ok or not 0 <= pair[0] < pair[1]:
        raise ValueError(
            f"z_range must be slice(start, stop) or (start, stop) with integers "
            f"0 <= start < stop, got {z_range!r}; e.g. slice(0, 1) for 2-D data."
        )
    return slice(int(pair[0]), int(pair[1]))


def normalize_patch(yx_patch_size: Sequence[int]) -> tuple[int, int]:
    """Return ``yx_patch_size`` as a ``(height, width)`` pair of positive integers."""
    try:
        pair = tuple(yx_patch_size)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0 for v in pair
    ):
        raise ValueError(
            f"yx_patch_size must be (height, width) in pixels, positive integers, "
            f"got {yx_patch_size!r}."
        )
    return int(pair[0]), int(pair[1])


def check_fov_shapes(fovs: pl.DataFrame, yx_patch_size: tuple[int, int], z_range: slice) -> None:
    """Reject FOVs smaller than the patch or shallower than ``z_range``.

    Parameters
    ----------
    fovs : polars.DataFrame
        Columns ``experiment, fov_name, store_path, depth, image_height, image_width``.
    yx_patch_size : (int, int)
        Patch height and width in pixels.
    z_range : slice
        Normalised z slices to read.

    Raises
    ------
    ValueError
        Naming the experiment, store, FOV and both sizes.
    """
    patch_y, patch_x = yx_patch_size
    small = fovs.filter((pl.col("image_height") < patch_y) | (pl.col("image_width") < patch_x))
    if small.height:
        row = small.row(0, named=True)
        raise ValueError(
            f"yx_patch_size={yx_patch_size!r} is larger than the image of experiment "
            f"{row['experiment']!r}, {row['store_path']} FOV {row['fov_name']!r} "
            f"(height x width = {row['image_height']} x {row['image_width']}; {small.height} "
            "FOV(s) affected). Use a patch no larger than the smallest image."
        )
    shallow = fovs.filter(pl.col("depth") < z_range.stop)
    if shallow.height:
        row = shallow.row(0, named=True)
        raise ValueError(
            f"z_range={z_range!r} is outside the stack of experiment {row['experiment']!r}, "
            f"{row['store_path']} FOV {row['fov_name']!r}, which has {row['depth']} z slice(s) "
            f"(valid: 0 <= start < stop <= {row['depth']})."
        )


def inside_image(y: np.ndarray, x: np.ndarray, height: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Whether each centroid lies in ``[0, height) x [0, width)``."""
    return (y >= 0) & (y < height) & (x >= 0) & (x < width)


def crop_centres(coord: np.ndarray, size: np.ndarray, patch: int) -> np.ndarray:
    """Integer crop centre per centroid, shifted inward so the patch fits in ``size``.

    Parameters
    ----------
    coord : numpy.ndarray
        Centroid coordinate in pixels (inside the image).
    size : numpy.ndarray
        Image extent along that axis per centroid.
    patch : int
        Patch extent along that axis (<= size).

    Returns
    -------
    numpy.ndarray
        int32 centres ``clip(floor(coord), patch // 2, size - patch + patch // 2)``.

    Examples
    --------
    >>> crop_centres(np.array([0.4, 50.0, 99.9]), np.array([100, 100, 100]), 32).tolist()
    [16, 50, 84]
    """
    half = patch // 2
    return np.clip(np.floor(coord), half, size - patch + half).astype(np.int32)


def patch_corner(centre: np.ndarray, patch: int) -> np.ndarray:
    """First pixel of a patch of size ``patch`` around an integer crop centre: ``c - patch // 2``.

    Examples
    --------
    >>> patch_corner(np.array([16, 50]), 32).tolist()
    [0, 34]
    """
    return np.asarray(centre, dtype=np.int64) - patch // 2


def report_outside(keep: np.ndarray, exp_idx: np.ndarray, exp_names: list[str]) -> dict:
    """Warn per experiment about dropped centroids; return ``experiment -> dropped count``."""
    total = np.bincount(exp_idx, minlength=len(exp_names))
    dropped = np.bincount(exp_idx[~keep], minlength=len(exp_names))
    for i, name in enumerate(exp_names):
        if dropped[i]:
            _logger.warning(
                "Experiment %r: dropped %d of %d observations whose centroid lies outside "
                "the image.",
                name,
                dropped[i],
                total[i],
            )
    return {name: int(dropped[i]) for i, name in enumerate(exp_names)}


def check_some_inside(keep, fov_idx, exp_of_fov, fovs, fov_labels, sources, yx) -> None:
    """Raise for the first experiment whose centroids all lie outside, naming files and sizes."""
    exp_idx = exp_of_fov[fov_idx]
    kept = np.bincount(exp_idx[keep], minlength=int(exp_of_fov.max(initial=0)) + 1)
    lost = np.flatnonzero(kept[exp_idx] == 0)
    if not lost.size:
        return
    r = int(lost[0])
    experiment, fov_name = fov_labels[fov_idx[r]]
    row = fovs.row(int(fov_idx[r]), named=True)
    raise ValueError(
        f"Experiment {experiment!r}: all {int((exp_idx == exp_idx[r]).sum())} cell centroids "
        f"lie outside the images, e.g. y={float(yx[0][r]):g}, x={float(yx[1][r]):g} in "
        f"{locate(sources, experiment, fov_name)}, whose image in {row['store_path']} is "
        f"{row['image_height']} x {row['image_width']} pixels (height x width); check that y/x "
        "are in pixels of the full-resolution array (not swapped, not in micrometres)."
    )
