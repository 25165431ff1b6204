"""Step 2: tracks -> multi-experiment cell index (polars): lineages, positives, tau.

Modules, in build order::

    tracks.py        read per-FOV CSVs or geff stores, or one table, from disk
    geff_tracks.py   a geff graph store -> a tracks table (divisions split tracks)
    geff_nodes.py    its node properties and edges as checked arrays
    track_values.py  required columns, numeric coercion, per-row checks
    lineage.py       parent links, root ancestors (pointer jumping), ancestry pairs
    borders.py       patch / z-range checks, crop centres shifted inward, patch corners
    tau.py           tau window hours -> frames, decaying weights, draws
    positives.py     the positive rule (track or descendant at t + tau) AND the draw
    build.py         build_cell_index: the pure build from tracks already in memory
    fovs.py          FOV selection from the registry (conditions, include/exclude filters)
    index.py         MultiExperimentIndex: registry + files -> index
"""

from dynaclr.cell_index.build import CellIndexTables, build_cell_index
from dynaclr.cell_index.index import MultiExperimentIndex
from dynaclr.cell_index.positives import PositiveLookup
from dynaclr.cell_index.tau import (
    sample_tau,
    sample_taus,
    tau_probabilities,
    tau_range_frames,
    taus_from_uniform,
)

__all__ = [
    "CellIndexTables",
    "MultiExperimentIndex",
    "PositiveLookup",
    "build_cell_index",
    "sample_tau",
    "sample_taus",
    "tau_probabilities",
    "tau_range_frames",
    "taus_from_uniform",
]
