"""Simulated cells: moving, dividing, some infected; one FOV as a table of observations.

One FOV is simulated as columns (one row per track and frame, as numpy arrays) that
:mod:`dynaclr.demo.render` turns into pixels and :mod:`dynaclr.demo.files` into a tracks CSV.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["EXPERIMENT_STYLES", "Columns", "expand_tracks", "link_observations", "simulate_fov"]

# marker, organelle, reporter channel, interval_minutes, start_hpi, date: cycled per experiment
EXPERIMENT_STYLES = (
    ("SEC61B", "endoplasmic_reticulum", "raw GFP EX488 EM525-45", 30.0, 3.0, "2025-01-15"),
    ("TOMM20", "mitochondria", "raw mCherry EX561 EM600-37", 20.0, 4.0, "2025-02-03"),
    ("H2B", "chromatin", "raw RFP EX561 EM600-50", 15.0, 2.0, "2025-03-10"),
    ("G3BP1", "stress_granules", "raw YFP EX514 EM540-30", 10.0, 1.0, "2025-04-22"),
)
Columns = dict[str, np.ndarray]


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
    border: float = 0.0,
) -> Columns:
    """Simulate moving, dividing cells of one FOV.

    Returns columns, one entry per observation sorted by ``(t, track_id)``: the track table
    (``track_id, t, y, x, id, parent_track_id, parent_id, infected``) and render parameters
    (``radius, amplitude, texture, nucleus_y, nucleus_x, relocalised, mitotic``).
    Track ids start at 1; roots have ``parent_track_id == parent_id == -1``; ``parent_id`` is
    the ``id`` of the previous observation of the track, or of the mother's last one.
    Cell centres stay at least ``max(radius + 1, border)`` pixels from the FOV's edges (they
    bounce off that margin), so patches up to ``2 * border`` pixels wide are centred on them.
    """
    height, width = shape_yx
    margin = max(radius + 1.0, float(border))
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
