"""Step 4a: OME-Zarr HCS plate metadata (NGFF 0.4 on zarr v2, 0.5 on zarr v3), no pixel reads.

Everything this project knows about the OME-Zarr layout lives here, so a format or library
change touches one file. Metadata is read with zarr-python; pixels are read elsewhere with
tensorstore, from the spec :func:`tensorstore_spec` builds. The one write, replacing a single
attribute of a FOV's metadata file atomically, is beside it in :mod:`.fov_attributes`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

__all__ = ["FOVInfo", "PlateInfo", "is_url", "read_plate", "tensorstore_spec"]

_AXES = ("t", "c", "z", "y", "x")


@dataclass(frozen=True)
class FOVInfo:
    """Metadata of one field of view (an NGFF image) of an HCS plate.

    Attributes
    ----------
    store_path : str
        Plate root as given to :func:`read_plate` (path string or URL).
    fov_name : str
        Path of the FOV inside the plate, ``"row/col/fov"`` (e.g. ``"A/1/0"``).
    well_name : str
        Path of its well, ``"row/col"`` (e.g. ``"A/1"``).
    shape : tuple of int
        ``(T, C, Z, Y, X)`` shape of the full-resolution array.
    dtype : str
        Numpy dtype name of the full-resolution array (e.g. ``"float32"``, ``"uint16"``).
    channel_names : tuple of str
        Channel labels from the OMERO metadata, in array order.
    normalization : dict or None
        The FOV's ``"normalization"`` attribute as stored, or None when absent.
    zarr_format : int, default 2
        2 for NGFF 0.4 stores, 3 for NGFF 0.5 stores (picks the tensorstore driver).
    chunks : tuple of int or None, default None
        Chunk shape of the full-resolution array (the inner chunk when sharded).
    array_name : str, default "0"
        Name of the full-resolution array inside the FOV group: the path of the first dataset
        of the first multiscale (``multiscales[0].datasets[0].path``), e.g. ``"0"`` or ``"s0"``.
    """

    store_path: str
    fov_name: str
    well_name: str
    shape: tuple[int, int, int, int, int]
    dtype: str
    channel_names: tuple[str, ...]
    normalization: dict | None
    zarr_format: int = 2
    chunks: tuple[int, ...] | None = None
    array_name: str = "0"

    @property
    def array_path(self) -> str:
        """Location of the full-resolution array: ``store_path/fov_name/array_name``."""
        return f"{self.store_path.rstrip('/')}/{self.fov_name}/{self.array_name}"


@dataclass(frozen=True)
class PlateInfo:
    """Metadata of an HCS plate: its NGFF version, channels and every FOV.

    Attributes
    ----------
    store_path : str
        Plate root as given to :func:`read_plate`.
    ngff_version : str
        ``"0.4"`` or ``"0.5"``.
    channel_names : tuple of str
        Channel labels shared by every FOV.
    fovs : tuple of FOVInfo
        Every FOV of the plate, sorted by ``fov_name``.
    """

    store_path: str
    ngff_version: str
    channel_names: tuple[str, ...]
    fovs: tuple[FOVInfo, ...]

    @property
    def well_names(self) -> tuple[str, ...]:
        """Names of the wells that hold at least one FOV, sorted."""
        return tuple(sorted({fov.well_name for fov in self.fovs}))


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL (``scheme://...``) rather than a local path.

    Examples
    --------
    >>> is_url("https://example.org/plate.zarr"), is_url("data/plate.zarr")
    (True, False)
    """
    return "://" in str(path)


def _ome_attrs(attrs: Mapping[str, Any]) -> tuple[dict, str | None]:
    """Return the NGFF attributes (``ome`` namespace on 0.5, top level on 0.4) and version."""
    if "ome" in attrs and isinstance(attrs["ome"], Mapping):
        ome = dict(attrs["ome"])
        return ome, ome.get("version")
    return dict(attrs), None


_METADATA_FILES = (".zattrs", ".zgroup", ".zarray", "zarr.json")


def _broken_metadata(store: str, path: str) -> str | None:
    """``"<file>: not valid JSON (...)"`` for the first unparsable metadata file of a local
    zarr node (``store/path``), else None. Only called once opening the node failed."""
    if is_url(store):
        return None
    folder = Path(store, path)
    for name in _METADATA_FILES:
        file = folder / name
        if not file.is_file():
            continue
        try:
            json.loads(file.read_bytes())
        except (ValueError, UnicodeDecodeError) as err:
            return f"{file}: not valid JSON ({err})"
    return None


