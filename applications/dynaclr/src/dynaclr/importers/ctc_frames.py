"""A CTC sequence's frames: images copied into the plate, label masks turned into centroids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import tifffile

from dynaclr.importers.ctc_sequence import CTCSequence, label_centroids

__all__ = ["copy_frames", "first_frame", "read_tiff"]


def read_tiff(path: Path) -> np.ndarray:
    try:
        return tifffile.imread(path)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: cannot read TIFF ({type(err).__name__}: {err}).") from err


def first_frame(seq: CTCSequence) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of frame 0, read from the TIFF header."""
    path = seq.images[0]
    try:
        with tifffile.TiffFile(path) as tif:
            shape, dtype = tuple(tif.series[0].shape), np.dtype(tif.series[0].dtype)
    except (ValueError, OSError, IndexError) as err:
        raise ValueError(f"{path}: cannot read TIFF ({type(err).__name__}: {err}).") from err
    if len(shape) not in (2, 3):
        raise ValueError(
            f"{path}: image shape {shape} is neither 2-D (Y, X) nor 3-D (Z, Y, X); CTC images "
            "hold one channel."
        )
    return shape, dtype


def copy_frames(seq: CTCSequence, array, shape: tuple[int, ...], dtype: np.dtype) -> pl.DataFrame:
    """Write each frame into ``array`` (T, 1, Z, Y, X); return the mask centroids."""
    rows = []
    axes = ("z", "y", "x")[-len(shape) :]
    for t, path in enumerate(seq.images):
        image = read_tiff(path)
        if image.shape != shape or image.dtype != dtype:
            raise ValueError(
                f"{path}: image is {image.dtype} {image.shape}, but frame 0 "
                f"({seq.images[0].name}) is {dtype} {shape}; every frame of a sequence has one "
                "shape and dtype."
            )
        array[t, 0] = image.reshape(array.shape[2:])
        if t not in seq.masks:
            continue
        mask = read_tiff(seq.masks[t])
        if mask.shape != shape:
            raise ValueError(
                f"{seq.masks[t]}: mask shape {mask.shape} differs from its image {path.name} "
                f"{shape}; masks and images must have the same shape."
            )
        try:
            labels, pixels, centroids = label_centroids(mask)
        except ValueError as err:
            raise ValueError(f"{seq.masks[t]}: {err}.") from err
        frame = {"track_id": labels, "t": np.full(labels.size, t, np.int64)}
        frame.update({a: centroids[:, i] for i, a in enumerate(axes)})
        rows.append(pl.DataFrame({**frame, "mask_pixels": pixels}))
    if rows:
        return pl.concat(rows)
    schema = {"track_id": pl.Int64, "t": pl.Int64, **dict.fromkeys(axes, pl.Float64)}
    return pl.DataFrame(schema={**schema, "mask_pixels": pl.Int64})
