"""Building blocks of the synthetic datasets: cells, pixels, statistics and their files.

One FOV is simulated as a table of observations (one row per track and frame, as numpy
columns) and rendered frame block by frame block with vectorised numpy (one ``bincount``
per block and channel, no per-pixel Python). The writers put tracks CSVs and the
``experiments.yml`` where ``docs/data-layout.md`` says; :mod:`dynaclr.demo` and
:mod:`dynaclr.demo_identity` write the plates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

__all__ = [
    "EXPERIMENT_STYLES",
    "channel_statistics",
    "expand_tracks",
    "link_observations",
    "render_block",
    "simulate_fov",
    "write_experiments_yaml",
    "write_tracks_csv",
]

# marker, organelle, reporter channel, interval_minutes, start_hpi, date: cycled per experiment
EXPERIMENT_STYLES = (
    ("SEC61B", "endoplasmic_reticulum", "raw GFP EX488 EM525-45", 30.0, 3.0, "2025-01-15"),
    ("TOMM20", "mitochondria", "raw mCherry EX561 EM600-37", 20.0, 4.0, "2025-02-03"),
    ("H2B", "chromatin", "raw RFP EX561 EM600-50", 15.0, 2.0, "2025-03-10"),
    ("G3BP1", "stress_granules", "raw YFP EX514 EM540-30", 10.0, 1.0, "2025-04-22"),
)
TRACK_COLUMNS = ["track_id", "t", "y", "x", "id", "parent_track_id", "parent_id"]

Columns = dict[str, np.ndarray]


def write_tracks_csv(
    folder: Path, fov_name: str, columns: dict[str, np.ndarray], extra: Sequence[str] = ()
) -> None:
    """Write ``folder/fov_name/tracks.csv`` with the track columns (plus ``extra``)."""
    table = pl.DataFrame({k: columns[k] for k in [*TRACK_COLUMNS, *extra]})
    path = folder / fov_name / "tracks.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write_csv(path)


def write_experiments_yaml(root: Path, experiments: list[dict[str, Any]], header: str) -> Path:
    """Write ``root/experiments.yml`` with a comment header; return its path."""
    path = root / "experiments.yml"
    text = yaml.safe_dump({"experiments": experiments}, sort_keys=False, default_flow_style=None)
    path.write_text(f"# {header}\n# Paths are relative to this file's folder.\n{text}")
    return path


def _reflect(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold values into [low, high] by mirror reflection at both edges (cells bounce)."""
    span = high - low
    folded = np.mod(values - low, 2 * span)
    return low + span - np.abs(folded - span)


def _random_walk(rng: np.random.Generator, n_frames: int, n: int, sigma: float) -> np.ndarray:
    """Displacements (T, n, 2) of a persistent random walk (AR(1) velocities)."""
    steps = rng.normal(0.0, sigma, (n_frames, n, 2))
    velocity = np.zeros_like(steps)
    for t in range(1, n_frames):
        velocity[t] = 0.8 * velocity[t - 1] + steps[t]
    return np.cumsum(velocity, axis=0)


