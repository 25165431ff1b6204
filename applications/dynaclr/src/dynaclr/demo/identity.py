"""Pixel-identity dataset: stores whose pixels say which cell and frame they show.

Tests read patches through the whole pipeline and decode them with :func:`decode_identity`
to check that each sample shows the cell, frame and channels it claims to.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dynaclr.demo.files import write_experiments_yaml, write_tracks_csv
from dynaclr.demo.simulate import EXPERIMENT_STYLES, expand_tracks, link_observations
from viscy_data.testing import write_hcs_plate

__all__ = [
    "IDENTITY_BACKGROUND",
    "IDENTITY_DECOY",
    "decode_identity",
    "encode_identity",
    "write_identity_dataset",
]

IDENTITY_BACKGROUND = -1.0
"""Identity-dataset value of pixels outside every cell."""
IDENTITY_DECOY = -2.0
"""Identity-dataset value of every pixel of a channel that is not a source channel."""
_E, _K, _T = 16, 1000, 1000  # identity code ranges: experiment, track_id, frame


def encode_identity(experiment_idx: Any, track_id: Any, t: Any) -> np.ndarray:
    """Pixel value of (experiment, track, frame): ``experiment * 1e6 + track_id * 1e3 + t``.

    Exact in float32 for ``experiment < 16``, ``track_id < 1000`` and ``t < 1000``.
    """
    e, k, t = (np.asarray(a, dtype=np.int64) for a in (experiment_idx, track_id, t))
    if np.any((e < 0) | (e >= _E) | (k < 0) | (k >= _K) | (t < 0) | (t >= _T)):
        raise ValueError(
            f"identity codes need 0 <= experiment < {_E}, 0 <= track_id < {_K} and "
            f"0 <= t < {_T}; got {experiment_idx!r}, {track_id!r}, {t!r}"
        )
    return (e * _K * _T + k * _T + t).astype(np.float32)


def decode_identity(values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode identity-dataset pixels into ``(experiment_idx, track_id, t)`` int64 arrays.

    Background pixels (:data:`IDENTITY_BACKGROUND`, -1) decode to ``(-1, -1, -1)``.

    Parameters
    ----------
    values : array_like
        Pixel values, any shape, read from a store written by :func:`write_identity_dataset`.

    Returns
    -------
    tuple of np.ndarray
        Three int64 arrays shaped like ``values``.

    Raises
    ------
    ValueError
        When a value is not a code: not an integer (the pixels were interpolated, blurred or
        normalised), the decoy value -2 (a channel outside ``source_channel`` was read), or
        out of range.

    Examples
    --------
    >>> [int(a) for a in decode_identity(encode_identity(1, 23, 4))]
    [1, 23, 4]
    """
    v = np.asarray(values, dtype=np.float64)
    code = np.rint(v)
    if not np.array_equal(code, v):
        bad = v[code != v].ravel()[:3]
        raise ValueError(f"identity pixels must be integers; got {bad.tolist()} (interpolated?)")
    if np.any(code == IDENTITY_DECOY):
        raise ValueError(f"found the decoy value {IDENTITY_DECOY}: a non-source channel was read")
    background = code == IDENTITY_BACKGROUND
    if np.any(((code < 0) & ~background) | (code >= _E * _K * _T)):
        raise ValueError(f"identity pixels out of range: {v[(code < 0) & ~background][:3]}")
    code = code.astype(np.int64)
    out = (code // (_K * _T), code // _T % _K, code % _T)
    return tuple(np.where(background, -1, a) for a in out)


def write_identity_dataset(
    root: str | os.PathLike,
    n_experiments: int = 2,
    *,
    n_frames: int = 8,
    image_size: int = 64,
    z_slices: int = 2,
    fovs_per_well: int = 1,
    cells_per_fov: int = 4,
    cell_radius: int = 4,
    divisions: bool = True,
    shared_fov_names: bool = True,
    decoy_channel: bool = True,
    normalization: bool = True,
    version: Literal["0.4", "0.5"] = "0.4",
    chunks: tuple[int, ...] | None = None,
    shards: tuple[int, ...] | None = None,
    compressors: Any = "auto",
    dataset_paths: tuple[str, ...] = ("0",),
) -> Path:
    """Write experiments whose pixels encode which cell and frame they show.

    Every pixel of a cell's disk (radius ``cell_radius`` around its integer centroid), in
    every source channel and z slice, holds ``encode_identity(e, track_id, t)`` =
    ``e * 1_000_000 + track_id * 1_000 + t`` for experiment index ``e`` (YAML order); other
    pixels hold -1 (:data:`IDENTITY_BACKGROUND`). Float32 holds these integers exactly;
    :func:`decode_identity` inverts them. Cells sit on a grid, one per slot, never touching,
    and shift by a pixel between frames (``x += t % 3 - 1``, ``y += t // 3 % 2``). With
    ``divisions``, the first cell of each FOV divides at ``n_frames // 2``: its track ends and
    two daughter tracks (``parent_track_id`` = mother) start ``cell_radius + 1`` pixels to its
    left and right. ``track_id`` runs 1, 2, ... across the FOVs of an experiment (roots first
    in each FOV), so every experiment reuses the same track ids.

    Experiment ``e`` is named ``identity{e}``, has wells ``{row}/1`` (``uninfected``) and
    ``{row}/2`` (``infected``) with row ``A`` for all when ``shared_fov_names`` else the
    ``e``-th letter, and frame interval 30, 20, 15 or 10 min (cycled). Its source channels
    are ``["Phase3D", reporter]`` with a different reporter per experiment; with
    ``decoy_channel``, odd experiments store ``[reporter, "Brightfield", "Phase3D"]`` so
    ``channel_maps`` is not the identity, and the Brightfield channel holds -2
    (:data:`IDENTITY_DECOY`) everywhere. With ``normalization``, every FOV gets all three
    levels with mean 0, std 1, median 0 and IQR 1, so normalising leaves pixels unchanged.

    Parameters
    ----------
    root : str or os.PathLike
        Output folder (created).
    n_experiments : int, default 2
        Number of experiments (at most 16).
    n_frames : int, default 8
        Frames per FOV (at most 1000).
    image_size : int, default 64
        FOV height and width; each cell's grid slot must be at least ``4 * cell_radius + 6``.
    z_slices : int, default 2
    fovs_per_well : int, default 1
    cells_per_fov : int, default 4
        Cells at frame 0.
    cell_radius : int, default 4
    divisions, shared_fov_names, decoy_channel, normalization : bool, default True
        See above.
    version : {"0.4", "0.5"}, default "0.4"
    chunks, shards : tuple of int, optional
    compressors : "auto", None or codecs, default "auto"
        As in :func:`viscy_data.testing.write_hcs_plate`.
    dataset_paths : tuple of str, default ("0",)
        Array names of each image's resolution pyramid, full resolution first (e.g.
        ``("s0", "s1")``), as in :func:`viscy_data.testing.write_hcs_plate`.

    Returns
    -------
    Path
        The ``experiments.yml`` written in ``root``.
    """
    side = math.ceil(math.sqrt(cells_per_fov))
    slot = image_size // side
    if slot < 4 * cell_radius + 6 or cell_radius < 1:
        raise ValueError(
            f"image_size={image_size!r} fits {side}x{side} slots of {slot} px for "
            f"cells_per_fov={cells_per_fov!r}; each needs >= 4 * cell_radius + 6 = "
            f"{4 * cell_radius + 6} px. Use a larger image_size or fewer/smaller cells"
        )
    n_tracks = cells_per_fov + 2 * divisions
    if not 1 <= n_experiments <= _E or n_frames >= _T or 2 * fovs_per_well * n_tracks >= _K:
        raise ValueError(
            f"n_experiments must be in [1, {_E}], n_frames < {_T} and fewer than {_K} tracks "
            f"per experiment; got {n_experiments!r}, {n_frames!r}, {2 * fovs_per_well * n_tracks}"
        )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    # Tracks of one FOV (identical layout in every FOV): roots, then two daughters of track 0.
    divide_at = n_frames // 2 if divisions and n_frames >= 2 else n_frames
    mother_of = np.concatenate([np.full(cells_per_fov, -1), np.zeros(2 * divisions, int)])
    t_start = np.concatenate([np.zeros(cells_per_fov, int), np.full(2 * divisions, divide_at)])
    t_stop = np.full(n_tracks, n_frames)
    t_stop[0] = divide_at
    track, t = expand_tracks(t_start, t_stop)
    obs_id, parent_id = link_observations(track, t, mother_of)
    slots = np.concatenate([np.arange(cells_per_fov), np.zeros(2 * divisions, int)])
    split = [-(cell_radius + 1), cell_radius + 1][: 2 * divisions]
    shift = np.concatenate([np.zeros(cells_per_fov, int), split]).astype(int)
    cy = (slots[track] // side) * slot + slot // 2 + t // 3 % 2
    cx = (slots[track] % side) * slot + slot // 2 + t % 3 - 1 + shift[track]
    mother_track_id = np.where(mother_of[track] >= 0, mother_of[track] + 1, -1)
    offsets = np.arange(-cell_radius, cell_radius + 1)
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2) <= cell_radius**2
    dy, dx = (np.broadcast_to(a, disk.shape)[disk] for a in (offsets[:, None], offsets[None, :]))
    entries = []
    for e in range(n_experiments):
        reporter = EXPERIMENT_STYLES[e % len(EXPERIMENT_STYLES)][2].split()[1]
        source = ["Phase3D", reporter]
        channels = [reporter, "Brightfield", "Phase3D"] if decoy_channel and e % 2 else source
        row = "A" if shared_fov_names else chr(ord("A") + e)
        wells = {"uninfected": f"{row}/1", "infected": f"{row}/2"}
        fovs = [f"{w}/{k}" for w in wells.values() for k in range(fovs_per_well)]
        data, tracks_dir = {}, root / f"identity{e}_tracks"
        for f, fov in enumerate(fovs):
            track_id = track + 1 + f * n_tracks
            values = encode_identity(e, track_id, t)
            frame = np.full((n_frames, image_size, image_size), IDENTITY_BACKGROUND, np.float32)
            frame[t[:, None], cy[:, None] + dy, cx[:, None] + dx] = values[:, None]
            pixels = np.empty((n_frames, len(channels), z_slices, image_size, image_size), "f4")
            for c, channel in enumerate(channels):
                pixels[:, c] = frame[:, None] if channel in source else IDENTITY_DECOY
            data[fov] = pixels
            columns = {
                "track_id": track_id, "t": t, "y": cy.astype(float), "x": cx.astype(float),
                "id": obs_id,
                "parent_track_id": np.where(mother_track_id > 0, mother_track_id + f * n_tracks,
                                            -1),
                "parent_id": parent_id,
            }  # fmt: skip
            write_tracks_csv(tracks_dir, fov, columns)
        unit = dict(mean=0.0, std=1.0, median=0.0, iqr=1.0)
        levels = {
            "dataset_statistics": unit,
            "fov_statistics": unit,
            "timepoint_statistics": {str(i): unit for i in range(n_frames)},
        }
        norm = {fov: dict.fromkeys(channels, levels) for fov in fovs} if normalization else None
        write_hcs_plate(
            root / f"identity{e}.zarr", data, channels,
            version=version, chunks=chunks, shards=shards,
            compressors=compressors, normalization=norm, dataset_paths=dataset_paths,
        )  # fmt: skip
        entries.append(
            {
                "name": f"identity{e}",
                "data_path": f"identity{e}.zarr",
                "tracks_path": tracks_dir.name,
                "channel_names": channels,
                "source_channel": source,
                "condition_wells": {c: [w] for c, w in wells.items()},
                "interval_minutes": EXPERIMENT_STYLES[e % len(EXPERIMENT_STYLES)][3],
                "start_hpi": 0.0,
            }
        )
    return write_experiments_yaml(root, entries, "DynaCLR pixel-identity dataset, dynaclr.demo")
