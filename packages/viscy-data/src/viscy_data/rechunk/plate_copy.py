"""``rechunk_plate``: a training copy of an OME-Zarr HCS plate with small chunks, verified.

Everything is checked before the destination is touched::

    SRC --read_plate--> PlateInfo --fov_chunks, plan_layout--> settings (checked, no writes)
        --destination_state--> new | resume | replace (anything else refused, DST untouched)
        --manifest, write_layout--> DST groups and empty arrays
        --copy_fovs (boxes on threads, read back and compared; manifest after each FOV)-->
        pixels --manifest removed--> RechunkSummary
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from viscy_data.normalization.plate_check import default_num_workers
from viscy_data.outputs import mark_output
from viscy_data.readers.ome_zarr import PlateInfo, is_url, read_plate
from viscy_data.rechunk.chunking import check_shape_option, fov_chunks
from viscy_data.rechunk.codecs import COMPRESSIONS, Compression
from viscy_data.rechunk.layout import plan_layout, write_layout
from viscy_data.rechunk.manifest import (
    MANIFEST_NAME,
    OUTPUT_KIND,
    Manifest,
    check_paths,
    destination_state,
    write_manifest,
)
from viscy_data.rechunk.pixel_copy import Progress, copy_fovs

__all__ = ["RechunkSummary", "rechunk_plate"]


@dataclass(frozen=True)
class RechunkSummary:
    """What :func:`rechunk_plate` wrote.

    Attributes
    ----------
    source : str
        The source plate, resolved (or the URL).
    destination : Path
        The copy, resolved.
    ngff_version : str
        NGFF version of the copy.
    compression : str
        ``"source"``, ``"blosc-zstd"`` or ``"none"``.
    chunks, shards : dict
        Chunk and shard shapes (``(T, C, Z, Y, X)``; shards None when not sharded) per FOV.
    checksums : dict
        Per FOV, SHA-256 (hex) of the SHA-256 digests of its boxes' decoded pixels, in order:
        equal in source and copy, since every box was read back identical.
    resumed : tuple of str
        FOVs a previous, interrupted run had already copied and verified (not read again).
    bytes_copied : int
        Bytes of decoded pixels copied by this run.
    seconds : float
        Wall time of this run.
    num_workers : int
        Threads that copied boxes.
    """

    source: str
    destination: Path
    ngff_version: str
    compression: str
    chunks: dict[str, tuple[int, ...]]
    shards: dict[str, tuple[int, ...] | None]
    checksums: dict[str, str]
    resumed: tuple[str, ...]
    bytes_copied: int
    seconds: float
    num_workers: int

    @property
    def fovs(self) -> tuple[str, ...]:
        """Every FOV of the copy."""
        return tuple(self.checksums)


def _source_plate(src: str | os.PathLike) -> PlateInfo:
    path = os.fspath(src)
    if not is_url(path) and os.path.isfile(path):
        raise ValueError(
            f"{path!r} is not an OME-Zarr HCS plate: it is a file; give the plate folder "
            "(e.g. experiment.zarr)"
        )
    return read_plate(path if is_url(path) else str(Path(path).resolve()))


def _clear(dst: Path, keep: str | None) -> None:
    for entry in dst.iterdir():
        if entry.name == keep:
            continue
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def rechunk_plate(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    ngff_version: Literal["0.4", "0.5"] | None = None,
    compression: Compression = "source",
    *,
    overwrite: bool = False,
    num_workers: int | None = None,
    progress: Progress | None = None,
) -> RechunkSummary:
    """Write a copy of an HCS plate with new chunks, every pixel verified; resume if cut short.

    Every plate, well and FOV attribute is copied (moved between the NGFF 0.4 and 0.5 layouts
    when ``ngff_version`` changes it), and each FOV's full-resolution array
    (``multiscales[0].datasets[0].path``): lower pyramid levels are not copied, and each FOV's
    ``multiscales`` lists its one array. The source is only read. See ``docs/rechunk.md``.

    Parameters
    ----------
    src : str or os.PathLike
        The source plate (NGFF 0.4 or 0.5; a local folder or a URL).
    dst : str or os.PathLike
        The copy: a local folder that does not exist, is empty, or holds an unfinished copy
        of ``src`` with the same options (resumed).
    chunks : sequence of 5 int, optional
        ``(T, C, Z, Y, X)`` chunk shape (the inner chunk when sharded); ``-1`` is the whole
        axis, sizes are clipped to each FOV. Default ``(1, 1, -1, 256, 256)``.
    shards : sequence of 5 int, optional
        Shard shape, multiples of ``chunks``, ``-1`` the whole axis; NGFF 0.5 only. Default:
        not sharded.
    ngff_version : {"0.4", "0.5"}, optional
        NGFF version of the copy; default the source's.
    compression : {"source", "blosc-zstd", "none"}, default "source"
        The source's codecs (translated between zarr v2 and v3), Blosc Zstandard level 1
        with bit shuffle, or uncompressed.
    overwrite : bool, default False
        Replace an existing ``dst`` that is a zarr store or an unfinished copy (removed after
        every check passed, before the copy starts).
    num_workers : int, optional
        Threads copying boxes; 0 copies in the calling thread. Default: the CPUs available,
        at most 4.
    progress : callable, optional
        ``progress(bytes_copied, total_bytes)`` after each box, first ``progress(0, total)``.

    Returns
    -------
    RechunkSummary

    Raises
    ------
    FileNotFoundError
        ``src`` does not exist.
    ValueError
        ``src`` is not a plate; a bad option (naming it and its value); ``dst`` overlaps
        ``src``; a codec the target format lacks; an unreadable source chunk.
    FileExistsError
        ``dst`` exists and is not this unfinished copy (without ``overwrite``), or is not a
        zarr store (with ``overwrite``); ``dst`` is left untouched.
    OSError
        The copy cannot be written or reads back different pixels.
    KeyboardInterrupt
        Passed on; ``dst`` keeps its manifest, and the same call resumes it.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from viscy_data.testing import write_hcs_plate
    >>> root = Path(tempfile.mkdtemp())
    >>> pixels = np.zeros((2, 1, 1, 64, 64), dtype="float32")
    >>> raw = write_hcs_plate(root / "raw.zarr", {"A/1/0": pixels}, ["GFP"])
    >>> summary = rechunk_plate(raw, root / "train.zarr", chunks=(1, 1, 1, 32, 32))
    >>> summary.fovs, summary.chunks["A/1/0"], summary.bytes_copied
    (('A/1/0',), (1, 1, 1, 32, 32), 32768)
    """
    start = time.perf_counter()
    chunks = check_shape_option(chunks, "chunks")
    shards = check_shape_option(shards, "shards")
    workers = default_num_workers() if num_workers is None else int(num_workers)
    if workers < 0:
        raise ValueError(f"num_workers must be >= 0 (0: the calling thread), got {num_workers!r}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression {compression!r} is not one of {list(COMPRESSIONS)}")
    if ngff_version not in (None, "0.4", "0.5"):
        raise ValueError(f"ngff_version {ngff_version!r} is not one of ['0.4', '0.5'] (or None)")
    plate = _source_plate(src)
    version = ngff_version or plate.ngff_version
    if shards is not None and version != "0.5":
        raise ValueError(
            f"shards {shards} need an NGFF 0.5 (zarr v3) copy, but the copy of "
            f"{plate.store_path!r} would be NGFF {version}: add --ngff-version 0.5 "
            "(ngff_version='0.5') or drop the shards"
        )
    target = check_paths(plate.store_path, dst)
    layouts = []
    for fov in plate.fovs:
        where = f"{plate.store_path}: FOV {fov.fov_name!r}: "
        fov_chunk, fov_shard = fov_chunks(fov.shape, chunks, shards, where)
        layouts.append(plan_layout(plate, fov, fov_chunk, fov_shard, version, compression))
    settings = {
        "ngff_version": version,
        "compression": compression,
        "fovs": {layout.fov.fov_name: layout.settings() for layout in layouts},
    }
    final = target
    wanted = Manifest(plate.store_path, settings)
    state, found = destination_state(target, wanted, overwrite)
    if state == "replace" and (target / MANIFEST_NAME).is_file():
        shutil.rmtree(target)  # an unfinished copy: nothing complete to keep
    elif state == "replace":  # a finished copy stays whole until its replacement is
        target = target.with_name(f".{target.name}.replacement")
        try:
            state, found = destination_state(target, wanted, overwrite=False)
        except (FileExistsError, ValueError):  # our own staging folder, from other options
            shutil.rmtree(target)
            found = None
    manifest = found or wanted
    if found is None:
        target.mkdir(parents=True, exist_ok=True)
        write_manifest(target, manifest)
    if not manifest.layout_written:
        _clear(target, keep=MANIFEST_NAME)
        write_layout(plate, target, layouts, version)
        manifest.layout_written = True
        write_manifest(target, manifest)
    resumed = tuple(manifest.checksums)
    copied = copy_fovs(target, layouts, version, manifest, workers, progress)
    mark_output(target, OUTPUT_KIND, source=plate.store_path)
    (target / MANIFEST_NAME).unlink()
    if target != final:
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        final.rename(old)
        target.rename(final)
        shutil.rmtree(old)
    return RechunkSummary(
        source=plate.store_path,
        destination=final,
        ngff_version=version,
        compression=compression,
        chunks={layout.fov.fov_name: layout.chunks for layout in layouts},
        shards={layout.fov.fov_name: layout.shards for layout in layouts},
        checksums={
            layout.fov.fov_name: manifest.checksums[layout.fov.fov_name] for layout in layouts
        },
        resumed=resumed,
        bytes_copied=copied,
        seconds=time.perf_counter() - start,
        num_workers=workers,
    )
