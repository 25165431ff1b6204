"""The realistic demo dataset: small experiments for ``dynaclr fit`` and learning tests.

Writes OME-Zarr plates (cells simulated by :mod:`dynaclr.demo.simulate`, drawn by
:mod:`dynaclr.demo.render`), per-FOV tracks CSVs, ``normalization`` attributes (computed with
:mod:`viscy_data.normalization`) and an ``experiments.yml`` with paths relative to it, in the
layout of ``docs/data-layout.md``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from dynaclr.demo.files import write_experiments_yaml, write_tracks_csv
from dynaclr.demo.render import render_block
from dynaclr.demo.simulate import EXPERIMENT_STYLES, simulate_fov
from viscy_data.normalization import (
    STATS,
    channel_statistics,
    dataset_sample,
    grid_step,
    normalization_attribute,
)
from viscy_data.testing import create_hcs_plate, write_normalization

__all__ = ["write_demo_dataset"]

_STATS_VOXELS = 1 << 18  # median/IQR sample per channel and FOV; the demo's data depends on it


def _yx(image_size: int | Sequence[int]) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"image_size must be an int or (Y, X) pair >= 16, got {image_size!r}")
    return int(size[0]), int(size[1])


def write_demo_dataset(
    root: str | os.PathLike,
    n_experiments: int = 2,
    *,
    n_frames: int = 20,
    image_size: int | tuple[int, int] = 160,
    z_slices: int = 3,
    fovs_per_well: int = 2,
    cells_per_fov: int = 10,
    cell_radius: float = 8.0,
    division_fraction: float = 0.4,
    border: float = 24.0,
    seed: int = 0,
    version: Literal["0.4", "0.5"] = "0.4",
    chunks: tuple[int, ...] | None = None,
    shards: tuple[int, ...] | None = None,
    compressors: Any = "auto",
    progress: bool = False,
) -> Path:
    """Write small, realistic time-lapse experiments and their ``experiments.yml``.

    Each experiment ``demo{i}_{marker}`` is an OME-Zarr plate ``{name}.zarr`` with wells
    ``A/1`` (condition ``uninfected``) and ``A/2`` (``infected``), ``fovs_per_well`` FOVs
    each, float32 channels ``["Phase3D", <reporter>]`` (reporter names and frame intervals
    differ between experiments: 30, 20, 15, 10 min, cycled), and tracks CSVs under
    ``{name}_tracks/row/col/fov/tracks.csv``.

    Cells are textured disks that move (persistent random walk, bouncing off a ``border``
    margin, so that patches read around them are centred on them) and some divide: the mother
    track ends and two daughter tracks (``parent_track_id`` = mother, first ``parent_id`` =
    mother's last ``id``) start on either side of it. In the infected well about 80% of
    lineages switch phenotype at an onset frame (30-60% of the movie, inherited by
    daughters): the reporter leaves the cytoplasm for the nucleus while the cell's summed
    reporter intensity stays the same, so only the pattern changes. The ground truth is the
    tracks' int column ``infected`` (1 from the onset frame on). Each FOV gets the three
    ``normalization`` levels computed from its pixels (see ``docs/data-layout.md``).

    Parameters
    ----------
    root : str or os.PathLike
        Output folder (created); the plates it would write must not exist yet.
    n_experiments : int, default 2
        Number of experiments.
    n_frames : int, default 20
        Frames per FOV.
    image_size : int or (int, int), default 160
        FOV height and width in pixels.
    z_slices : int, default 3
        Z planes; cells are in focus in the middle one.
    fovs_per_well : int, default 2
        FOVs per well (2 wells per experiment).
    cells_per_fov : int, default 10
        Cells at frame 0 (divisions add more).
    cell_radius : float, default 8.0
        Typical cell radius in pixels.
    division_fraction : float, default 0.4
        Probability that a frame-0 cell divides (at least one per FOV when > 0).
    border : float, default 24.0
        Cell centres stay at least this many pixels (capped at a quarter of the FOV's smaller
        side) from the FOV's edges, so that reads of up to ``2 * border`` pixels (the demo
        config's 48) are centred on every cell instead of being shifted inward at the edge.
    seed : int, default 0
        Seed; equal arguments write identical data.
    version : {"0.4", "0.5"}, default "0.4"
        OME-NGFF version (zarr v2 or v3).
    chunks, shards : tuple of int, optional
        Chunk (default ``(1, 1, Z, Y, X)``) and shard shapes (0.5 only).
    compressors : "auto", None or codecs, default "auto"
        Chunk compression: ``"auto"`` is zarr's default (Blosc LZ4 + shuffle on zarr v2,
        Zstandard on v3), None writes uncompressed chunks (faster to read, larger); see
        :func:`viscy_data.testing.create_hcs_plate`.
    progress : bool, default False
        Show a progress bar (one step per FOV) on stderr.

    Returns
    -------
    Path
        The ``experiments.yml`` written in ``root``.
    """
    height, width = _yx(image_size)
    if n_experiments < 1 or n_frames < 1 or z_slices < 1 or fovs_per_well < 1:
        raise ValueError(
            "n_experiments, n_frames, z_slices and fovs_per_well must be >= 1, got "
            f"{(n_experiments, n_frames, z_slices, fovs_per_well)!r}"
        )
    if cells_per_fov < 1 or not 2 <= cell_radius <= min(height, width) / 4:
        raise ValueError(
            f"cells_per_fov must be >= 1 and cell_radius in [2, image_size / 4]; got "
            f"{cells_per_fov!r} and {cell_radius!r}"
        )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    voxels = n_frames * z_slices * height * width
    step = grid_step(voxels, _STATS_VOXELS)  # median/IQR: an unshifted grid (see sampling)
    block = max(1, (1 << 23) // (2 * z_slices * height * width))
    if chunks is not None:
        block = max(chunks[0], block // chunks[0] * chunks[0])
    entries = []
    bar = tqdm(
        total=n_experiments * 2 * fovs_per_well, desc="writing the demo", unit="FOV",
        file=sys.stderr, disable=not progress,
    )  # fmt: skip
    for e in range(n_experiments):
        marker, organelle, reporter, interval, start_hpi, date = EXPERIMENT_STYLES[
            e % len(EXPERIMENT_STYLES)
        ]
        name = f"demo{e}_{marker}"
        channels = ["Phase3D", reporter]
        wells = {"uninfected": "A/1", "infected": "A/2"}
        fovs = [f"{w}/{k}" for w in wells.values() for k in range(fovs_per_well)]
        shape = (n_frames, 2, z_slices, height, width)
        arrays = create_hcs_plate(
            root / f"{name}.zarr", dict.fromkeys(fovs, shape), channels,
            version=version, chunks=chunks, shards=shards,
            compressors=compressors,
        )  # fmt: skip
        timepoint_stats, fov_stats, samples = {}, {}, []
        dataset_moments = np.zeros((3, 2))
        for f, fov in enumerate(fovs):
            rng = np.random.default_rng([seed, e, f])
            obs = simulate_fov(
                rng, n_frames, (height, width), cells_per_fov, cell_radius,
                infected_well=fov.startswith(wells["infected"] + "/"),
                division_fraction=division_fraction,
                border=min(border, min(height, width) / 4),
            )  # fmt: skip
            timepoints, sample, moments = [], [], np.zeros((3, 2))
            for t0 in range(0, n_frames, block):
                n_t = min(block, n_frames - t0)
                pixels = render_block(obs, t0, n_t, (z_slices, height, width), rng)
                arrays[fov][t0 : t0 + n_t] = pixels
                stats = channel_statistics(pixels.reshape(n_t, 2, -1))
                timepoints.append(stats)
                per_frame = z_slices * height * width  # exact moments from the frame stats
                moments[0] += n_t * per_frame
                moments[1] += stats["mean"].sum(0) * per_frame
                moments[2] += (stats["std"] ** 2 + stats["mean"] ** 2).sum(0) * per_frame
                sample.append(pixels[:, :, :, ::step, ::step].swapaxes(0, 1).reshape(2, -1))
            bar.update(1)
            timepoint_stats[fov] = {k: np.concatenate([s[k] for s in timepoints]) for k in STATS}
            samples.append(np.concatenate(sample, axis=1))
            fov_stats[fov] = channel_statistics(samples[-1], moments)
            dataset_moments += moments
            write_tracks_csv(root / f"{name}_tracks", fov, obs, extra=("infected",))
        dataset = channel_statistics(dataset_sample(samples), dataset_moments)
        normalization = {
            fov: normalization_attribute(channels, dataset, fov_stats[fov], timepoint_stats[fov])
            for fov in fovs
        }
        write_normalization(root / f"{name}.zarr", normalization)
        entries.append(
            {
                "name": name,
                "data_path": f"{name}.zarr",
                "tracks_path": f"{name}_tracks",
                "channel_names": channels,
                "source_channel": list(channels),
                "condition_wells": {c: [w] for c, w in wells.items()},
                "interval_minutes": interval,
                "start_hpi": start_hpi,
                "organelle": organelle,
                "date": date,
                "moi": 5.0,
            }
        )
    bar.close()
    return write_experiments_yaml(
        root, entries, f"DynaCLR demo dataset (seed {seed}), dynaclr.demo"
    )
