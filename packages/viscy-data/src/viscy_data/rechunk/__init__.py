"""Training copies of OME-Zarr HCS plates with small chunks (``dynaclr rechunk``).

A microscope writes whole planes as chunks (``(1, 1, Z, 2048, 2048)``): a 160 x 160 patch
then decodes about 160 times the pixels it uses. :func:`rechunk_plate` writes a copy with
small chunks (default ``(1, 1, Z, 256, 256)``), optionally sharded, in NGFF 0.4 or 0.5::

    SRC --chunking (shapes, boxes)--> --layout (ngff_attributes, codecs)--> DST groups, arrays
        --box_copy (read, write, read back, compare)--> pixels
        --manifest (resume, refusals)--> finished copy, RechunkSummary (plate_copy)

The source is only read; every pixel of the copy is read back and compared before the copy
is reported finished; an interrupted copy resumes where it stopped. See ``docs/rechunk.md``.
"""

from viscy_data.rechunk.chunking import DEFAULT_CHUNKS, fov_chunks
from viscy_data.rechunk.codecs import COMPRESSIONS
from viscy_data.rechunk.manifest import MANIFEST_NAME
from viscy_data.rechunk.plate_copy import RechunkSummary, rechunk_plate

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_CHUNKS",
    "MANIFEST_NAME",
    "RechunkSummary",
    "fov_chunks",
    "rechunk_plate",
]
