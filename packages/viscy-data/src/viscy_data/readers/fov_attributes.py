"""The one write to OME-Zarr metadata: one attribute of a FOV group, replaced atomically.

Used by ``dynaclr preprocess`` to store each FOV's ``normalization``; pixels are never
written here, and every other key of the metadata file is kept as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from viscy_data.atomic_write import write_text_atomic
from viscy_data.readers.ome_zarr import FOVInfo, is_url

__all__ = ["fov_attributes_file", "write_fov_attribute"]


def fov_attributes_file(fov: FOVInfo) -> Path:
    """The file holding a FOV group's attributes: ``.zattrs`` (zarr v2) or ``zarr.json`` (v3).

    Raises
    ------
    ValueError
        When the plate is a URL: attributes are only written to local plates.
    """
    if is_url(fov.store_path):
        raise ValueError(
            f"{fov.store_path}: FOV {fov.fov_name!r}: attributes can only be written to a local "
            "plate; copy the plate to a local or mounted path first"
        )
    name = "zarr.json" if fov.zarr_format == 3 else ".zattrs"
    return Path(fov.store_path) / fov.fov_name / name


def write_fov_attribute(fov: FOVInfo, name: str, value: Any) -> Path:
    """Set one top-level attribute of a FOV group atomically, keeping every other key as it was.

    NGFF 0.4 (zarr v2) stores it as a key of the FOV's ``.zattrs``; NGFF 0.5 (zarr v3) under
    ``attributes`` of its ``zarr.json`` (beside ``ome``, not inside it). The new file
    replaces the old one through :func:`viscy_data.atomic_write.write_text_atomic`, so a
    reader (or an interrupted run) sees either the old file or the complete new one. JSON is
    written as zarr-python writes it (indent 2); the file keeps its permissions.

    Parameters
    ----------
    fov : FOVInfo
        The FOV, as returned by :func:`read_plate` (a local plate).
    name : str
        Attribute key, e.g. ``"normalization"``.
    value : JSON-serialisable
        The new value; it replaces the old one whole.

    Returns
    -------
    Path
        The metadata file written.

    Raises
    ------
    ValueError
        When the plate is a URL or the metadata file is not a JSON object.
    FileNotFoundError, PermissionError
        When the metadata file is missing, or its folder cannot be written.
    """
    path = fov_attributes_file(fov)
    where = f"{fov.store_path}: FOV {fov.fov_name!r}"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{where}: metadata file {str(path)!r} does not exist") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: {str(path)!r} is not valid JSON ({err})") from err
    attributes = document.setdefault("attributes", {}) if fov.zarr_format == 3 else document
    if not isinstance(attributes, dict):
        raise ValueError(f"{where}: {str(path)!r} holds no JSON object of attributes")
    attributes[name] = value
    text = json.dumps(document, indent=2, allow_nan=True)
    mode = path.stat().st_mode & 0o7777
    return write_text_atomic(path, text, where=where, mode=mode)
