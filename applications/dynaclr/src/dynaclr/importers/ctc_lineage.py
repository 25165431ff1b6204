"""CTC lineage files (``man_track.txt`` / ``res_track.txt``) and their reconciliation with masks.

A lineage file has one line per track, ``L B E P``: label, first frame, last frame, parent
label (0 = none). The label masks say where each label is in each frame. They can disagree;
:func:`reconcile_tracks` turns both into one tracks table in our layout and counts every
disagreement (:class:`~dynaclr.importers.ctc_summary.CTCCounts`), so nothing is dropped or
changed silently:

- a label in the masks but not in the lineage file: kept as a root track (parent -1), or
  dropped with ``drop_unlisted``; counted with its observations;
- a lineage entry never seen in a mask: no rows; its daughters become roots (counted), since
  a parent must be a track of the FOV;
- a frame without a mask file: no observations there (counted by the caller);
- a gap inside a track (a label missing from frames between its first and last): kept, the
  track has no rows there; counted per gap;
- a track continuing a parent after missing frames (CTC's way to mark a gap: one daughter
  starting more than one frame after its parent ends): kept as a parent link; counted;
- an observation outside its entry's B..E frames: kept (the mask is the observation);
  counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from dynaclr.cell_index.lineage import find_roots
from dynaclr.importers.ctc_summary import CTCCounts

__all__ = ["read_lineage_file", "reconcile_tracks"]

_SHOW = 5


def read_lineage_file(path: str | Path) -> np.ndarray:
    """Read a ``man_track.txt`` / ``res_track.txt`` into an int64 array of rows ``L B E P``.

    Blank lines are skipped. Each other line holds four non-negative integers with
    ``L > 0``, ``B <= E`` and ``P != L``; labels are unique; parent links have no cycle.

    Parameters
    ----------
    path : str or Path
        The lineage file.

    Returns
    -------
    numpy.ndarray
        Shape (n, 4), columns label, begin frame, end frame, parent label (0 = none).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Naming the file and line number of the first malformed line, a repeated label, or a
        parent cycle.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lineage file {str(path)!r} does not exist.")
    rows, lines = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        problem = ""
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            problem = "expected four non-negative integers 'L B E P'"
        else:
            label, begin, end, parent = map(int, parts)
            if label == 0:
                problem = "label L must be > 0 (0 is the background)"
            elif end < begin:
                problem = f"end frame E={end} is before begin frame B={begin}"
            elif parent == label:
                problem = f"track {label} is its own parent"
        if problem:
            raise ValueError(f"{path}, line {number}: {problem}; got {line.strip()!r}.")
        rows.append((label, begin, end, parent))
        lines.append(number)
    table = np.array(rows, np.int64).reshape(-1, 4)
    if not table.size:
        return table
    labels, counts = np.unique(table[:, 0], return_counts=True)
    if (counts > 1).any():
        label = int(labels[counts > 1][0])
        at = [lines[i] for i in np.flatnonzero(table[:, 0] == label)]
        raise ValueError(
            f"{path}: label {label} is listed twice, on lines {at}; one line per track."
        )
    order = np.argsort(table[:, 0])
    pos = np.searchsorted(table[order, 0], table[:, 3]).clip(0, len(table) - 1)
    listed = (table[:, 3] > 0) & (table[order[pos], 0] == table[:, 3])
    _, cyclic = find_roots(np.where(listed, order[pos], -1))
    if cyclic.any():
        raise ValueError(
            f"{path}: parent labels form a cycle (labels {table[cyclic, 0][:_SHOW].tolist()} "
            "lead back to themselves); a lineage ends at a track whose parent P is 0."
        )
    return table


def reconcile_tracks(
    observations: pl.DataFrame, lineage: np.ndarray, *, drop_unlisted: bool = False
) -> tuple[pl.DataFrame, CTCCounts]:
    """Tracks table of one sequence from its mask observations and lineage rows.

    Parameters
    ----------
    observations : polars.DataFrame
        One row per (label, frame) seen in a mask: ``track_id`` (the label), ``t``, (``z``),
        ``y``, ``x`` and any extra columns.
    lineage : numpy.ndarray
        ``L B E P`` rows from :func:`read_lineage_file`.
    drop_unlisted : bool, default False
        Drop labels absent from the lineage file instead of keeping them as roots.

    Returns
    -------
    tracks : polars.DataFrame
        ``track_id, t, [z,] y, x, parent_track_id`` (the parent label, -1 for roots) and the
        extra columns of ``observations``, sorted by track then frame.
    counts : CTCCounts
        Tracks, divisions, observations and the disagreements (not sequences, frames or
        frames without a mask, which the caller knows).
    """
    entries = pl.DataFrame(
        {
            "track_id": lineage[:, 0],
            "_begin": lineage[:, 1],
            "_end": lineage[:, 2],
            "_parent": lineage[:, 3],
        },
        schema={c: pl.Int64 for c in ("track_id", "_begin", "_end", "_parent")},
    )
    obs = observations.join(entries, on="track_id", how="left").sort("track_id", "t")
    unlisted = obs.filter(pl.col("_begin").is_null())
    n_unlisted = unlisted["track_id"].n_unique()
    if drop_unlisted:
        obs = obs.filter(pl.col("_begin").is_not_null())
    seen = obs["track_id"].unique()
    parent = pl.col("_parent").fill_null(0)
    orphan = (parent > 0) & ~parent.is_in(seen.implode())
    obs = obs.with_columns(
        pl.when((parent > 0) & ~orphan).then(parent).otherwise(-1).alias("parent_track_id"),
        orphan.alias("_orphan"),
    )
    per_track = obs.group_by("track_id").agg(
        pl.col("parent_track_id").first(),
        pl.col("_orphan").first(),
        pl.col("t").min().alias("_first"),
        pl.col("t").max().alias("_last"),
        (pl.col("t").diff() > 1).sum().alias("_gaps"),
    )
    children = (
        per_track.filter(pl.col("parent_track_id") >= 0)
        .group_by("parent_track_id")
        .agg(pl.len().alias("_n"), pl.col("_first").min().alias("_child_first"))
    )
    links = children.filter(pl.col("_n") == 1).join(
        per_track.select(pl.col("track_id").alias("parent_track_id"), "_last"),
        on="parent_track_id",
    )
    outside = obs.filter(
        pl.col("_begin").is_not_null()
        & ((pl.col("t") < pl.col("_begin")) | (pl.col("t") > pl.col("_end")))
    )
    counts = CTCCounts(
        tracks=per_track.height,
        divisions=children.filter(pl.col("_n") >= 2).height,
        observations=obs.height,
        unlisted_labels=n_unlisted,
        unlisted_observations=unlisted.height,
        unseen_tracks=int((~np.isin(lineage[:, 0], seen.to_numpy())).sum()),
        orphaned_tracks=int(per_track["_orphan"].sum()),
        gaps=int(per_track["_gaps"].sum()),
        gap_links=links.filter(pl.col("_child_first") > pl.col("_last") + 1).height,
        outside_span=outside.height,
    )
    coordinates = [c for c in ("z", "y", "x") if c in observations.columns]
    extra = [c for c in observations.columns if c not in ("track_id", "t", *coordinates)]
    return obs.select("track_id", "t", *coordinates, "parent_track_id", *extra), counts
