"""Normalization statistics: names, computation, the per-FOV table, the divisor rule.

One home for everything about per-FOV intensity statistics, used by the readers' users
(gathering statistics per sample), the transforms (``Normalize`` divides by them) and the
writers (the demo and ``dynaclr preprocess``)::

    pixels --channel_statistics--> {stat: array} --normalization_attribute--> FOV attribute
    plate --check_plate--> --compute_plate_statistics (blocks, streaming, fov_accumulator;
        the sampling rule)--> --write_plate_statistics (plate_writer)--> every FOV's attribute
    FOV attributes --NormTable--> per-sample NormMeta --viscy_data.transforms.Normalize-->

The plate-level names (``preprocess_plate`` and its parts) load on first use, so importing the
statistics for a transform does not import zarr or tensorstore.
"""

import lazy_loader

from viscy_data.normalization.sampling import (
    DATASET_SAMPLE_VOXELS,
    SAMPLE_VOXELS,
    dataset_sample,
    grid_step,
    thinning_step,
)
from viscy_data.normalization.statistics import (
    LEVELS,
    STATS,
    TIMEPOINT,
    NormLevel,
    NormMeta,
    channel_statistics,
    normalization_attribute,
    quartiles,
    unusable_divisor,
)
from viscy_data.normalization.streaming import block_statistics, pool_moments
from viscy_data.normalization.table import NormTable

_getattr, _dir, _lazy = lazy_loader.attach(
    __name__,
    submod_attrs={
        "plate_check": ["check_plate", "default_num_workers"],
        "plate_writer": ["merge_normalization", "write_normalization_attributes"],
        "preprocess": [
            "PlateStatistics",
            "compute_plate_statistics",
            "preprocess_plate",
            "write_plate_statistics",
        ],
    },
)

__all__ = [
    "DATASET_SAMPLE_VOXELS",
    "LEVELS",
    "STATS",
    "SAMPLE_VOXELS",
    "TIMEPOINT",
    "NormLevel",
    "NormMeta",
    "NormTable",
    "PlateStatistics",
    "block_statistics",
    "channel_statistics",
    "check_plate",
    "compute_plate_statistics",
    "dataset_sample",
    "default_num_workers",
    "grid_step",
    "merge_normalization",
    "normalization_attribute",
    "pool_moments",
    "preprocess_plate",
    "quartiles",
    "thinning_step",
    "unusable_divisor",
    "write_normalization_attributes",
    "write_plate_statistics",
]


def __getattr__(name: str):
    if name not in _lazy:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _getattr(name)


def __dir__() -> list[str]:
    return list(__all__)
