"""How a rechunked array is compressed: the source's codecs, across zarr v2 and v3 when needed.

``compression="source"`` (the default) keeps the source's chunk codecs. Between NGFF 0.4
(zarr v2: one ``compressor`` and ``filters``) and 0.5 (zarr v3: a codec list) the codecs both
formats share are translated with the same settings: Blosc (any inner compressor, shuffle and
level), Zstandard and gzip. Another codec, or filters, cannot change format: the error names
it and suggests ``"blosc-zstd"`` (Blosc Zstandard level 1 with bit shuffle, what iohub writes)
or ``"none"`` (uncompressed).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import zarr

__all__ = ["COMPRESSIONS", "Compression", "chunk_codecs", "describe_codecs"]

Compression = Literal["source", "blosc-zstd", "none"]
COMPRESSIONS: tuple[str, ...] = ("source", "blosc-zstd", "none")

_SHUFFLE_NAMES = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}
_SHUFFLE_CODES = {name: code for code, name in _SHUFFLE_NAMES.items()}
_ADVICE = "use compression 'blosc-zstd' or 'none' (--compression) instead"


def _source_codecs(array: zarr.Array) -> tuple[list[dict], list[dict], dict | None]:
    """(compressors, filters, serializer) of ``array`` as JSON, in its own format."""
    if array.metadata.zarr_format == 2:
        meta = array.metadata.to_dict()
        compressors = [meta["compressor"]] if meta.get("compressor") else []
        return compressors, list(meta.get("filters") or []), None
    return (
        [codec.to_dict() for codec in array.compressors],
        [codec.to_dict() for codec in array.filters],
        array.serializer.to_dict() if array.serializer is not None else None,
    )


def _to_v3(codec: dict, itemsize: int, where: str) -> dict:
    kind = codec.get("id")
    if kind == "blosc":
        shuffle = int(codec.get("shuffle", 1))
        shuffle = (2 if itemsize == 1 else 1) if shuffle == -1 else shuffle
        configuration = {
            "cname": codec["cname"],
            "clevel": int(codec["clevel"]),
            "shuffle": _SHUFFLE_NAMES[shuffle],
            "typesize": itemsize,
            "blocksize": int(codec.get("blocksize", 0)),
        }
        return {"name": "blosc", "configuration": configuration}
    if kind == "zstd" and not codec.get("checksum"):
        return {"name": "zstd", "configuration": {"level": int(codec.get("level", 0))}}
    if kind == "gzip":
        return {"name": "gzip", "configuration": {"level": int(codec.get("level", 1))}}
    raise ValueError(f"{where}the zarr v2 codec {codec!r} has no zarr v3 counterpart; {_ADVICE}")


def _to_v2(codec: dict, where: str) -> dict:
    kind, conf = codec.get("name"), codec.get("configuration") or {}
    if kind == "blosc":
        return {
            "id": "blosc",
            "cname": conf["cname"],
            "clevel": int(conf["clevel"]),
            "shuffle": _SHUFFLE_CODES[conf.get("shuffle", "shuffle")],
            "blocksize": int(conf.get("blocksize", 0)),
        }
    if kind == "zstd" and not conf.get("checksum"):
        return {"id": "zstd", "level": int(conf.get("level", 0))}
    if kind == "gzip":
        return {"id": "gzip", "level": int(conf.get("level", 1))}
    raise ValueError(f"{where}the zarr v3 codec {codec!r} has no zarr v2 counterpart; {_ADVICE}")


def chunk_codecs(
    array: zarr.Array, zarr_format: int, compression: Compression = "source", where: str = ""
) -> dict[str, Any]:
    """Codec arguments of :func:`zarr.create_array` for the copy of ``array``.

    Parameters
    ----------
    array : zarr.Array
        The source array (zarr v2 or v3, sharded or not: its chunk codecs are used).
    zarr_format : {2, 3}
        Format of the copy.
    compression : {"source", "blosc-zstd", "none"}, default "source"
        The source's codecs, Blosc Zstandard level 1 with bit shuffle, or none.
    where : str, default ""
        Names the array in error messages.

    Returns
    -------
    dict
        ``compressors`` and ``filters`` (and ``serializer`` from a v3 source to v3).

    Raises
    ------
    ValueError
        An unknown ``compression``, or a codec or filter without a counterpart in the other
        format (naming it).
    """
    itemsize = np.dtype(array.dtype).itemsize
    if compression == "none":
        return {"compressors": None, "filters": None}
    if compression == "blosc-zstd":
        blosc = {"id": "blosc", "cname": "zstd", "clevel": 1, "shuffle": 2, "blocksize": 0}
        codec = _to_v3(blosc, itemsize, where) if zarr_format == 3 else blosc
        return {"compressors": [codec], "filters": None}
    if compression != "source":
        raise ValueError(f"compression {compression!r} is not one of {list(COMPRESSIONS)}")
    compressors, filters, serializer = _source_codecs(array)
    source_format = array.metadata.zarr_format
    if source_format == zarr_format:
        kwargs: dict[str, Any] = {"compressors": compressors or None, "filters": filters or None}
        if serializer is not None:
            kwargs["serializer"] = serializer
        return kwargs
    if filters:
        raise ValueError(
            f"{where}the filters {filters!r} cannot move between zarr v{source_format} and "
            f"v{zarr_format}; {_ADVICE}"
        )
    if zarr_format == 3:
        return {"compressors": [_to_v3(c, itemsize, where) for c in compressors] or None}
    if len(compressors) > 1:
        raise ValueError(
            f"{where}zarr v2 holds one compressor, the source chains {compressors!r}; {_ADVICE}"
        )
    return {"compressors": [_to_v2(c, where) for c in compressors] or None}


def describe_codecs(array: zarr.Array) -> str:
    """A short name of an array's compression, e.g. ``"blosc zstd"``, ``"zstd"`` or ``"none"``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> describe_codecs(zarr.create_array(folder, shape=(4,), dtype="uint8", compressors=None))
    'none'
    """
    compressors, _, _ = _source_codecs(array)
    names = []
    for codec in compressors:
        kind = codec.get("id") or codec.get("name")
        cname = codec.get("cname") or (codec.get("configuration") or {}).get("cname")
        names.append(f"{kind} {cname}" if cname else str(kind))
    return ", ".join(names) or "none"
