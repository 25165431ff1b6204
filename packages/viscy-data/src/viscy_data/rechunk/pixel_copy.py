"""The pixels of a rechunked plate: box by box, each read back and compared byte for byte.

Pixels go through tensorstore both ways. A box is read from the source, hashed (SHA-256 of
its decoded pixels in C order), written to the copy, then read back from the copy through a
second tensorstore context without a chunk cache, slab by slab along Y (one destination write
unit high), and compared with the source's bytes, NaN payloads included. So a FOV is only
reported copied once every one of its pixels was read back identical from disk.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import tensorstore as ts

from viscy_data.normalization.blocks import ordered_map
from viscy_data.readers.ome_zarr import FOVInfo, tensorstore_spec
from viscy_data.rechunk.chunking import Box, plan_boxes
from viscy_data.rechunk.layout import FOVLayout
from viscy_data.rechunk.manifest import Manifest, write_manifest

__all__ = ["FOVStores", "Progress", "copy_box", "copy_fovs", "open_fov_stores", "pixel_contexts"]

PAUSE_VARIABLE = "_VISCY_RECHUNK_PAUSE_AFTER_BOXES"
"""Tests only: pause (print a line to stderr, then sleep) after this many boxes are copied."""

Progress = Callable[[int, int], object]
"""Called with (bytes just copied, bytes this run copies); first with (0, total)."""


@dataclass(frozen=True)
class FOVStores:
    """The open arrays of one FOV: source (read), copy (write), copy again (read back).

    Attributes
    ----------
    source_fov, target_fov : FOVInfo
        The FOV in the source plate and in the copy.
    source, target, check : tensorstore.TensorStore
        Source array, copy opened for writing, copy opened for reading in its own context.
    slab_rows : int
        Rows of Y compared at a time when reading back.
    """

    source_fov: FOVInfo
    target_fov: FOVInfo
    source: ts.TensorStore
    target: ts.TensorStore
    check: ts.TensorStore
    slab_rows: int


def pixel_contexts(num_workers: int) -> tuple[ts.Context, ts.Context]:
    """(copy, read-back) tensorstore contexts: no chunk cache, ``num_workers`` codec threads."""
    spec = {
        "cache_pool": {"total_bytes_limit": 0},
        "data_copy_concurrency": {"limit": max(1, num_workers)},
    }
    return ts.Context(spec), ts.Context(spec)


def open_fov_stores(
    source_fov: FOVInfo,
    target_root: str,
    zarr_format: int,
    slab_rows: int,
    contexts: tuple[ts.Context, ts.Context],
) -> FOVStores:
    """Open one FOV's source array and its empty copy (created by :mod:`.layout`).

    Raises
    ------
    ValueError
        When an array cannot be opened (naming the plate and FOV).
    """
    target_fov = replace(source_fov, store_path=target_root, zarr_format=zarr_format)
    stores = []
    for fov, kwargs, context in (
        (source_fov, {"read": True}, contexts[0]),
        (target_fov, {"read": True, "write": True}, contexts[0]),
        (target_fov, {"read": True}, contexts[1]),
    ):
        try:
            store = ts.open(tensorstore_spec(fov), **kwargs, context=context).result()
        except Exception as err:  # tensorstore reports every failure as its own status
            raise ValueError(
                f"{fov.store_path}: FOV {fov.fov_name!r}: cannot open its array "
                f"{fov.array_name!r}: {err}"
            ) from err
        stores.append(store[ts.d[:].mark_bounds_implicit[False]])
    return FOVStores(source_fov, target_fov, *stores, slab_rows=max(1, slab_rows))


def copy_box(stores: FOVStores, box: Box) -> tuple[bytes, int]:
    """Copy one box, read it back and compare; returns (SHA-256 digest, bytes of pixels).

    Raises
    ------
    ValueError
        The source box cannot be read (a damaged chunk), naming the plate, FOV and box.
    OSError
        The copy cannot be written, or reads back different pixels (naming the copy, FOV and
        box); the FOV is then not marked copied, and a new run copies it again.
    """
    index = tuple(slice(start, stop) for start, stop in box)
    source_fov, target_fov = stores.source_fov, stores.target_fov
    where = f"FOV {source_fov.fov_name!r}, box (T, C, Z, Y, X) {[list(b) for b in box]}"
    try:
        pixels = stores.source[index].read().result()
    except Exception as err:
        raise ValueError(
            f"{source_fov.store_path}: {where}: cannot read the source pixels: {err}. The chunk "
            "file is damaged or unreadable: rewrite it, or remove the FOV from the well's metadata"
        ) from err
    pixels = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(pixels.view(np.uint8)).digest()
    try:
        stores.target[index].write(pixels).result()
    except Exception as err:
        raise OSError(f"{target_fov.store_path}: {where}: cannot write the copy: {err}") from err
    y0, y1 = box[3]
    for top in range(y0, y1, stores.slab_rows):
        bottom = min(top + stores.slab_rows, y1)
        rows = (*index[:3], slice(top, bottom), index[4])
        back = stores.check[rows].read().result()
        expected = pixels[:, :, :, top - y0 : bottom - y0]
        if not np.array_equal(back.view(np.uint8), expected.view(np.uint8)):
            raise OSError(
                f"{target_fov.store_path}: {where}: rows {top}..{bottom - 1} read back from the "
                "copy differ from the source; the destination lost data (disk or file system "
                "fault): check it, then run the command again to copy this FOV again"
            )
    return digest, pixels.nbytes


def copy_fovs(
    target: Path,
    layouts: list[FOVLayout],
    version: str,
    manifest: Manifest,
    workers: int,
    progress: Progress | None,
) -> int:
    """Copy every FOV the manifest does not list as copied, recording each as it completes.

    Boxes (:func:`~viscy_data.rechunk.chunking.plan_boxes`) are copied by
    :func:`copy_box` on ``workers`` threads and collected in plate order
    (:func:`~viscy_data.normalization.blocks.ordered_map`, at most ``2 * workers`` in
    flight, so memory does not grow with the plate). When a FOV's last box is back, its
    checksum is added to ``manifest`` and the manifest is rewritten.

    Parameters
    ----------
    target : Path
        Root of the copy, its layout written.
    layouts : list of FOVLayout
        Every FOV of the plate (:func:`~viscy_data.rechunk.layout.plan_layout`).
    version : {"0.4", "0.5"}
        NGFF version of the copy.
    manifest : Manifest
        The copy's manifest; updated in place and on disk.
    workers : int
        Threads; 0 copies in the calling thread.
    progress : callable, optional
        ``progress(bytes, total)`` after each box, first ``progress(0, total)``.

    Returns
    -------
    int
        Bytes of decoded pixels copied.
    """
    todo = [layout for layout in layouts if layout.fov.fov_name not in manifest.checksums]
    plans = []
    for layout in todo:
        fov = layout.fov
        unit = layout.shards or layout.chunks
        itemsize = np.dtype(fov.dtype).itemsize
        plans.append(plan_boxes(fov.shape, itemsize, fov.chunks, unit))
    total = sum(
        int(np.prod(layout.fov.shape)) * np.dtype(layout.fov.dtype).itemsize for layout in todo
    )
    contexts = pixel_contexts(workers)
    zarr_format = 3 if version == "0.5" else 2
    stores: dict[int, FOVStores] = {}

    def boxes() -> Iterator[tuple[int, tuple]]:
        for code, (layout, plan) in enumerate(zip(todo, plans)):
            unit = layout.shards or layout.chunks
            stores[code] = open_fov_stores(layout.fov, str(target), zarr_format, unit[3], contexts)
            yield from ((code, box) for box in plan)

    def copy(item: tuple[int, tuple]) -> tuple[int, bytes, int]:
        code, box = item
        return (code, *copy_box(stores[code], box))

    if progress is not None:
        progress(0, total)
    pause = os.environ.get(PAUSE_VARIABLE)
    pause_after, done, copied = int(pause) if pause else None, 0, 0
    digests: list[bytes] = []
    for code, digest, nbytes in ordered_map(copy, boxes(), workers):
        digests.append(digest)
        copied += nbytes
        done += 1
        if progress is not None:
            progress(nbytes, total)
        if len(digests) == len(plans[code]):
            manifest.checksums[todo[code].fov.fov_name] = hashlib.sha256(
                b"".join(digests)
            ).hexdigest()
            write_manifest(target, manifest)
            stores.pop(code, None)
            digests = []
        if done == pause_after:
            print(
                f"rechunk: paused after {done} boxes ({PAUSE_VARIABLE})",
                file=sys.stderr,
                flush=True,
            )
            while True:
                time.sleep(60)
    for code, plan in enumerate(plans):  # a FOV without pixels has no box
        if not plan:
            manifest.checksums[todo[code].fov.fov_name] = hashlib.sha256(b"").hexdigest()
    return copied
