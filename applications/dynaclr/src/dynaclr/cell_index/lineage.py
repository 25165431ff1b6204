"""Lineages: parent links, root ancestors and the ancestry table, vectorised.

Tracks are numbered densely by ``global_track_id`` (0..n-1), so a parent link is an integer
array ``parent[g]`` (-1 for a root). Roots are found by pointer jumping
(``ptr <- ptr[ptr]``, about log2(depth) passes), which also exposes cycles: a track whose
pointer never lands on a root is in, or descends from, a cycle. Nothing here loops over rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from dynaclr.cell_index.track_values import Sources, locate

__all__ = ["ancestry", "find_roots", "link_parents", "parents_per_track", "raise_cycle"]

_SHOW = 5


def parents_per_track(parent_track_id: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Collapse a per-row parent column to one parent per track.

    Rows of a track may leave the parent empty (-1) but must not name two parents.

    Parameters
    ----------
    parent_track_id : numpy.ndarray
        int64 per observation row, rows grouped by track, -1 for "no parent".
    starts : numpy.ndarray
        Index of the first row of each track.

    Returns
    -------
    parent : numpy.ndarray
        Parent ``track_id`` per track (-1 for roots).
    conflicting : numpy.ndarray
        bool per track, True where rows name different parents.
    """
    if starts.size == 0:
        return np.empty(0, np.int64), np.empty(0, bool)
    high = np.maximum.reduceat(parent_track_id, starts)
    low = np.minimum.reduceat(
        np.where(parent_track_id < 0, np.iinfo(np.int64).max, parent_track_id), starts
    )
    return high, (high >= 0) & (low != high)


def link_parents(
    fov_idx: np.ndarray,
    track_id: np.ndarray,
    parent_track_id: np.ndarray,
    fov_labels: Sequence[tuple[str, str]],
    sources: Sources | None = None,
) -> np.ndarray:
    """Resolve each track's parent ``track_id`` to the parent's ``global_track_id``.

    Parents are looked up in the same (experiment, well, FOV) only.

    Parameters
    ----------
    fov_idx, track_id, parent_track_id : numpy.ndarray
        One entry per track, ordered by ``global_track_id``; parent -1 for roots.
    fov_labels : sequence of (experiment, fov_name)
        Label of each ``fov_idx``, for messages.
    sources : mapping, optional
        ``(experiment, fov_name) -> file`` for messages.

    Returns
    -------
    numpy.ndarray
        int64 parent ``global_track_id`` per track, -1 for roots.

    Raises
    ------
    ValueError
        If a parent is not a track of the same FOV (the message says whether another FOV of
        the experiment has it).
    """
    tracks = pl.DataFrame({"fov_idx": fov_idx, "track_id": track_id})
    tracks = tracks.with_row_index("parent_gid").with_columns(pl.col("parent_gid").cast(pl.Int64))
    wanted = pl.DataFrame({"fov_idx": fov_idx, "track_id": parent_track_id})
    linked = wanted.join(tracks, on=["fov_idx", "track_id"], how="left", maintain_order="left")
    parent = linked["parent_gid"].fill_null(-1).to_numpy()
    missing = np.flatnonzero((parent_track_id >= 0) & (parent < 0))
    if missing.size:
        raise ValueError(
            _missing_parent_message(
                missing, fov_idx, track_id, parent_track_id, fov_labels, sources
            )
        )
    return parent


def _missing_parent_message(missing, fov_idx, track_id, parent_track_id, fov_labels, sources):
    g = int(missing[0])
    experiment, fov_name = fov_labels[fov_idx[g]]
    pid = int(parent_track_id[g])
    elsewhere = [
        fov_labels[f][1]
        for f in np.unique(fov_idx[track_id == pid])
        if fov_labels[f][0] == experiment and fov_labels[f][1] != fov_name
    ]
    where = (
        f"it is a track of another FOV ({elsewhere[:_SHOW]}), and lineages never cross FOVs"
        if elsewhere
        else "no track of this FOV has that id"
    )
    others = [
        (fov_labels[fov_idx[i]][1], int(track_id[i]), int(parent_track_id[i]))
        for i in missing[:_SHOW]
    ]
    return (
        f"{locate(sources, experiment, fov_name)}: track {int(track_id[g])} has "
        f"parent_track_id {pid}, but {where}. {missing.size} track(s) have such parents, e.g. "
        f"{others} as (fov, track_id, parent_track_id). Set a root's parent to -1 or fix the ids."
    )


