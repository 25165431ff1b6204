# Moved to dynaclr.cell_index.build; this re-export stays for one release.
from dynaclr.cell_index.build import (  # noqa: F401
    DERIVED_COLUMNS,
    EXPERIMENT_COLUMNS,
    FOV_COLUMNS,
    CellIndexTables,
    build_cell_index,
)
