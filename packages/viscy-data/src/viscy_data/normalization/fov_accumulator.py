"""One FOV's statistics gathered block by block, then the plate's attribute of every FOV.

:class:`FOVAccumulator` holds the per-frame moments and quartiles and the sample pieces of the
FOV being read (blocks arrive in plate order, so one FOV at a time); :func:`finish_fov` turns
them into its timepoint and FOV statistics, and :func:`plate_attributes` pools every FOV into
the dataset level and lays each FOV's entries out as
:func:`~viscy_data.normalization.normalization_attribute` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from viscy_data.normalization.blocks import Block
from viscy_data.normalization.statistics import (
    LEVELS,
    TIMEPOINT,
    normalization_attribute,
    quartiles,
)
from viscy_data.normalization.streaming import BlockStatistics, moment_statistics, pool_moments
from viscy_data.readers.ome_zarr import FOVInfo, PlateInfo

__all__ = ["FOVAccumulator", "add_block", "check_finite", "finish_fov", "plate_attributes"]


class FOVAccumulator:
    """Per-frame moments and quartiles and the sample pieces of one FOV, until its last block."""

    def __init__(self, fov: FOVInfo, n_channels: int, blocks: int) -> None:
        n_t = fov.shape[0]
        self.count = int(np.prod(fov.shape[2:]))
        self.mean = np.zeros((n_t, n_channels))
        self.m2 = np.zeros((n_t, n_channels))
        self.median = np.full((n_t, n_channels), np.nan)
        self.iqr = np.full((n_t, n_channels), np.nan)
        self.pieces: list[list[np.ndarray]] = [[] for _ in range(n_channels)]
        self.blocks_left = blocks


def check_finite(fov: FOVInfo, block: Block, values: np.ndarray, names: Sequence[str]) -> None:
    """Refuse a block whose moments are not finite (NaN or infinite pixels), naming where."""
    bad = ~np.isfinite(values)
    if bad.any():
        t, p = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(
            f"{fov.store_path}: FOV {fov.fov_name!r}: channel {names[block.channels[p]]!r} "
            f"at frame t={block.t0 + t} holds NaN or infinite pixels, so its statistics are "
            "undefined. Replace them (e.g. by the background value) or leave this channel out "
            "with --channels."
        )


def add_block(acc: FOVAccumulator, block: Block, stats: BlockStatistics) -> None:
    """Store one block's reductions in the accumulator of its FOV."""
    frames, positions = slice(block.t0, block.t1), list(block.channels)
    acc.mean[frames, positions] = stats.mean
    acc.m2[frames, positions] = stats.m2
    if stats.median is not None:
        acc.median[frames, positions] = stats.median
        acc.iqr[frames, positions] = stats.iqr
    if stats.sample is not None:
        for row, p in enumerate(positions):
            acc.pieces[p].append(stats.sample[row])
    acc.blocks_left -= 1


def finish_fov(acc: FOVAccumulator, levels: Sequence[str], thin: int) -> dict[str, Any]:
    """One FOV's timepoint and FOV statistics, its moments and its share of the plate sample."""
    count, mean, m2 = pool_moments(acc.count, acc.mean, acc.m2, axis=0)
    out: dict[str, Any] = {"moments": (count, mean, m2), "sample": None}
    if TIMEPOINT in levels:
        frame = moment_statistics(acc.count, acc.mean, acc.m2)
        out["timepoints"] = {**frame, "median": acc.median, "iqr": acc.iqr}
    if acc.pieces[0]:
        sample = np.stack([np.concatenate(pieces) for pieces in acc.pieces])
        q25, median, q75 = quartiles(sample)
        out["fov"] = {**moment_statistics(count, mean, m2), "median": median, "iqr": q75 - q25}
        out["sample"] = np.ascontiguousarray(sample[:, ::thin])
    return out


def plate_attributes(
    plate: PlateInfo, names: Sequence[str], levels: Sequence[str], per_fov: list[dict[str, Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{fov_name: normalization attribute}`` of every FOV, the dataset level pooled."""
    dataset = None
    if LEVELS[0] in levels:
        moments = [np.stack(parts) for parts in zip(*(f["moments"] for f in per_fov))]
        count, mean, m2 = pool_moments(*moments, axis=0)
        q25, median, q75 = quartiles(np.concatenate([f["sample"] for f in per_fov], axis=1))
        dataset = {**moment_statistics(count, mean, m2), "median": median, "iqr": q75 - q25}
    return {
        fov.fov_name: normalization_attribute(
            names,
            dataset=dataset,
            fov=stats.get("fov") if LEVELS[1] in levels else None,
            timepoints=stats.get("timepoints"),
        )
        for fov, stats in zip(plate.fovs, per_fov)
    }
