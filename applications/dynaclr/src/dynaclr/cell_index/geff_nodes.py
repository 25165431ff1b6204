"""geff node properties and edges as arrays: time and space axes, frames, extra columns.

What :mod:`dynaclr.cell_index.geff_tracks` needs of a store read by
``geff.core_io.read_to_memory``, checked: which node properties hold the time and the
z/y/x positions (from the axes metadata, else properties named ``t``, ``y``, ``x``, ``z``),
frames as integers, positions as finite numbers, edges as index pairs going forward in time,
and the other scalar node properties as extra columns.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = [
    "OWN_COLUMNS",
    "axis_properties",
    "edge_indices",
    "extra_columns",
    "frame_indices",
    "node_property",
]

SHOW = 5  # offending nodes quoted in an error message
OWN_COLUMNS = ("track_id", "t", "z", "y", "x", "id", "parent_track_id", "parent_id")
"""Columns a geff tracks table gets from the graph itself, never from node properties."""


def axis_properties(
    axes: list[tuple[str, str | None]] | None, node_props: dict, source: str
) -> dict[str, str]:
    """Map our columns (t, z, y, x) to the store's property names."""
    found = sorted(node_props)
    if not axes:
        names = {c: c for c in ("t", "z", "y", "x") if c in node_props}
        missing = [c for c in ("t", "y", "x") if c not in names]
        if missing:
            raise ValueError(
                f"{source}: no axes metadata and no node propert(ies) {missing}; found "
                f"{found}. Declare the time and space axes in the geff metadata or name the "
                "properties t, y, x (and z)."
            )
        return names
    time = [name for name, kind in axes if kind == "time"]
    space = [name for name, kind in axes if kind == "space"]
    if not time and any(name == "t" for name, _ in axes):
        time = ["t"]
    if len(time) != 1 or len(space) not in (2, 3):
        raise ValueError(
            f"{source}: the axes metadata {axes} declares time axes {time} and space axes "
            f"{space}; dynaclr needs one time axis (frames) and two (y, x) or three (z, y, x) "
            "space axes in pixels."
        )
    lowered = [s.lower() for s in space]
    wanted = ["z", "y", "x"][-len(space) :]
    by_name = sorted(lowered) == sorted(wanted)
    names = {"t": time[0]}
    names.update({c: space[lowered.index(c)] if by_name else s for c, s in zip(wanted, space)})
    absent = [p for p in names.values() if p not in node_props]
    if absent:
        raise ValueError(
            f"{source}: axes {absent} are declared in the metadata but no node property holds "
            f"them; node properties are {found}."
        )
    return names


def node_property(node_props: dict, prop: str, column: str, source: str, ids: np.ndarray):
    values, missing = node_props[prop]
    values = np.asarray(values)
    what = repr(prop) if prop == column else f"{prop!r} (the {column} axis)"
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise ValueError(
            f"{source}: node property {what} must hold one number per node; got "
            f"dtype {values.dtype} with shape {values.shape}."
        )
    absent = np.asarray(missing, bool) if missing is not None else np.zeros(values.size, bool)
    absent |= ~np.isfinite(values.astype(np.float64))
    if absent.any():
        raise ValueError(
            f"{source}: node property {what} is missing or not finite for "
            f"{int(absent.sum())} node(s), e.g. nodes {ids[absent][:SHOW].tolist()}. Every "
            "node needs a frame and a position."
        )
    return values


def frame_indices(values: np.ndarray, prop: str, ids: np.ndarray, source: str) -> np.ndarray:
    whole = np.round(values.astype(np.float64))
    fractional = whole != values
    if fractional.any():
        raise ValueError(
            f"{source}: time property {prop!r} must hold frame indices; nodes "
            f"{ids[fractional][:SHOW].tolist()} have {values[fractional][:SHOW].tolist()}. "
            "Store frames (unit 'frame'), not physical times."
        )
    return whole.astype(np.int64)


def edge_indices(edges, ids, t, directed: bool, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Edge endpoints as node positions, oriented from the earlier to the later frame."""
    edges = np.unique(edges, axis=0) if edges.size else edges.reshape(0, 2)
    order = np.argsort(ids)
    pos = np.searchsorted(ids, edges, sorter=order).clip(0, max(ids.size - 1, 0))
    idx = order[pos] if ids.size else pos
    unknown = ~(ids[idx] == edges).all(axis=1) if ids.size else np.ones(len(edges), bool)
    if unknown.any():
        raise ValueError(
            f"{source}: {int(unknown.sum())} edge(s) name nodes that do not exist, e.g. "
            f"{edges[unknown][:SHOW].tolist()}."
        )
    src, dst = idx[:, 0], idx[:, 1]
    if not directed:
        src, dst = np.where(t[src] <= t[dst], src, dst), np.where(t[src] <= t[dst], dst, src)
    backwards = t[dst] <= t[src]
    if backwards.any():
        e = int(np.flatnonzero(backwards)[0])
        raise ValueError(
            f"{source}: {int(backwards.sum())} edge(s) do not go forward in time, e.g. node "
            f"{int(ids[src[e]])} (t={int(t[src[e]])}) -> node {int(ids[dst[e]])} "
            f"(t={int(t[dst[e]])}). An edge links a cell to itself or its daughter in a later "
            "frame."
        )
    return src, dst


def extra_columns(node_props: dict, names: dict[str, str], n: int) -> list[pl.Series]:
    """Scalar node properties other than the axes, as columns (missing values as null)."""
    used = set(names.values())
    out = []
    for prop, (values, missing) in sorted(node_props.items()):
        values = np.asarray(values)
        if prop in used or prop in OWN_COLUMNS or values.shape != (n,):
            continue
        if values.dtype.kind not in "biufU":
            continue
        series = pl.Series(prop, values)
        if missing is not None and np.asarray(missing).any():
            series = series.scatter(np.flatnonzero(missing), None)
        out.append(series)
    return out