def find_roots(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root ancestor of every track by pointer jumping; terminates on cycles.

    Parameters
    ----------
    parent : numpy.ndarray
        int64 parent index per track, -1 for roots.

    Returns
    -------
    root : numpy.ndarray
        Index of the root ancestor (itself for a root). Meaningless where ``cyclic``.
    cyclic : numpy.ndarray
        bool, True for tracks in a cycle or descending from one.

    Examples
    --------
    >>> root, cyclic = find_roots(np.array([-1, 0, 1, 4, 3]))
    >>> root[:3].tolist(), cyclic.tolist()
    ([0, 0, 0], [False, False, False, True, True])
    """
    n = parent.size
    is_root = parent < 0
    ptr = np.where(is_root, np.arange(n), parent)
    for _ in range(int(np.ceil(np.log2(max(n, 2)))) + 1):
        jumped = ptr[ptr]
        if np.array_equal(jumped, ptr):
            break
        ptr = jumped
    return ptr, ~is_root[ptr]


def ancestry(parent: np.ndarray) -> pl.DataFrame:
    """Table of (track, ancestor-or-self) pairs of an acyclic parent array.

    Its size is the sum over tracks of (generations above the track + 1); one vectorised
    pass per generation.

    Parameters
    ----------
    parent : numpy.ndarray
        int64 parent index per track, -1 for roots; must be acyclic (see :func:`find_roots`).

    Returns
    -------
    polars.DataFrame
        Columns ``global_track_id`` and ``ancestor_id`` (Int64), sorted by
        ``global_track_id`` then generation (self first, root last).

    Raises
    ------
    ValueError
        If ``parent`` has a cycle.

    Examples
    --------
    >>> ancestry(np.array([-1, 0, 0])).rows()
    [(0, 0), (1, 1), (1, 0), (2, 2), (2, 0)]
    """
    n = parent.size
    track = np.arange(n, dtype=np.int64)
    tracks, ancestors = [track], [track]
    above = parent.astype(np.int64, copy=False)
    for _ in range(n + 1):
        keep = above >= 0
        if not keep.any():
            break
        track, above = track[keep], above[keep]
        tracks.append(track)
        ancestors.append(above)
        above = parent[above]
    else:
        raise ValueError("parent links form a cycle; check them with find_roots first.")
    track, ancestor = np.concatenate(tracks), np.concatenate(ancestors)
    order = np.argsort(track, kind="stable")
    return pl.DataFrame({"global_track_id": track[order], "ancestor_id": ancestor[order]})


def raise_cycle(parent, cyclic, fov_idx, track_id, fov_labels, sources) -> None:
    """Raise a ValueError that shows one parent-link cycle (track ids) and names its file."""
    g = int(np.flatnonzero(cyclic)[0])
    seen: list[int] = []
    while g not in seen and len(seen) < 20:  # walk up to show the loop, bounded
        seen.append(g)
        g = int(parent[g])
    loop = [int(track_id[k]) for k in seen[seen.index(g) :]] if g in seen else []
    experiment, fov_name = fov_labels[fov_idx[seen[0]]]
    raise ValueError(
        f"{locate(sources, experiment, fov_name)}: parent_track_id links form a cycle "
        f"(track ids {loop or [int(track_id[k]) for k in seen]} lead back to themselves); "
        f"{int(cyclic.sum())} track(s) are in or below a cycle. A lineage must end at a root "
        "whose parent_track_id is -1."
    )
