"""One Cell Tracking Challenge sequence on disk: its files, its frames and its mask centroids.

The layout (https://celltrackingchallenge.net)::

    <root>/<seq>/tTTT.tif                      images, 2-D (Y, X) or 3-D (Z, Y, X)
    <root>/<seq>_GT/TRA/man_trackTTT.tif       ground-truth label masks (0 = background)
    <root>/<seq>_GT/TRA/man_track.txt          one line per track: L B E P
    <root>/<seq>_RES/maskTTT.tif               tracking results (masks) ...
    <root>/<seq>_RES/res_track.txt             ... and their lineage, same format

``TTT`` is the frame number, 3 or 4 digits. :func:`find_ctc_sequence` lists the files and
checks the layout without reading pixels; :func:`label_centroids` turns one label mask into
one centroid per label with ``np.bincount`` (one pass per z plane, no loop over pixels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = ["CTCSequence", "TrackingSource", "find_ctc_sequence", "label_centroids"]

TrackingSource = Literal["auto", "gt", "res"]

_IMAGE = re.compile(r"^t(\d{3,4})\.tiff?$", re.IGNORECASE)
_MASK = re.compile(r"^(man_track|mask)(\d{3,4})\.tiff?$", re.IGNORECASE)
_LINEAGE = {"man_track": "man_track.txt", "mask": "res_track.txt"}
_SHOW = 5


@dataclass(frozen=True)
class CTCSequence:
    """The files of one CTC sequence, checked for layout (no pixel read).

    Attributes
    ----------
    image_dir : Path
        The sequence folder holding ``tTTT.tif``.
    tracking_dir : Path
        The folder of label masks and lineage file (``<seq>_GT/TRA`` or ``<seq>_RES``).
    lineage_file : Path
        ``man_track.txt`` or ``res_track.txt`` in ``tracking_dir``.
    images : tuple of Path
        Image of frame ``t`` at position ``t``; frames run 0..T-1 without holes.
    masks : dict of int to Path
        Label mask per frame; frames without a mask file are absent.
    """

    image_dir: Path
    tracking_dir: Path
    lineage_file: Path
    images: tuple[Path, ...]
    masks: dict[int, Path]

    @property
    def n_frames(self) -> int:
        """Number of frames (images)."""
        return len(self.images)

    @property
    def frames_without_mask(self) -> list[int]:
        """Frames that have an image but no label mask, ascending."""
        return [t for t in range(self.n_frames) if t not in self.masks]


def _frames(folder: Path, pattern: re.Pattern, group: int, what: str) -> dict[int, Path]:
    """Frame number -> file for the files of ``folder`` matching ``pattern``."""
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if not match or not path.is_file():
            continue
        t = int(match.group(group))
        if t in found:
            raise ValueError(
                f"{folder}: frame {t} has two {what} files, {found[t].name!r} and "
                f"{path.name!r}; keep one."
            )
        found[t] = path
    return found


def _tracking_dir(image_dir: Path, source: TrackingSource) -> Path:
    gt = image_dir.parent / f"{image_dir.name}_GT" / "TRA"
    res = image_dir.parent / f"{image_dir.name}_RES"
    candidates = {"gt": [gt], "res": [res], "auto": [gt, res]}[source]
    for folder in candidates:
        if folder.is_dir():
            return folder
    wanted = " or ".join(str(f) for f in candidates)
    raise FileNotFoundError(
        f"CTC sequence {str(image_dir)!r}: no tracking folder; expected {wanted} (label masks "
        "and man_track.txt / res_track.txt). Give the folder with --tracking-dir."
    )


def find_ctc_sequence(
    image_dir: str | Path,
    tracking_dir: str | Path | None = None,
    source: TrackingSource = "auto",
) -> CTCSequence:
    """List and check the files of one CTC sequence.

    Parameters
    ----------
    image_dir : str or Path
        The sequence folder (``<root>/<seq>``) with ``tTTT.tif`` images.
    tracking_dir : str or Path, optional
        Folder of label masks and lineage file; default ``<seq>_GT/TRA`` beside the images
        (``source="gt"``), ``<seq>_RES`` (``source="res"``), or the first that exists
        (``"auto"``).
    source : {"auto", "gt", "res"}, default "auto"
        Which default tracking folder to use when ``tracking_dir`` is not given.

    Returns
    -------
    CTCSequence

    Raises
    ------
    FileNotFoundError
        A missing sequence or tracking folder, no images, no masks, no lineage file.
    ValueError
        Image frames with holes, two files for one frame, masks of frames without an image,
        masks named both ways in one folder.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"CTC sequence folder {str(image_dir)!r} does not exist.")
    images = _frames(image_dir, _IMAGE, 1, "image")
    if not images:
        raise FileNotFoundError(
            f"{image_dir}: no images named tTTT.tif (e.g. t000.tif); is this a CTC sequence "
            "folder such as <root>/01?"
        )
    holes = sorted(set(range(max(images) + 1)) - set(images))
    if holes:
        raise ValueError(
            f"{image_dir}: images of frame(s) {holes[:_SHOW]} are missing ({len(holes)} in "
            f"all); frames must run t000 ... t{max(images):03d} without holes."
        )
    tracking = Path(tracking_dir) if tracking_dir is not None else _tracking_dir(image_dir, source)
    if not tracking.is_dir():
        raise FileNotFoundError(f"CTC tracking folder {str(tracking)!r} does not exist.")
    prefixes = {m.group(1).lower() for p in tracking.iterdir() if (m := _MASK.match(p.name))}
    if not prefixes:
        raise FileNotFoundError(
            f"{tracking}: no label masks named man_trackTTT.tif (ground truth) or maskTTT.tif "
            "(results)."
        )
    if len(prefixes) > 1:
        raise ValueError(
            f"{tracking}: holds both man_trackTTT.tif and maskTTT.tif masks; keep one kind per "
            "folder (ground truth in <seq>_GT/TRA, results in <seq>_RES)."
        )
    prefix = prefixes.pop()
    pattern = re.compile(rf"^{prefix}(\d{{3,4}})\.tiff?$", re.IGNORECASE)
    masks = _frames(tracking, pattern, 1, "mask")
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise ValueError(
            f"{tracking}: masks of frame(s) {orphans[:_SHOW]} have no image in {image_dir} "
            f"(images run 0..{len(images) - 1}); images and masks must be of one sequence."
        )
    lineage = tracking / _LINEAGE[prefix]
    if not lineage.is_file():
        raise FileNotFoundError(
            f"{tracking}: no lineage file {lineage.name} beside the {prefix}TTT.tif masks."
        )
    return CTCSequence(
        image_dir, tracking, lineage, tuple(images[t] for t in range(len(images))), masks
    )


