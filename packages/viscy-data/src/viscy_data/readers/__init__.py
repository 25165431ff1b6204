"""Step 4: read OME-Zarr plates: metadata with zarr-python, patches with tensorstore.

plate root --read_plate--> PlateInfo (FOVInfo per FOV: shape, channels, normalization)
FOVInfo --tensorstore_spec--> spec --PatchReader--> (B, C, Z, Y, X) float32 patches

Modules: ``ome_zarr.py`` (everything about the NGFF layout), ``fov_attributes.py`` (the one
metadata write: a FOV attribute replaced atomically), ``tensorstore.py``
(:class:`PatchReader`), ``patches.py`` (a batch's request, pending read and read error),
``missing_chunks.py`` (chunk files missing from a store: warn once or raise, never silent).
"""

from viscy_data.readers.fov_attributes import fov_attributes_file, write_fov_attribute
from viscy_data.readers.missing_chunks import (
    MISSING_CHUNKS,
    MissingChunksError,
    MissingChunksWarning,
)
from viscy_data.readers.ome_zarr import FOVInfo, PlateInfo, is_url, read_plate, tensorstore_spec
from viscy_data.readers.patches import PatchReadError, PatchRequest, PendingPatches
from viscy_data.readers.tensorstore import PatchReader

__all__ = [
    "MISSING_CHUNKS",
    "FOVInfo",
    "MissingChunksError",
    "MissingChunksWarning",
    "PatchReadError",
    "PatchReader",
    "PatchRequest",
    "PendingPatches",
    "PlateInfo",
    "fov_attributes_file",
    "is_url",
    "read_plate",
    "tensorstore_spec",
    "write_fov_attribute",
]
