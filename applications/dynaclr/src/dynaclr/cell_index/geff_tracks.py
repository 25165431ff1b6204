"""Step 2a: geff graph stores -> tracks tables in our CSV layout (track_id, t, y, x, parents).

A geff store (https://github.com/live-image-tracking-tools/geff) holds one node per
observation and one edge per link in time. It is read with ``geff.core_io.read_to_memory``
and split into tracks, vectorised:

- a track is a chain of nodes linked one to one: each node but the first has one
  predecessor, and each node but the last has exactly one successor;
- a node with two or more successors (a division) ends its track; each successor starts a
  daughter track whose ``parent_track_id`` is the mother's track;
- a node with two or more predecessors (a merge) is an error: our lineage model gives a cell
  one parent.

Time and space come from the store's axes metadata (the one ``time`` axis; two or three
``space`` axes, matched to z/y/x by name when they are named so, else by order), or, without
axes, from node properties named ``t``, ``y``, ``x`` and optionally ``z``. Times are frame
indices and positions pixels of the full-resolution array; no scale is applied. Other scalar
node properties ride along as extra columns. Rows carry ``id`` (the node id) and
``parent_id`` (its predecessor's node id, -1 for none).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dynaclr.cell_index.geff_nodes import (
    SHOW,
    axis_properties,
    edge_indices,
    extra_columns,
    frame_indices,
    node_property,
)
from dynaclr.cell_index.lineage import find_roots

__all__ = ["FOV_PROPERTY", "geff_to_tracks", "is_geff_store", "read_geff_tracks"]

FOV_PROPERTY = "fov_name"
"""Node property naming each node's FOV (``"A/1/0"``) in a geff store for a whole experiment."""


def is_geff_store(path: str | Path) -> bool:
    """Whether ``path`` is a folder whose zarr attributes hold geff metadata.

    Checks ``.zattrs`` (zarr v2) or ``zarr.json`` (zarr v3) for a top-level ``"geff"`` key,
    without importing geff.

    Examples
    --------
    >>> is_geff_store("/no/such/folder")
    False
    """
    path = Path(path)
    for name, key in ((".zattrs", None), ("zarr.json", "attributes")):
        meta = path / name
        if meta.is_file():
            try:
                attrs = json.loads(meta.read_text())
            except (OSError, ValueError):
                return False
            attrs = attrs.get(key, {}) if key else attrs
            return isinstance(attrs, dict) and "geff" in attrs
    return False