def _open_group(store: str, path: str, where: str) -> zarr.Group:
    try:
        node = zarr.open(store=store, path=path, mode="r")
    except (FileNotFoundError, KeyError, ValueError) as err:
        broken = _broken_metadata(store, path)
        if broken:
            raise ValueError(f"{where}: cannot open zarr group {path!r}: {broken}") from err
        raise ValueError(f"{where}: cannot open zarr group {path!r}: {err}") from err
    if not isinstance(node, zarr.Group):
        raise ValueError(f"{where}: {path!r} is a zarr array, expected a group")
    return node


def _channel_names(image: Mapping[str, Any], where: str) -> tuple[str, ...]:
    try:
        channels = image["omero"]["channels"]
        return tuple(str(channel["label"]) for channel in channels)
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"{where}: no channel names; expected OMERO metadata 'omero.channels[].label'"
        ) from err


def _check_axes(image: Mapping[str, Any], where: str) -> None:
    try:
        axes = image["multiscales"][0]["axes"]
    except (KeyError, IndexError, TypeError) as err:
        raise ValueError(f"{where}: no 'multiscales' metadata with 'axes'") from err
    names = tuple(str(a["name"] if isinstance(a, Mapping) else a).lower() for a in axes)
    if names != _AXES:
        raise ValueError(
            f"{where}: axes are {names!r}; expected 5-D (T, C, Z, Y, X) named {_AXES!r}"
        )


def _full_resolution_name(image: Mapping[str, Any], where: str) -> str:
    """``multiscales[0].datasets[0].path``: the name of the image's full-resolution array."""
    try:
        return str(image["multiscales"][0]["datasets"][0]["path"])
    except (KeyError, IndexError, TypeError) as err:
        raise ValueError(
            f"{where}: no 'multiscales[0].datasets[0].path' in its metadata, so the "
            "full-resolution array cannot be found; write NGFF multiscales metadata"
        ) from err


def _read_fov(store: str, fov_name: str, zarr_format: int) -> FOVInfo:
    where = f"{store}: FOV {fov_name!r}"
    group = _open_group(store, fov_name, where)
    image, _ = _ome_attrs(group.attrs.asdict())
    name = _full_resolution_name(image, where)
    try:
        array = group[name]
    except ValueError as err:  # e.g. a .zarray that is not JSON
        broken = _broken_metadata(store, f"{fov_name}/{name}")
        raise ValueError(f"{where}: cannot open array {name!r}: {broken or err}") from err
    except KeyError as err:
        raise ValueError(
            f"{where} has no full-resolution array {name!r} "
            "(the path of multiscales[0].datasets[0])"
        ) from err
    if not isinstance(array, zarr.Array):
        raise ValueError(f"{where}: {name!r} is a group, expected the full-resolution array")
    if array.ndim != 5:
        raise ValueError(
            f"{where}: array {name!r} has {array.ndim} dimensions (shape {array.shape}); "
            "expected 5-D (T, C, Z, Y, X)"
        )
    _check_axes(image, where)
    channel_names = _channel_names(image, where)
    if len(channel_names) != array.shape[1]:
        raise ValueError(
            f"{where}: OMERO lists {len(channel_names)} channels {list(channel_names)} "
            f"but array {name!r} has {array.shape[1]} (shape {array.shape})"
        )
    normalization = group.attrs.get("normalization", image.get("normalization"))
    return FOVInfo(
        store_path=store,
        fov_name=fov_name,
        well_name=fov_name.rsplit("/", 1)[0],
        shape=tuple(int(s) for s in array.shape),
        dtype=np.dtype(array.dtype).name,
        channel_names=channel_names,
        normalization=dict(normalization) if normalization is not None else None,
        zarr_format=zarr_format,
        chunks=tuple(int(c) for c in array.chunks),
        array_name=name,
    )


