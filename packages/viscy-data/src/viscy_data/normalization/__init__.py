"""Normalization statistics: names, computation, the per-FOV table, the divisor rule.

One home for everything about per-FOV intensity statistics, used by the readers' users
(gathering statistics per sample), the transforms (``Normalize`` divides by them) and the
writers (the demo today, a preprocessing command tomorrow)::

    pixels --channel_statistics--> {stat: array} --normalization_attribute--> FOV attribute
    FOV attributes --NormTable--> per-sample NormMeta --viscy_data.transforms.Normalize-->
"""

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
from viscy_data.normalization.table import NormTable

__all__ = [
    "LEVELS",
    "STATS",
    "TIMEPOINT",
    "NormLevel",
    "NormMeta",
    "NormTable",
    "channel_statistics",
    "normalization_attribute",
    "quartiles",
    "unusable_divisor",
]