def read_geff_tracks(path: str | Path) -> pl.DataFrame:
    """Read a geff store into a tracks table (see the module docstring for the rules).

    Parameters
    ----------
    path : str or Path
        Root of the geff store (the zarr group with the ``geff`` attribute).

    Returns
    -------
    polars.DataFrame
        ``track_id, t, [z,] y, x, id, parent_track_id, parent_id`` and the store's other
        scalar node properties (``fov_name`` among them when present), sorted by track then
        frame.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the store: not a geff store, unreadable, missing time or space properties,
        missing or non-integral frames, edges to unknown nodes or backwards in time, merges.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"geff store {str(path)!r} does not exist.")
    if not is_geff_store(path):
        raise ValueError(
            f"{path}: not a geff store (no 'geff' entry in its .zattrs or zarr.json). Point "
            "tracks_path at a geff zarr group, a folder of per-FOV tracks, or a CSV/Parquet table."
        )
    from geff.core_io import read_to_memory

    try:
        graph = read_to_memory(path)
    except (ValueError, KeyError, TypeError, OSError) as err:
        raise ValueError(f"{path}: cannot read geff store ({type(err).__name__}: {err}).") from err
    metadata = graph["metadata"]
    tracks = geff_to_tracks(
        np.asarray(graph["node_ids"]),
        {name: (p["values"], p.get("missing")) for name, p in graph["node_props"].items()},
        np.asarray(graph["edge_ids"]).reshape(-1, 2),
        axes=[(a.name, a.type) for a in metadata.axes] if metadata.axes else None,
        directed=bool(metadata.directed),
        source=str(path),
    )
    if FOV_PROPERTY in tracks.columns:
        _check_edges_within_fovs(tracks, str(path))
    return tracks


def _check_edges_within_fovs(tracks: pl.DataFrame, source: str) -> None:
    """Raise when an edge links nodes of two FOVs (lineages never cross FOVs)."""
    parents = tracks.select(pl.col("id").alias("parent_id"), pl.col(FOV_PROPERTY).alias("_p"))
    crossing = tracks.join(parents, on="parent_id").filter(pl.col(FOV_PROPERTY) != pl.col("_p"))
    if crossing.height:
        shown = crossing.select("parent_id", "_p", "id", FOV_PROPERTY).head(SHOW).rows()
        raise ValueError(
            f"{source}: {crossing.height} edge(s) link nodes of different FOVs, e.g. {shown} "
            f"as (node, {FOV_PROPERTY}, successor, {FOV_PROPERTY}). A lineage stays in one FOV."
        )


def geff_to_tracks(
    node_ids: np.ndarray,
    node_props: dict[str, tuple[np.ndarray, np.ndarray | None]],
    edge_ids: np.ndarray,
    *,
    axes: list[tuple[str, str | None]] | None = None,
    directed: bool = True,
    source: str = "geff store",
) -> pl.DataFrame:
    """Split a graph held in arrays into tracks with lineage (the geff reader's core).

    Parameters
    ----------
    node_ids : numpy.ndarray
        Unique integer id per node, shape (N,).
    node_props : dict
        Property name -> ``(values, missing)``; ``values`` has shape (N,) and ``missing`` is a
        bool mask (or None when no value is missing).
    edge_ids : numpy.ndarray
        Node-id pairs, shape (E, 2); directed edges run from earlier to later frames,
        undirected ones are oriented by time.
    axes : list of (name, type), optional
        The geff axes (type ``"time"``, ``"space"`` or None); without them properties named
        ``t``, ``y``, ``x`` (and ``z``) are used.
    directed : bool, default True
        Whether edges are directed.
    source : str
        Named in error messages.

    Returns
    -------
    polars.DataFrame
        As :func:`read_geff_tracks`.

    Raises
    ------
    ValueError
        Naming ``source`` and the offending nodes or edges.

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.array([1, 2, 3, 4])
    >>> props = {"t": (np.array([0, 1, 2, 2]), None), "y": (np.full(4, 5.0), None),
    ...          "x": (np.full(4, 6.0), None)}
    >>> tracks = geff_to_tracks(ids, props, np.array([[1, 2], [2, 3], [2, 4]]))
    >>> tracks.select("track_id", "t", "id", "parent_track_id").rows()
    [(1, 0, 1, -1), (1, 1, 2, -1), (2, 2, 3, 1), (3, 2, 4, 1)]
    """
    names = axis_properties(axes, node_props, source)
    ids = np.asarray(node_ids).astype(np.int64, copy=False)
    n = ids.size
    if np.unique(ids).size != n:
        raise ValueError(f"{source}: node ids are not unique; a geff node id names one node.")
    values = {col: node_property(node_props, prop, col, source, ids) for col, prop in names.items()}
    t = frame_indices(values.pop("t"), names["t"], ids, source)
    src, dst = edge_indices(np.asarray(edge_ids).astype(np.int64), ids, t, directed, source)
    n_in = np.bincount(dst, minlength=n)
    merged = np.flatnonzero(n_in > 1)
    if merged.size:
        node = int(merged[0])
        preds = sorted(int(ids[s]) for s in src[dst == node])
        raise ValueError(
            f"{source}: node {int(ids[node])} (t={int(t[node])}) has {len(preds)} "
            f"predecessors {preds[:SHOW]}, a merge; {merged.size} node(s) merge, e.g. "
            f"{ids[merged[:SHOW]].tolist()}. Every cell has one parent in dynaclr's lineage "
            "model: keep one incoming edge per node (split the merged track in your tracker)."
        )
    n_out = np.bincount(src, minlength=n)
    pred = np.full(n, -1, np.int64)
    pred[dst] = src
    has_pred = pred >= 0
    continues = np.zeros(n, bool)
    continues[has_pred] = n_out[pred[has_pred]] == 1
    head, cyclic = find_roots(np.where(continues, pred, -1))
    assert not cyclic.any(), "edges run forward in time, so chains cannot cycle"
    heads = np.flatnonzero(~continues)
    order = np.lexsort((ids[heads], t[heads]))
    track_of_head = np.empty(n, np.int64)
    track_of_head[heads[order]] = np.arange(1, heads.size + 1)
    track_id = track_of_head[head]
    mother = pred[head]
    parent_track_id = np.where(mother >= 0, track_id[np.maximum(mother, 0)], -1)
    columns: dict[str, Any] = {"track_id": track_id, "t": t}
    columns.update({c: values[c] for c in ("z", "y", "x") if c in values})
    columns.update(
        id=ids,
        parent_track_id=parent_track_id,
        parent_id=np.where(has_pred, ids[np.maximum(pred, 0)], -1),
    )
    table = pl.DataFrame(columns).with_columns(extra_columns(node_props, names, n))
    return table.sort("track_id", "t")