def read_plate(store_path: str | os.PathLike) -> PlateInfo:
    """Read the metadata of an OME-Zarr HCS plate and of every FOV in it.

    Wells and FOVs are found from the plate and well metadata (not by listing folders).

    Parameters
    ----------
    store_path : str or os.PathLike
        Plate root: a local path or a URL (``"s3://..."``, needs the matching fsspec backend).

    Returns
    -------
    PlateInfo
        Version, channel names and every FOV sorted by name; ``store_path`` is kept as given.

    Raises
    ------
    FileNotFoundError
        When a local ``store_path`` does not exist.
    ValueError
        When the store is not an HCS plate (no ``plate`` metadata), a well or FOV listed in
        the metadata is missing, a FOV has no full-resolution array
        (``multiscales[0].datasets[0].path``) or it is not 5-D TCZYX,
        the OMERO channels disagree with the array, or FOVs disagree on channel names.

    Examples
    --------
    >>> plate = read_plate("experiment.zarr")  # doctest: +SKIP
    >>> plate.fovs[0].fov_name, plate.fovs[0].shape  # doctest: +SKIP
    ('A/1/0', (20, 2, 3, 128, 128))
    """
    store = os.fspath(store_path)
    if not is_url(store) and not Path(store).exists():
        raise FileNotFoundError(f"OME-Zarr plate {store!r} does not exist")
    try:
        root = zarr.open_group(store=store, mode="r")
    except (FileNotFoundError, KeyError, ValueError) as err:
        broken = _broken_metadata(store, "")
        if broken:
            raise ValueError(f"{store!r}: cannot open the plate: {broken}") from err
        raise ValueError(
            f"{store!r} is not an OME-Zarr HCS plate: no zarr group at its root ({err})"
        ) from err
    attrs, version = _ome_attrs(root.attrs.asdict())
    plate = attrs.get("plate")
    if not isinstance(plate, Mapping):
        raise ValueError(
            f"{store!r} is not an OME-Zarr HCS plate: its attributes have no 'plate' metadata "
            f"(found keys {sorted(attrs)})"
        )
    zarr_format = root.metadata.zarr_format
    ngff_version = str(version or plate.get("version") or ("0.5" if zarr_format == 3 else "0.4"))
    fovs = []
    for well in plate.get("wells", []):
        if not isinstance(well, Mapping) or "path" not in well:
            raise ValueError(f"{store}: plate.wells entry {well!r} has no 'path' such as 'A/1'")
        well_name = str(well["path"])
        well_attrs, _ = _ome_attrs(_open_group(store, well_name, store).attrs.asdict())
        images = well_attrs.get("well", {}).get("images")
        if not images:
            raise ValueError(f"{store}: well {well_name!r} has no 'well.images' metadata")
        fovs.extend(_read_fov(store, f"{well_name}/{im['path']}", zarr_format) for im in images)
    if not fovs:
        raise ValueError(f"{store!r}: the plate metadata lists no wells with images")
    fovs.sort(key=lambda fov: fov.fov_name)
    channel_names = fovs[0].channel_names
    for fov in fovs[1:]:
        if fov.channel_names != channel_names:
            raise ValueError(
                f"{store}: FOV {fov.fov_name!r} has channels {list(fov.channel_names)} but "
                f"{fovs[0].fov_name!r} has {list(channel_names)}; a plate needs one channel list"
            )
    return PlateInfo(
        store_path=store, ngff_version=ngff_version, channel_names=channel_names, fovs=tuple(fovs)
    )


def tensorstore_spec(fov: FOVInfo, *, recheck_cached_data: bool | str = "open") -> dict:
    """Build the tensorstore spec of a FOV's full-resolution array (``fov.array_name``).

    Open it read-only with ``tensorstore.open(spec, read=True, context=shared_context)``.

    Parameters
    ----------
    fov : FOVInfo
        The FOV, as returned by :func:`read_plate`.
    recheck_cached_data : bool or str, default "open"
        When tensorstore revalidates cached chunks; ``"open"`` checks once at open time,
        which suits read-only training data on network file systems.

    Returns
    -------
    dict
        ``{"driver": "zarr" | "zarr3", "kvstore": ..., "recheck_cached_data": ...}`` where
        ``kvstore`` is a ``file`` driver dict for local paths and a URL string otherwise.
    """
    driver = "zarr3" if fov.zarr_format == 3 else "zarr"
    if is_url(fov.store_path):
        kvstore: dict | str = fov.array_path + "/"
    else:
        path = Path(fov.store_path).absolute() / fov.fov_name / fov.array_name
        kvstore = {"driver": "file", "path": str(path) + "/"}
    return {"driver": driver, "kvstore": kvstore, "recheck_cached_data": recheck_cached_data}