def label_centroids(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel count and centroid of every label of a mask (label 0 is background).

    Parameters
    ----------
    mask : numpy.ndarray
        Integer labels, shape (Y, X) or (Z, Y, X).

    Returns
    -------
    labels : numpy.ndarray
        int64, the labels present, ascending.
    pixels : numpy.ndarray
        int64 pixel (voxel) count per label.
    centroids : numpy.ndarray
        float64, shape (n_labels, mask.ndim): mean (z,) y, x index of each label's pixels.

    Raises
    ------
    ValueError
        If ``mask`` is not integer, holds negative labels or is not 2-D or 3-D.

    Examples
    --------
    >>> mask = np.zeros((4, 6), np.uint16)
    >>> mask[1:3, 2:4] = 7
    >>> labels, pixels, centroids = label_centroids(mask)
    >>> labels.tolist(), pixels.tolist(), centroids.tolist()
    ([7], [4], [[1.5, 2.5]])
    """
    if mask.dtype.kind not in "iu" or mask.ndim not in (2, 3):
        raise ValueError(
            f"a label mask must be a 2-D or 3-D integer array, got {mask.dtype} "
            f"with shape {mask.shape}"
        )
    planes = mask.reshape(-1, *mask.shape[-2:])
    if mask.size and mask.min() < 0:
        raise ValueError(f"a label mask holds negative labels (min {int(mask.min())})")
    top = int(mask.max()) if mask.size else 0
    if top > max(mask.size, 1 << 16):  # sparse huge ids: number them densely first
        ids, codes = np.unique(mask, return_inverse=True)
        planes = codes.reshape(planes.shape)
    else:
        ids = np.arange(top + 1)
    n = ids.size
    height, width = planes.shape[1:]
    yy = np.repeat(np.arange(height, dtype=np.float64), width)
    xx = np.tile(np.arange(width, dtype=np.float64), height)
    pixels = np.zeros(n, np.int64)
    sums = np.zeros((n, 3))
    for z, plane in enumerate(planes):  # one vectorised pass per z plane
        flat = plane.ravel().astype(np.intp, copy=False)
        counts = np.bincount(flat, minlength=n)
        pixels += counts
        sums[:, 0] += z * counts
        sums[:, 1] += np.bincount(flat, weights=yy, minlength=n)
        sums[:, 2] += np.bincount(flat, weights=xx, minlength=n)
    present = (pixels > 0) & (ids != 0)
    centroids = sums[present] / pixels[present, None]
    if mask.ndim == 2:
        centroids = centroids[:, 1:]
    return ids[present].astype(np.int64), pixels[present], centroids
