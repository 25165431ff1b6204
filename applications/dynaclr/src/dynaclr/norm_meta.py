# Moved to viscy_data.normalization; this re-export stays for one release.
from viscy_data.normalization import LEVELS, STATS, TIMEPOINT, NormMeta, NormTable  # noqa: F401
