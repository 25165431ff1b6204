"""Normalization statistics of whole plates, streamed chunk by chunk, written per FOV.

The Python side of ``dynaclr preprocess``::

    plate path --check_plate--> PlateInfo (channels, levels, non-empty FOVs, writable)
               --compute_plate_statistics--> PlateStatistics ({fov: {channel: {level: ...}}})
               --write_plate_statistics--> each FOV's ``normalization`` attribute, atomically
    preprocess_plate = all three

Pixels are read with tensorstore (:func:`viscy_data.readers.tensorstore_spec`, no chunk cache),
one block at a time: the frames and channels of one chunk (``(1, 1, Z, Y, X)`` as iohub writes),
or one frame of one channel when a chunk would exceed
:data:`~viscy_data.normalization.blocks.MAX_BLOCK_BYTES`. Worker threads
read and reduce blocks (:func:`~viscy_data.normalization.streaming.block_statistics`); the
calling thread consumes them in plate order, so the result does not depend on the number of
threads, and at most ``2 * num_workers`` blocks are in flight, so memory does not depend on the
plate size. Mean and std are exact at every level; median and IQR follow the subsample rule of
:mod:`viscy_data.normalization.sampling` (exact when a level has at most ``sample_voxels``
voxels). Nothing is written until every FOV of the plate is computed; each FOV's metadata file
is then replaced atomically (:func:`viscy_data.readers.write_fov_attribute`), keeping
the entries of channels and levels not computed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorstore as ts

from viscy_data.normalization.blocks import Block, block_bytes, ordered_map, plan_blocks
from viscy_data.normalization.fov_accumulator import (
    FOVAccumulator,
    add_block,
    check_finite,
    finish_fov,
    plate_attributes,
)
from viscy_data.normalization.plate_check import (
    check_plate,
    default_num_workers,
    selected_channels,
    selected_levels,
)
from viscy_data.normalization.plate_writer import write_normalization_attributes
from viscy_data.normalization.sampling import (
    DATASET_SAMPLE_VOXELS,
    SAMPLE_VOXELS,
    grid_sample_size,
    grid_step,
    thinning_step,
)
from viscy_data.normalization.statistics import (
    LEVELS,
    TIMEPOINT,
)
from viscy_data.normalization.streaming import block_statistics
from viscy_data.readers.ome_zarr import PlateInfo, tensorstore_spec

__all__ = [
    "PlateStatistics",
    "compute_plate_statistics",
    "preprocess_plate",
    "write_plate_statistics",
]

Progress = Callable[[int, int], object]
"""Called with (bytes just read, total bytes of the plate); first with (0, total)."""


@dataclass(frozen=True)
class PlateStatistics:
    """The statistics computed for one plate, ready to write.

    Attributes
    ----------
    plate : PlateInfo
        The plate, as read before computing (each FOV's old ``normalization`` included).
    channel_names, levels : tuple of str
        Channels and levels computed.
    attributes : dict
        ``{fov_name: {channel: {level: {stat: float}}}}``: the computed entries only, in the
        layout of :func:`~viscy_data.normalization.normalization_attribute`.
    bytes_read : int
        Bytes of pixels decoded.
    seconds : float
        Wall time of the computation.
    """

    plate: PlateInfo
    channel_names: tuple[str, ...]
    levels: tuple[str, ...]
    attributes: dict[str, dict[str, dict[str, Any]]]
    bytes_read: int
    seconds: float


def compute_plate_statistics(
    plate: str | os.PathLike | PlateInfo,
    channels: Sequence[str] | None = None,
    levels: Sequence[str] | None = None,
    *,
    num_workers: int | None = None,
    sample_voxels: int = SAMPLE_VOXELS,
    dataset_sample_voxels: int = DATASET_SAMPLE_VOXELS,
    progress: Progress | None = None,
) -> PlateStatistics:
    """Compute the normalization statistics of every FOV of a plate, reading each chunk once.

    Parameters
    ----------
    plate : str, os.PathLike or PlateInfo
        The plate (see :func:`check_plate`).
    channels : sequence of str, optional
        Channels to compute; default all.
    levels : sequence of str, optional
        Levels to compute (``dataset_statistics``, ``fov_statistics``,
        ``timepoint_statistics``); default all.
    num_workers : int, optional
        Threads reading and reducing blocks; 0 works in the calling thread. Default
        :func:`default_num_workers`. Results do not depend on it.
    sample_voxels : int, default SAMPLE_VOXELS (2^22)
        Median/IQR budget of one frame or one FOV per channel: exact up to this many voxels,
        else a regular y/x grid keeping about this many (see
        :mod:`viscy_data.normalization.sampling`).
    dataset_sample_voxels : int, default DATASET_SAMPLE_VOXELS (2^22)
        Most voxels per channel pooled for the plate's median/IQR.
    progress : callable, optional
        ``progress(bytes_read, total_bytes)`` after each block, first ``progress(0, total)``.

    Returns
    -------
    PlateStatistics

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`check_plate` (without the write check); and a ValueError naming the FOV,
        channel and frame when pixels cannot be read or hold NaN or infinity.
    """
    start = time.perf_counter()
    plate = check_plate(plate, channels, levels, writable=False)
    names = selected_channels(plate, channels)
    levels = selected_levels(levels)
    stored = [plate.channel_names.index(name) for name in names]
    workers = default_num_workers() if num_workers is None else int(num_workers)
    if workers < 0:
        raise ValueError(f"num_workers must be >= 0 (0: the calling thread), got {num_workers!r}")
    if min(sample_voxels, dataset_sample_voxels) < 1:
        raise ValueError(
            f"sample_voxels and dataset_sample_voxels must be >= 1, got {sample_voxels!r} and "
            f"{dataset_sample_voxels!r} (defaults {SAMPLE_VOXELS} and {DATASET_SAMPLE_VOXELS})"
        )
    wants_sample = any(level in levels for level in LEVELS[:2])
    fov_steps = [grid_step(int(np.prod(f.shape)) // f.shape[1], sample_voxels) for f in plate.fovs]
    frame_steps = [grid_step(int(np.prod(f.shape[2:])), sample_voxels) for f in plate.fovs]
    pooled = sum(
        grid_sample_size((f.shape[0], *f.shape[2:]), s) for f, s in zip(plate.fovs, fov_steps)
    )
    thin = thinning_step(pooled, dataset_sample_voxels)
    plans = [plan_blocks(code, fov, stored) for code, fov in enumerate(plate.fovs)]
    total = sum(block_bytes(plate.fovs[b.fov], b) for plan in plans for b in plan)
    context = ts.Context(
        {
            "cache_pool": {"total_bytes_limit": 0},
            "data_copy_concurrency": {"limit": max(1, workers)},
        }
    )
    stores: dict[int, Any] = {}

    def reduce(block: Block):
        fov = plate.fovs[block.fov]
        try:
            pixels = stores[block.fov][block.t0 : block.t1, block.read[0] : block.read[1]]
            pixels = pixels.read().result()
        except (ValueError, OSError) as err:
            frames = f"{block.t0}..{block.t1 - 1}" if block.t1 - block.t0 > 1 else block.t0
            raise ValueError(
                f"{fov.store_path}: FOV {fov.fov_name!r}: cannot read frame(s) t={frames} of "
                f"channel(s) {[names[p] for p in block.channels]}: {err}. The chunk file is "
                "damaged or unreadable: rewrite it, or remove the FOV from the well's metadata."
            ) from err
        nbytes = pixels.nbytes
        if block.pick is not None:
            pixels = pixels[:, list(block.pick)]
        tp_step = frame_steps[block.fov] if TIMEPOINT in levels else None
        fov_step = fov_steps[block.fov] if wants_sample else None
        return block, block_statistics(pixels, tp_step, fov_step, block.t0), nbytes

    def blocks() -> Iterator[Block]:
        for code, plan in enumerate(plans):
            fov = plate.fovs[code]
            try:
                stores[code] = ts.open(tensorstore_spec(fov), read=True, context=context).result()
            except (ValueError, OSError) as err:
                raise ValueError(
                    f"{fov.store_path}: FOV {fov.fov_name!r}: cannot open its pixel array: {err}"
                ) from err
            yield from plan

    if progress is not None:
        progress(0, total)
    per_fov: list[dict[str, Any]] = []
    accumulator: FOVAccumulator | None = None
    bytes_read = 0
    for block, stats, nbytes in ordered_map(reduce, blocks(), workers):
        fov = plate.fovs[block.fov]
        if accumulator is None:
            accumulator = FOVAccumulator(fov, len(names), len(plans[block.fov]))
        check_finite(fov, block, stats.mean + stats.m2, names)
        add_block(accumulator, block, stats)
        bytes_read += nbytes
        if progress is not None:
            progress(nbytes, total)
        if accumulator.blocks_left == 0:
            per_fov.append(finish_fov(accumulator, levels, thin))
            stores.pop(block.fov, None)
            accumulator = None
    attributes = plate_attributes(plate, names, levels, per_fov)
    return PlateStatistics(
        plate, names, levels, attributes, bytes_read, time.perf_counter() - start
    )


def write_plate_statistics(statistics: PlateStatistics) -> list[str]:
    """Write each FOV's ``normalization`` attribute (see
    :func:`~viscy_data.normalization.plate_writer.write_normalization_attributes`).

    Returns
    -------
    list of str
        Names of the FOVs written.
    """
    return write_normalization_attributes(statistics.plate, statistics.attributes)


def preprocess_plate(
    plate: str | os.PathLike | PlateInfo,
    channels: Sequence[str] | None = None,
    levels: Sequence[str] | None = None,
    *,
    num_workers: int | None = None,
    sample_voxels: int = SAMPLE_VOXELS,
    dataset_sample_voxels: int = DATASET_SAMPLE_VOXELS,
    progress: Progress | None = None,
) -> PlateStatistics:
    """Compute and write the ``normalization`` attribute of every FOV of a plate.

    :func:`check_plate` (write access included), then :func:`compute_plate_statistics`, then
    :func:`write_plate_statistics`; the arguments are those of
    :func:`compute_plate_statistics`. Pixel data is only read.

    Examples
    --------
    >>> from viscy_data.normalization import preprocess_plate
    >>> stats = preprocess_plate("experiment.zarr", channels=["GFP"])  # doctest: +SKIP
    >>> stats.attributes["A/1/0"]["GFP"]["fov_statistics"]["median"]  # doctest: +SKIP
    100.4
    """
    plate = check_plate(plate, channels, levels, writable=True)
    statistics = compute_plate_statistics(
        plate,
        channels,
        levels,
        num_workers=num_workers,
        sample_voxels=sample_voxels,
        dataset_sample_voxels=dataset_sample_voxels,
        progress=progress,
    )
    write_plate_statistics(statistics)
    return statistics
