"""Small geff graph stores for tests: a lineage with a division, written with the geff package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from geff import GeffMetadata
from geff.core_io import write_arrays

__all__ = ["TYX", "lineage_graph", "write_geff"]

TYX = [("t", "time"), ("y", "space"), ("x", "space")]


def lineage_graph(offset: int = 0) -> tuple[dict[int, tuple], list[tuple[int, int]]]:
    """Mother (t 0-3) dividing into two daughters (t 4-9), and a root track (t 0-9)."""
    nodes = {100 + offset + t: (t, 20.0, 30.0) for t in range(4)}
    for first in (200, 300):
        nodes |= {first + offset + t: (4 + t, 20.0 + t, 30.0) for t in range(6)}
    nodes |= {400 + offset + t: (t, 40.0, 40.0) for t in range(10)}
    chains = [range(100, 104), range(200, 206), range(300, 306), range(400, 410)]
    edges = [(a + offset, b + offset) for c in chains for a, b in zip(c, c[1:])]
    edges += [(103 + offset, 200 + offset), (103 + offset, 300 + offset)]
    return nodes, edges


def write_geff(
    path: Path,
    nodes: dict[int, tuple],
    edges: list[tuple[int, int]],
    axes: list[tuple[str, str]] | None = TYX,
    names: tuple[str, ...] = ("t", "y", "x"),
    extra: dict[str, np.ndarray] | None = None,
    directed: bool = True,
    zarr_format: int = 2,
) -> Path:
    ids = np.array(list(nodes), np.int64)
    values = np.array(list(nodes.values()), dtype=object)
    props = {
        name: {"values": np.array(values[:, i].tolist()), "missing": None}
        for i, name in enumerate(names)
    }
    props |= {k: {"values": v, "missing": None} for k, v in (extra or {}).items()}
    metadata = GeffMetadata(
        directed=directed,
        node_props_metadata={},
        edge_props_metadata={},
        axes=[{"name": n, "type": k} for n, k in axes] if axes else None,
    )
    edge_ids = np.array(edges, np.int64).reshape(-1, 2)
    write_arrays(path, ids, props, edge_ids, None, metadata, zarr_format=zarr_format)
    return path
