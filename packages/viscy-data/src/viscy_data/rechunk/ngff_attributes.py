"""The attributes of a rechunked plate: every key kept, moved between NGFF 0.4 and 0.5 layouts.

NGFF 0.4 (zarr v2, ``.zattrs``) keeps the NGFF metadata (``plate``, ``well``,
``multiscales``, ``omero``, ...) at the top level, ``plate``, ``well`` and each multiscale with
their own ``"version": "0.4"``. NGFF 0.5 (zarr v3, ``zarr.json``) keeps it under
``attributes["ome"]`` with one ``"version": "0.5"``. Any other key (``normalization``, a tool's
own) stays at the top level in both, beside ``ome`` in 0.5, where
:func:`viscy_data.readers.write_fov_attribute` writes it too; where a key is both inside
``ome`` and beside it, the one beside it wins, as the readers read it.

Only a FOV's full-resolution array is copied, so its ``multiscales`` keeps one multiscale with
one dataset (``multiscales[0].datasets[0]``, its path and transformations unchanged), and
``labels`` (label images, not copied) is dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["NGFF_KEYS", "convert_attributes", "image_attributes"]

NGFF_KEYS = frozenset(
    {"plate", "well", "multiscales", "omero", "labels", "image-label", "bioformats2raw.layout"}
)
"""Top-level keys of NGFF 0.4 attributes that NGFF 0.5 moves under ``ome``."""

_VERSIONED = ("plate", "well")


def _split(attrs: Mapping[str, Any]) -> tuple[dict, dict]:
    """(NGFF metadata without its version, every other key) of one group's attributes."""
    if isinstance(attrs.get("ome"), Mapping):
        ngff = {k: v for k, v in attrs["ome"].items() if k != "version"}
        return ngff, {k: v for k, v in attrs.items() if k != "ome"}
    ngff = {k: v for k, v in attrs.items() if k in NGFF_KEYS}
    return ngff, {k: v for k, v in attrs.items() if k not in NGFF_KEYS}


def _set_versions(ngff: dict, version: str | None) -> None:
    """Set ``version`` in ``plate``, ``well`` and each multiscale; None removes every one."""
    entries = [ngff[key] for key in _VERSIONED if isinstance(ngff.get(key), dict)]
    entries += [m for m in ngff.get("multiscales") or [] if isinstance(m, dict)]
    if version is None:
        entries += [ngff[k] for k in ("omero", "image-label") if isinstance(ngff.get(k), dict)]
    for entry in entries:
        if version is None:
            entry.pop("version", None)
        else:
            entry["version"] = version


def convert_attributes(
    attrs: Mapping[str, Any], source_version: str, target_version: str
) -> dict[str, Any]:
    """A group's attributes, as a ``source_version`` plate holds them, in the target layout.

    Parameters
    ----------
    attrs : Mapping
        The group's attributes as zarr-python reads them (``.zattrs``, or ``zarr.json``'s
        ``attributes``).
    source_version, target_version : {"0.4", "0.5"}
        NGFF versions of the source plate and of the copy.

    Returns
    -------
    dict
        A new dict; the same content when the versions agree.

    Examples
    --------
    >>> attrs = {"well": {"images": [{"path": "0"}], "version": "0.4"}, "note": "kept"}
    >>> convert_attributes(attrs, "0.4", "0.5")
    {'ome': {'version': '0.5', 'well': {'images': [{'path': '0'}]}}, 'note': 'kept'}
    >>> convert_attributes(convert_attributes(attrs, "0.4", "0.5"), "0.5", "0.4") == attrs
    True
    """
    if source_version == target_version:
        return copy.deepcopy(dict(attrs))
    ngff, other = (copy.deepcopy(part) for part in _split(attrs))
    if target_version == "0.5":
        _set_versions(ngff, None)
        return {"ome": {"version": "0.5", **ngff}, **other}
    _set_versions(ngff, target_version)
    return {**ngff, **other}


def image_attributes(
    attrs: Mapping[str, Any], source_version: str, target_version: str
) -> dict[str, Any]:
    """A FOV's attributes in the target layout, its ``multiscales`` cut to the one array copied.

    Examples
    --------
    >>> level = lambda path: {"path": path, "coordinateTransformations": []}
    >>> fov = {"multiscales": [{"datasets": [level("0"), level("1")]}], "labels": ["cells"]}
    >>> image_attributes(fov, "0.4", "0.4")
    {'multiscales': [{'datasets': [{'path': '0', 'coordinateTransformations': []}]}]}
    """
    converted = convert_attributes(attrs, source_version, target_version)
    ngff = converted["ome"] if target_version == "0.5" else converted
    ngff.pop("labels", None)
    multiscales = ngff.get("multiscales")
    if isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict):
        first = multiscales[0]
        datasets = first.get("datasets")
        if isinstance(datasets, list):
            first["datasets"] = datasets[:1]
        ngff["multiscales"] = [first]
    return converted
