"""Step 2: tracks -> multi-experiment cell index (polars), lineages, positives, tau.

Modules, in build order::

    tracks.py     read per-FOV CSVs or one table; check columns and values
    lineage.py    parent links, root ancestors (pointer jumping), ancestry pairs
    borders.py    patch / z-range checks, crop centres shifted inward
    positives.py  the positive rule: (track or descendant, t + tau) lookups, valid anchors
    tau.py        sample_tau: decaying weights over the tau range in frames
    table.py      build_cell_index: the pure build from tracks already in memory
    fovs.py       FOV selection from the registry (conditions, include/exclude filters)
    build.py      MultiExperimentIndex: registry + files -> index
"""

from dynaclr.cell_index.build import MultiExperimentIndex
from dynaclr.cell_index.positives import PositiveLookup
from dynaclr.cell_index.table import CellIndexTables, build_cell_index
from dynaclr.cell_index.tau import sample_tau, sample_taus, tau_probabilities

__all__ = [
    "CellIndexTables",
    "MultiExperimentIndex",
    "PositiveLookup",
    "build_cell_index",
    "sample_tau",
    "sample_taus",
    "tau_probabilities",
]
