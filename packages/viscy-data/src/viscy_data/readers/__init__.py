"""Step 4: read OME-Zarr plates: metadata with zarr-python, patches with tensorstore.

plate root --read_plate--> PlateInfo (FOVInfo per FOV: shape, channels, normalization)
FOVInfo --tensorstore_spec--> spec --PatchReader--> (B, C, Z, Y, X) float32 patches
"""

from viscy_data.readers.ome_zarr import FOVInfo, PlateInfo, read_plate, tensorstore_spec
from viscy_data.readers.tensorstore import PatchReader, PatchReadError, PendingPatches

__all__ = [
    "FOVInfo",
    "PatchReadError",
    "PatchReader",
    "PendingPatches",
    "PlateInfo",
    "read_plate",
    "tensorstore_spec",
]
