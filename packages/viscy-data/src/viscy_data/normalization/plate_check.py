"""What ``dynaclr preprocess`` checks before it reads a pixel: plate, channels, levels, writes."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from viscy_data.messages import unknown_names_message
from viscy_data.normalization.statistics import LEVELS
from viscy_data.readers.fov_attributes import fov_attributes_file
from viscy_data.readers.ome_zarr import PlateInfo, read_plate

__all__ = ["check_plate", "default_num_workers", "selected_channels", "selected_levels"]


def default_num_workers() -> int:
    """Worker threads by default: the CPUs this process may use, at most 4."""
    return min(4, len(os.sched_getaffinity(0)))


def selected_levels(levels: Sequence[str] | None) -> tuple[str, ...]:
    """The levels asked for, in :data:`LEVELS` order; all of them for None."""
    if levels is None:
        return LEVELS
    unknown = [level for level in levels if level not in LEVELS]
    if unknown or not levels:
        subject = f"levels {unknown} are not normalization levels" if unknown else "no level"
        raise ValueError(
            unknown_names_message(subject, unknown, LEVELS, known_label="valid levels")
        )
    return tuple(level for level in LEVELS if level in levels)


def selected_channels(plate: PlateInfo, channels: Sequence[str] | None) -> tuple[str, ...]:
    """The channels asked for, in the order given, once each; every channel for None."""
    if channels is None:
        return plate.channel_names
    unknown = [c for c in channels if c not in plate.channel_names]
    if unknown or not channels:
        subject = (
            f"{plate.store_path}: channels {unknown} are not in this plate"
            if unknown
            else f"{plate.store_path}: no channel selected"
        )
        raise ValueError(
            unknown_names_message(subject, unknown, plate.channel_names, known_label="its channels")
        )
    return tuple(dict.fromkeys(channels))


def _check_writable(fov) -> None:
    path = fov_attributes_file(fov)
    folder_ok = os.access(path.parent, os.W_OK | os.X_OK)
    if not (folder_ok and os.access(path, os.W_OK)):
        raise PermissionError(
            f"{fov.store_path}: FOV {fov.fov_name!r}: cannot write its metadata file "
            f"{str(path)!r} (read-only plate or no write permission). Preprocessing writes each "
            "FOV's 'normalization' attribute in place: make the plate writable "
            "(chmod -R u+w) or preprocess a copy."
        )


def check_plate(
    plate: str | os.PathLike | PlateInfo,
    channels: Sequence[str] | None = None,
    levels: Sequence[str] | None = None,
    *,
    writable: bool = True,
) -> PlateInfo:
    """Read a plate's metadata and check that it can be preprocessed, before any pixel read.

    Parameters
    ----------
    plate : str, os.PathLike or PlateInfo
        OME-Zarr HCS plate (NGFF 0.4 or 0.5), or its metadata from
        :func:`~viscy_data.readers.read_plate`.
    channels : sequence of str, optional
        Channel names to compute; default every channel.
    levels : sequence of str, optional
        Levels of :data:`~viscy_data.normalization.LEVELS`; default all three.
    writable : bool, default True
        Also check that every FOV's metadata file can be replaced.

    Returns
    -------
    PlateInfo

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        Not a plate, an unknown channel or level, an empty FOV (an axis of length 0) or a
        non-numeric dtype; or a URL when ``writable``.
    PermissionError
        A FOV's metadata file or folder is not writable (when ``writable``).
    """
    if not isinstance(plate, PlateInfo):
        path = os.fspath(plate)
        if os.path.isfile(path):
            raise ValueError(
                f"{path!r} is not an OME-Zarr HCS plate: it is a file; give the plate folder "
                "(e.g. experiment.zarr)"
            )
        plate = read_plate(path)
    selected_channels(plate, channels)
    selected_levels(levels)
    for fov in plate.fovs:
        if 0 in fov.shape:
            raise ValueError(
                f"{fov.store_path}: FOV {fov.fov_name!r} is empty: array shape {fov.shape} "
                "(T, C, Z, Y, X) has an axis of length 0, so it has no statistics. Write its "
                "pixels or remove it from the well's 'images' metadata."
            )
        if np.dtype(fov.dtype).kind not in "biuf":
            raise ValueError(
                f"{fov.store_path}: FOV {fov.fov_name!r} has dtype {fov.dtype!r}; statistics "
                "need real numbers (bool, int, uint or float)"
            )
        if writable:
            _check_writable(fov)
    return plate
