"""Tiny OME-Zarr HCS plates for tests, demos and benchmarks of every package.

:func:`write_hcs_plate` writes arrays held in memory; :func:`create_hcs_plate` writes the
metadata and empty arrays so large plates can be filled block by block. Both write valid
OME-NGFF 0.4 (zarr v2) or 0.5 (zarr v3, optionally sharded) plate, well and image metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import zarr

__all__ = ["create_hcs_plate", "write_hcs_plate", "write_normalization"]

_AXES = [
    {"name": "T", "type": "time", "unit": "second"},
    {"name": "C", "type": "channel"},
    {"name": "Z", "type": "space", "unit": "micrometer"},
    {"name": "Y", "type": "space", "unit": "micrometer"},
    {"name": "X", "type": "space", "unit": "micrometer"},
]
_COLORS = ["FFFFFF", "00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF"]


def _ngff(attrs: dict[str, Any], version: str) -> dict[str, Any]:
    """Place NGFF attributes where each version expects them (0.5: under ``"ome"``)."""
    if version == "0.5":
        return {"ome": {"version": "0.5", **attrs}}
    return attrs


def _split_fov_name(fov_name: str) -> tuple[str, str, str]:
    parts = fov_name.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"fovs: FOV name {fov_name!r} must read 'row/col/fov', e.g. 'A/1/0'")
    return parts[0], parts[1], parts[2]


def _level_scale(scale: Sequence[float], level: int) -> list[float]:
    """Scale of pyramid level ``level``: Y and X pixels ``2**level`` times larger."""
    return [*map(float, scale[:3]), *(float(v) * 2**level for v in scale[3:])]


def _image_attrs(
    channel_names: Sequence[str], version: str, scale: Sequence[float], paths: Sequence[str]
) -> dict:
    multiscale: dict[str, Any] = {
        "name": "0",
        "axes": _AXES,
        "datasets": [
            {
                "path": path,
                "coordinateTransformations": [{"type": "scale", "scale": _level_scale(scale, i)}],
            }
            for i, path in enumerate(paths)
        ],
    }
    omero: dict[str, Any] = {
        "channels": [
            {
                "label": str(name),
                "color": _COLORS[i % len(_COLORS)],
                "active": True,
                "window": {"start": 0.0, "end": 1.0, "min": 0.0, "max": 65535.0},
            }
            for i, name in enumerate(channel_names)
        ],
        "rdefs": {"defaultT": 0, "defaultZ": 0, "model": "color"},
    }
    if version == "0.4":
        multiscale["version"] = "0.4"
        omero["version"] = "0.4"
    return _ngff({"multiscales": [multiscale], "omero": omero}, version)


def create_hcs_plate(
    path: str | os.PathLike,
    fov_shapes: Mapping[str, tuple[int, int, int, int, int]],
    channel_names: Sequence[str],
    *,
    dtype: str | np.dtype = "float32",
    version: Literal["0.4", "0.5"] = "0.4",
    chunks: tuple[int, ...] | None = None,
    shards: tuple[int, ...] | None = None,
    compressors: Any = "auto",
    scale: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0),
    dataset_paths: Sequence[str] = ("0",),
) -> dict[str, zarr.Array]:
    """Create an HCS plate's metadata and empty (fill value 0) full-resolution arrays.

    Parameters
    ----------
    path : str or os.PathLike
        Plate root to create; it must not exist yet.
    fov_shapes : Mapping[str, tuple of int]
        ``(T, C, Z, Y, X)`` shape of each FOV, keyed by ``"row/col/fov"`` (e.g. ``"A/1/0"``).
    channel_names : sequence of str
        Channel labels written to the OMERO metadata; one per ``C``.
    dtype : str or np.dtype, default "float32"
        Array dtype.
    version : {"0.4", "0.5"}, default "0.4"
        NGFF version: 0.4 writes zarr v2 (``/``-separated chunk keys), 0.5 writes zarr v3.
    chunks : tuple of int, optional
        Chunk shape (inner chunk when sharded); default ``(1, 1, Z, Y, X)``.
    shards : tuple of int, optional
        Shard shape, a multiple of ``chunks``; only with ``version="0.5"``.
    compressors : "auto", None or codecs, default "auto"
        zarr-python's ``compressors``: ``"auto"`` keeps zarr's default (Blosc LZ4 with byte
        shuffle on zarr v2, Zstandard on zarr v3), None writes uncompressed chunks, or give
        codecs, e.g. ``numcodecs.Blosc(cname="zstd")`` (v2) or
        ``zarr.codecs.BloscCodec(cname="zstd")`` (v3).
    scale : sequence of float, default all ones
        Scale transform of the full-resolution array per axis (seconds, -, micrometres).
    dataset_paths : sequence of str, default ("0",)
        Array names of the resolution pyramid, full resolution first, as listed in
        ``multiscales[0].datasets`` (e.g. ``("s0", "s1")``); level ``i`` is ``2**i`` times
        smaller in Y and X, with default chunks and no shards.

    Returns
    -------
    dict[str, zarr.Array]
        The writable array ``"0"`` of every FOV, keyed by FOV name.

    Raises
    ------
    ValueError
        On a bad version, FOV name, shape, channel count or ``shards`` with version 0.4.
    FileExistsError
        When ``path`` already exists.
    """
    if version not in ("0.4", "0.5"):
        raise ValueError(f"version must be '0.4' or '0.5', got {version!r}")
    if shards is not None and version != "0.5":
        raise ValueError(f"shards={shards!r} needs version='0.5' (zarr v3); got {version!r}")
    if not fov_shapes:
        raise ValueError("fovs: give at least one FOV, e.g. {'A/1/0': array}")
    root_path = Path(path)
    if root_path.exists():
        raise FileExistsError(f"plate path {str(root_path)!r} already exists")
    zarr_format = 3 if version == "0.5" else 2
    wells: dict[str, list[str]] = {}
    for fov_name, shape in fov_shapes.items():
        row, col, fov = _split_fov_name(fov_name)
        if len(shape) != 5:
            raise ValueError(f"fovs[{fov_name!r}]: shape {tuple(shape)} is not 5-D (T, C, Z, Y, X)")
        if shape[1] != len(channel_names):
            raise ValueError(
                f"fovs[{fov_name!r}] has {shape[1]} channels but channel_names lists "
                f"{len(channel_names)}: {list(channel_names)}"
            )
        wells.setdefault(f"{row}/{col}", []).append(fov)
    rows = sorted({w.split("/")[0] for w in wells})
    cols = sorted({w.split("/")[1] for w in wells}, key=lambda c: (len(c), c))
    plate_meta: dict[str, Any] = {
        "name": root_path.stem,
        "rows": [{"name": r} for r in rows],
        "columns": [{"name": c} for c in cols],
        "wells": [
            {
                "path": w,
                "rowIndex": rows.index(w.split("/")[0]),
                "columnIndex": cols.index(w.split("/")[1]),
            }
            for w in sorted(wells)
        ],
        "field_count": max(len(f) for f in wells.values()),
        "acquisitions": [{"id": 0}],
    }
    if version == "0.4":
        plate_meta["version"] = "0.4"
    plate_attrs = _ngff({"plate": plate_meta}, version)
    root = zarr.open_group(root_path, mode="w-", zarr_format=zarr_format, attributes=plate_attrs)
    arrays: dict[str, zarr.Array] = {}
    for well_name, fov_paths in sorted(wells.items()):
        well_meta: dict[str, Any] = {"images": [{"path": p} for p in sorted(fov_paths)]}
        if version == "0.4":
            well_meta["version"] = "0.4"
        well = root.create_group(well_name, attributes=_ngff({"well": well_meta}, version))
        for fov in sorted(fov_paths):
            fov_name = f"{well_name}/{fov}"
            shape = tuple(int(s) for s in fov_shapes[fov_name])
            attrs = _image_attrs(channel_names, version, scale, dataset_paths)
            image = well.create_group(fov, attributes=attrs)
            kwargs: dict[str, Any] = {}
            if zarr_format == 2:
                kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
            else:
                kwargs["dimension_names"] = [a["name"] for a in _AXES]
            for level, name in enumerate(dataset_paths):
                size = (*shape[:3], *(-(-n // 2**level) for n in shape[3:]))
                full = level == 0
                array = image.create_array(
                    name,
                    shape=size,
                    dtype=dtype,
                    chunks=tuple(chunks) if chunks is not None and full else (1, 1, *size[2:]),
                    shards=tuple(shards) if shards is not None and full else None,
                    fill_value=0,
                    compressors=compressors,
                    **kwargs,
                )
                if full:
                    arrays[fov_name] = array
    return arrays


def write_normalization(path: str | os.PathLike, normalization: Mapping[str, dict]) -> None:
    """Write each FOV's ``"normalization"`` attribute (top level of its attributes).

    Parameters
    ----------
    path : str or os.PathLike
        Plate root.
    normalization : Mapping[str, dict]
        ``{fov_name: {channel: {level: stats}}}``, the format the readers expect.
    """
    root = zarr.open_group(Path(path), mode="r+")
    for fov_name, stats in normalization.items():
        _split_fov_name(fov_name)
        root[fov_name].attrs["normalization"] = _jsonable(stats)


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars and nested mappings into plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_hcs_plate(
    path: str | os.PathLike,
    fovs: Mapping[str, np.ndarray],
    channel_names: Sequence[str],
    *,
    version: Literal["0.4", "0.5"] = "0.4",
    chunks: tuple[int, ...] | None = None,
    shards: tuple[int, ...] | None = None,
    compressors: Any = "auto",
    normalization: Mapping[str, dict] | None = None,
    dataset_paths: Sequence[str] = ("0",),
) -> Path:
    """Write an OME-Zarr HCS plate from in-memory arrays.

    Parameters
    ----------
    path : str or os.PathLike
        Plate root to create; it must not exist yet.
    fovs : Mapping[str, np.ndarray]
        ``(T, C, Z, Y, X)`` array of each FOV keyed by ``"row/col/fov"`` (e.g. ``"A/1/0"``);
        every array of a plate shares one dtype.
    channel_names : sequence of str
        Channel labels for the OMERO metadata, one per ``C``.
    version : {"0.4", "0.5"}, default "0.4"
        NGFF 0.4 on zarr v2, or NGFF 0.5 on zarr v3.
    chunks : tuple of int, optional
        Chunk shape; default ``(1, 1, Z, Y, X)``.
    shards : tuple of int, optional
        Shard shape (zarr v3 sharding codec); only with ``version="0.5"``.
    compressors : "auto", None or codecs, default "auto"
        Chunk compression, as in :func:`create_hcs_plate` (None: uncompressed).
    normalization : Mapping[str, dict], optional
        ``normalization[fov_name]`` is written as that FOV's ``"normalization"`` attribute.
    dataset_paths : sequence of str, default ("0",)
        Array names of the resolution pyramid (see :func:`create_hcs_plate`); level ``i``
        holds every ``2**i``-th pixel of the data in Y and X.

    Returns
    -------
    Path
        The plate root.

    Raises
    ------
    ValueError
        On a bad version, FOV name, array shape, mixed dtypes, unknown FOV in
        ``normalization`` or ``shards`` with version 0.4.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> root = Path(tempfile.mkdtemp()) / "plate.zarr"
    >>> data = np.zeros((2, 1, 1, 8, 8), dtype="float32")
    >>> write_hcs_plate(root, {"A/1/0": data}, ["Phase3D"]).name
    'plate.zarr'
    """
    arrays = {name: np.asarray(a) for name, a in fovs.items()}
    dtypes = {a.dtype for a in arrays.values()}
    if len(dtypes) > 1:
        raise ValueError(f"fovs: arrays have several dtypes {sorted(map(str, dtypes))}; use one")
    unknown = sorted(set(normalization or {}) - set(arrays))
    if unknown:
        raise ValueError(f"normalization names FOVs {unknown} not in fovs {sorted(arrays)}")
    created = create_hcs_plate(
        path,
        {name: a.shape for name, a in arrays.items()},
        channel_names,
        dtype=next(iter(dtypes)) if dtypes else "float32",
        version=version,
        chunks=chunks,
        shards=shards,
        compressors=compressors,
        dataset_paths=dataset_paths,
    )
    for name, target in created.items():
        target[...] = arrays[name]
        for level, level_name in enumerate(dataset_paths[1:], start=1):
            step = 2**level
            zarr.open_array(Path(path) / name / level_name, mode="r+")[...] = arrays[name][
                ..., ::step, ::step
            ]
    if normalization:
        write_normalization(path, normalization)
    return Path(path)
