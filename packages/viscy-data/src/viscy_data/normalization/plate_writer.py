"""Writing computed statistics into a plate: one FOV metadata file at a time, atomically."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from viscy_data.readers.fov_attributes import write_fov_attribute
from viscy_data.readers.ome_zarr import PlateInfo

__all__ = ["merge_normalization", "write_normalization_attributes"]


def merge_normalization(
    old: Mapping[str, Any] | None, new: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``old`` with the levels of ``new`` replaced, channel by channel; other entries kept.

    Examples
    --------
    >>> old = {"GFP": {"fov_statistics": 1, "dataset_statistics": 2}, "RFP": {"fov_statistics": 3}}
    >>> merge_normalization(old, {"GFP": {"fov_statistics": 9}})
    {'GFP': {'fov_statistics': 9, 'dataset_statistics': 2}, 'RFP': {'fov_statistics': 3}}
    """
    merged = copy.deepcopy(dict(old or {}))
    for channel, levels in new.items():
        entry = merged.get(channel)
        merged[channel] = {**(entry if isinstance(entry, Mapping) else {}), **levels}
    return merged


def write_normalization_attributes(
    plate: PlateInfo, attributes: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> list[str]:
    """Write each FOV's ``normalization`` attribute, one atomic file replacement per FOV.

    Each FOV keeps its other attributes and the entries of channels and levels not in
    ``attributes`` (:func:`merge_normalization`). An exception (or Ctrl-C) between two FOVs
    leaves the FOVs written so far with their complete new attribute and the others with their
    old one.

    Parameters
    ----------
    plate : PlateInfo
        The plate as read before computing (each FOV's old ``normalization`` included).
    attributes : mapping
        ``{fov_name: {channel: {level: ...}}}`` for every FOV of the plate.

    Returns
    -------
    list of str
        Names of the FOVs written.
    """
    written = []
    for fov in plate.fovs:
        merged = merge_normalization(fov.normalization, attributes[fov.fov_name])
        write_fov_attribute(fov, "normalization", merged)
        written.append(fov.fov_name)
    return written
