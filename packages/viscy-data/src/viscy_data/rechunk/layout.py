"""The groups and empty arrays of a rechunked plate, written before any pixel.

The plate, row, well and FOV groups get the source's attributes in the target NGFF layout
(:mod:`.ngff_attributes`); each FOV gets one empty array, its full-resolution array
(``multiscales[0].datasets[0].path``, same name), with the new chunks and shards, the
source's dtype, fill value, array attributes and codecs (:mod:`.codecs`). NGFF 0.4 arrays use
``/``-separated chunk keys, as NGFF 0.4 requires; NGFF 0.5 arrays name their dimensions after
the multiscale's axes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr

from viscy_data.readers.ome_zarr import FOVInfo, PlateInfo
from viscy_data.rechunk.codecs import Compression, chunk_codecs
from viscy_data.rechunk.ngff_attributes import convert_attributes, image_attributes

__all__ = ["FOVLayout", "plan_layout", "write_layout"]


@dataclass(frozen=True)
class FOVLayout:
    """How one FOV is written in the copy.

    Attributes
    ----------
    fov : FOVInfo
        The source FOV.
    chunks : tuple of int
        Chunk shape of the copy (the inner chunk when sharded).
    shards : tuple of int or None
        Shard shape of the copy, None when not sharded.
    array_kwargs : dict
        The rest of :meth:`zarr.Group.create_array`'s arguments: codecs, fill value,
        attributes, chunk key encoding or dimension names.
    """

    fov: FOVInfo
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    array_kwargs: dict[str, Any]

    def settings(self) -> dict[str, Any]:
        """What a resumed copy must agree on (:class:`~viscy_data.rechunk.manifest.Manifest`)."""
        return {
            "shape": list(self.fov.shape),
            "dtype": self.fov.dtype,
            "chunks": list(self.chunks),
            "shards": list(self.shards) if self.shards else None,
        }


def _attributes(store: str, path: str) -> dict[str, Any]:
    try:
        return zarr.open_group(store=store, path=path, mode="r").attrs.asdict()
    except (FileNotFoundError, KeyError, ValueError):
        return {}  # a row group some writers leave implicit


def plan_layout(
    plate: PlateInfo,
    fov: FOVInfo,
    chunks: tuple[int, ...],
    shards: tuple[int, ...] | None,
    ngff_version: str,
    compression: Compression,
) -> FOVLayout:
    """Everything needed to create one FOV's array in the copy; reads metadata only.

    Raises
    ------
    ValueError
        A codec that cannot move to the target format (see
        :func:`~viscy_data.rechunk.codecs.chunk_codecs`).
    """
    where = f"{plate.store_path}: FOV {fov.fov_name!r}: "
    group = zarr.open_group(store=plate.store_path, path=fov.fov_name, mode="r")
    source = group[fov.array_name]
    zarr_format = 3 if ngff_version == "0.5" else 2
    fill = source.fill_value
    kwargs: dict[str, Any] = {
        **chunk_codecs(source, zarr_format, compression, where),
        "fill_value": 0 if fill is None else np.asarray(fill, dtype=fov.dtype).item(),
        "attributes": source.attrs.asdict(),
    }
    if zarr_format == 2:
        kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
    else:
        image = image_attributes(group.attrs.asdict(), plate.ngff_version, "0.5")["ome"]
        axes = image["multiscales"][0]["axes"]
        kwargs["dimension_names"] = [str(a["name"] if isinstance(a, dict) else a) for a in axes]
    return FOVLayout(fov, chunks, shards, kwargs)


def write_layout(
    plate: PlateInfo, dst: str | os.PathLike, layouts: list[FOVLayout], ngff_version: str
) -> None:
    """Write the copy's groups with their attributes, and every FOV's empty array.

    Parameters
    ----------
    plate : PlateInfo
        The source plate.
    dst : str or os.PathLike
        Root of the copy; it may hold the manifest, but no zarr metadata yet.
    layouts : list of FOVLayout
        One per FOV of ``plate``, from :func:`plan_layout`.
    ngff_version : {"0.4", "0.5"}
        NGFF version of the copy.
    """
    store, source_version = plate.store_path, plate.ngff_version
    zarr_format = 3 if ngff_version == "0.5" else 2
    root = zarr.create_group(
        os.fspath(dst),
        zarr_format=zarr_format,
        attributes=convert_attributes(_attributes(store, ""), source_version, ngff_version),
    )
    groups: dict[str, zarr.Group] = {"": root}
    for well in plate.well_names:
        for path in (well.split("/")[0], well):
            if path not in groups:
                parent = groups[path.rpartition("/")[0]]
                attributes = convert_attributes(
                    _attributes(store, path), source_version, ngff_version
                )
                groups[path] = parent.create_group(path.rpartition("/")[2], attributes=attributes)
    for layout in layouts:
        fov = layout.fov
        attrs = zarr.open_group(store=store, path=fov.fov_name, mode="r").attrs.asdict()
        group = groups[fov.well_name].create_group(
            fov.fov_name.rpartition("/")[2],
            attributes=image_attributes(attrs, source_version, ngff_version),
        )
        group.create_array(
            fov.array_name,
            shape=fov.shape,
            dtype=fov.dtype,
            chunks=layout.chunks,
            shards=layout.shards,
            **layout.array_kwargs,
        )