def expand_tracks(t_start: np.ndarray, t_stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per (track, frame) for tracks alive in ``[t_start, t_stop)``.

    Returns ``(track, t)``: track positions (0-based) and frames, sorted by ``(t, track)``.
    """
    lengths = t_stop - t_start
    track = np.repeat(np.arange(len(lengths)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    t = np.arange(lengths.sum()) - first + np.repeat(t_start, lengths)
    order = np.lexsort((track, t))
    return track[order], t[order]


def link_observations(
    track: np.ndarray, t: np.ndarray, mother_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Observation ids (1, 2, ... in row order) and each row's ``parent_id``.

    ``parent_id`` is the id of the previous observation of the same track; for a track's
    first row it is the id of the mother's last observation (``mother_of[track]``, -1 for a
    root), or -1 for a root.
    """
    obs_id = np.arange(1, len(t) + 1)
    by_track = np.lexsort((t, track))
    sorted_track = track[by_track]
    same = sorted_track[1:] == sorted_track[:-1]
    is_last = np.append(~same, True)
    last_id = np.full(len(mother_of), -1)
    last_id[sorted_track[is_last]] = obs_id[by_track[is_last]]
    parent_id = np.full(len(t), -1)
    parent_id[by_track[1:][same]] = obs_id[by_track[:-1][same]]
    first = parent_id < 0
    has_mother = first & (mother_of[track] >= 0)
    parent_id[has_mother] = last_id[mother_of[track[has_mother]]]
    return obs_id, parent_id


def simulate_fov(
    rng: np.random.Generator,
    n_frames: int,
    shape_yx: tuple[int, int],
    n_cells: int,
    radius: float,
    infected_well: bool,
    division_fraction: float = 0.4,
    infected_fraction: float = 0.8,
) -> Columns:
    """Simulate moving, dividing cells of one FOV.

    Returns columns, one entry per observation sorted by ``(t, track_id)``: the track table
    (``track_id, t, y, x, id, parent_track_id, parent_id, infected``) and render parameters
    (``radius, amplitude, texture, nucleus_y, nucleus_x, relocalised, mitotic``).
    Track ids start at 1; roots have ``parent_track_id == parent_id == -1``; ``parent_id`` is
    the ``id`` of the previous observation of the track, or of the mother's last one.
    """
    height, width = shape_yx
    margin = radius + 1.0
    side = math.ceil(math.sqrt(n_cells))
    slots = rng.choice(side * side, n_cells, replace=False)
    start = np.stack(
        [
            margin
            + (slots // side + rng.uniform(0.3, 0.7, n_cells)) * (height - 2 * margin) / side,
            margin + (slots % side + rng.uniform(0.3, 0.7, n_cells)) * (width - 2 * margin) / side,
        ],
        axis=-1,
    )
    paths = start[None] + _random_walk(rng, n_frames, n_cells, 0.35)  # (T, n, 2)
    divides = rng.random(n_cells) < division_fraction
    if n_frames < 3:
        divides[:] = False
    elif division_fraction > 0 and not divides.any():
        divides[rng.integers(n_cells)] = True
    mothers = np.flatnonzero(divides)
    n_daughters = 2 * len(mothers)
    div_frame = rng.integers(max(1, n_frames // 4), max(2, 3 * n_frames // 4) + 1, n_cells)
    div_frame = np.minimum(div_frame, n_frames - 1)
    # Daughters split along a random axis from the mother's path, then wander on their own.
    angle = rng.uniform(0, np.pi, len(mothers))
    axis = np.stack([np.sin(angle), np.cos(angle)], axis=-1)  # (m, 2)
    frames = np.arange(n_frames)[:, None]
    since = np.clip(frames - div_frame[mothers][None] + 1, 0, None)  # (T, m)
    separation = radius * np.minimum(1.0, 0.45 + 0.2 * since)[..., None] * axis[None]
    own = _random_walk(rng, n_frames, n_daughters, 0.25) * 0.5
    daughter_paths = (
        np.concatenate([paths[:, mothers] + separation, paths[:, mothers] - separation], axis=1)
        + own
    )
    all_paths = np.concatenate([paths, daughter_paths], axis=1)  # (T, n + 2m, 2)
    all_paths[..., 0] = _reflect(all_paths[..., 0], margin, height - 1 - margin)
    all_paths[..., 1] = _reflect(all_paths[..., 1], margin, width - 1 - margin)

    n_tracks = n_cells + n_daughters
    mother_of = np.concatenate([np.full(n_cells, -1), mothers, mothers])
    t_start = np.concatenate([np.zeros(n_cells, int), div_frame[mothers], div_frame[mothers]])
    t_stop = np.concatenate(
        [np.where(divides, div_frame, n_frames), np.full(n_daughters, n_frames)]
    )
    root = np.where(mother_of < 0, np.arange(n_tracks), mother_of)
    # Per-track looks: daughters inherit the mother's texture, brightness and infection onset.
    size = rng.uniform(0.85, 1.15, n_cells)[root] * np.where(mother_of < 0, 1.0, 0.8)
    amplitude = rng.uniform(0.8, 1.2, n_cells)[root]
    texture = rng.uniform(-1.0, 1.0, (n_cells, 6))[root] * np.array([1, 1, np.pi, 1, 1, np.pi])
    nucleus = rng.uniform(-0.15, 0.15, (n_cells, 2))[root] * radius
    onset_low, onset_high = max(1, int(0.3 * n_frames)), max(2, int(0.6 * n_frames))
    onset = rng.integers(onset_low, onset_high + 1, n_cells)
    infects = infected_well & (rng.random(n_cells) < infected_fraction)
    onset = np.where(infects, onset, n_frames + 1)[root]

    track, t = expand_tracks(t_start, t_stop)
    obs_id, prev = link_observations(track, t, mother_of)

    y = np.round(all_paths[t, track, 0], 2)
    x = np.round(all_paths[t, track, 1], 2)
    mitotic = divides[np.minimum(track, n_cells - 1)] & (track < n_cells)
    mitotic &= t >= div_frame[np.minimum(track, n_cells - 1)] - 2
    return {
        "track_id": track + 1,
        "t": t,
        "y": y,
        "x": x,
        "id": obs_id,
        "parent_track_id": np.where(mother_of[track] >= 0, mother_of[track] + 1, -1),
        "parent_id": prev,
        "infected": (t >= onset[track]).astype(np.int64),
        "radius": radius * size[track] * np.where(mitotic, 0.85, 1.0),
        "amplitude": amplitude[track] * np.where(mitotic, 1.4, 1.0),
        "texture": texture[track],
        "nucleus_y": nucleus[track, 0],
        "nucleus_x": nucleus[track, 1],
        "relocalised": t >= onset[track],
        "mitotic": mitotic,
    }


def _soft_disk(dist: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Disk of the given radius with a ~1.5 px soft edge; ``dist`` in pixels."""
    return np.clip((radius - dist) / 1.5 + 0.5, 0.0, 1.0)


def render_block(
    obs: Columns,
    t_start: int,
    n_t: int,
    shape_zyx: tuple[int, int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """Render frames ``[t_start, t_start + n_t)`` as ``(n_t, 2, Z, Y, X)`` float32.

    Channel 0 is phase-like (a textured dome, denser nucleus, brighter rounded mitotic cells,
    background 0). Channel 1 is a fluorescent reporter (background 100): diffuse, textured
    cytoplasm; after infection it relocalises to the nucleus with the cell's summed intensity
    unchanged, so the mean of a patch barely moves while its pattern does. Both dim away from
    the middle z slice; Gaussian noise is added to every voxel.
    """
    n_z, height, width = shape_zyx
    keep = (obs["t"] >= t_start) & (obs["t"] < t_start + n_t)
    o = {k: v[keep] for k, v in obs.items()}
    half = int(np.ceil(o["radius"].max(initial=1.0))) + 2
    offsets = np.arange(-half, half + 1)
    py = np.rint(o["y"]).astype(int)[:, None] + offsets  # (M, P)
    px = np.rint(o["x"]).astype(int)[:, None] + offsets
    u = (py - o["y"][:, None])[:, :, None]  # (M, P, 1)
    v = (px - o["x"][:, None])[:, None, :]  # (M, 1, P)
    r = o["radius"][:, None, None]
    cell = _soft_disk(np.sqrt(u**2 + v**2), r)
    nuc_dist = np.sqrt(
        (u - o["nucleus_y"][:, None, None]) ** 2 + (v - o["nucleus_x"][:, None, None]) ** 2
    )
    nuc = _soft_disk(nuc_dist, 0.45 * r)
    k = o["texture"][:, :, None, None] * np.array([0.9, 0.9, 1, 1.3, 1.3, 1])[None, :, None, None]
    texture = 1 + 0.35 * np.sin(k[:, 0] * u + k[:, 1] * v + k[:, 2]) * np.cos(
        k[:, 3] * u + k[:, 4] * v + k[:, 5]
    )
    dome = np.sqrt(np.clip(1 - (u**2 + v**2) / r**2, 0, 1))
    phase = o["amplitude"][:, None, None] * (0.8 * cell * dome * texture + 0.3 * nuc)
    cyto = cell * (1 - nuc) * texture
    nuclear = (
        nuc
        * cyto.sum(axis=(1, 2), keepdims=True)
        / np.maximum(nuc.sum(axis=(1, 2), keepdims=True), 1e-6)
    )
    moved = o["relocalised"][:, None, None]
    fluor = o["amplitude"][:, None, None] * np.where(moved, 0.3 * cyto + 0.7 * nuclear, cyto)

    inside = ((py >= 0) & (py < height))[:, :, None] & ((px >= 0) & (px < width))[:, None, :]
    flat = ((o["t"] - t_start)[:, None, None] * height + py[:, :, None]) * width + px[:, None, :]
    flat = flat[inside]
    size = n_t * height * width
    images = [
        np.bincount(flat, weights=values[inside], minlength=size)
        .astype(np.float32)
        .reshape(n_t, 1, height, width)
        for values in (phase, fluor)
    ]
    z = np.arange(n_z) - (n_z - 1) / 2
    focus = np.exp(-0.5 * (z / max(1.0, n_z / 2.5)) ** 2).astype(np.float32)
    # Gaussian noise: each plane is a random window of one pool (drawing every voxel is slow).
    plane = height * width
    pool = rng.standard_normal(2 * plane, dtype=np.float32)
    out = np.empty((n_t, 2, n_z, height, width), np.float32)
    planes = out.reshape(-1, plane)
    sigma = np.array([0.05, 8.0], np.float32)  # phase, reporter
    for i, start in enumerate(rng.integers(0, plane, len(planes))):
        np.multiply(pool[start : start + plane], sigma[i // n_z % 2], out=planes[i])
    for z in range(n_z):
        out[:, 0, z] += images[0][:, 0] * focus[z]
        out[:, 1, z] += images[1][:, 0] * (300.0 * focus[z]) + 100.0
    return out


def quartiles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """25th, 50th and 75th percentiles over the last axis (numpy's default linear method).

    Sorting is several times faster than ``np.percentile``'s partition for float32 data.
    """
    ordered = np.sort(values, axis=-1)
    n = ordered.shape[-1]
    out = []
    for q in (0.25, 0.5, 0.75):
        pos = (n - 1) * q
        low = int(np.floor(pos))
        high = min(low + 1, n - 1)
        a = ordered[..., low].astype(np.float64)
        b = ordered[..., high].astype(np.float64)
        out.append(a + (b - a) * (pos - low))
    return out[0], out[1], out[2]


def channel_statistics(
    values: np.ndarray, moments: tuple[float | np.ndarray, np.ndarray, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Mean, std (ddof 0), median and IQR (q75 - q25) over the last axis.

    Parameters
    ----------
    values : np.ndarray
        ``(..., N)`` pixels; median and IQR come from them.
    moments : (count, sum, sum of squares), optional
        Exact moments of the full data when ``values`` is only a sample of it; mean and std
        then come from these.
    """
    q25, median, q75 = quartiles(values)
    if moments is None:  # float32 pairwise sums: ~1e-6 relative error, twice as fast as float64
        mean, std = values.mean(axis=-1), values.std(axis=-1)
    else:
        count, total, total_sq = moments
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return {"mean": mean, "std": std, "median": median, "iqr": q75 - q25}
