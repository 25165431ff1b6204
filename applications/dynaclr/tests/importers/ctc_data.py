"""Tiny Cell Tracking Challenge sequences written with tifffile, for the importer tests.

``write_sequence`` draws each cell as a disk (2-D) or a ball (3-D) centred on whole pixels,
so its mask centroid is exactly the centre given. ``IRREGULAR`` is a 2-D sequence with every
irregularity the importer counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tifffile

Cells = Mapping[int, Mapping[int, tuple[int, ...]]]  # label -> frame -> (z,) y, x centre


def write_sequence(
    root: Path,
    cells: Cells,
    lineage: Sequence[str],
    *,
    name: str = "01",
    frames: int = 6,
    shape: tuple[int, ...] = (64, 64),
    missing_masks: Sequence[int] = (),
    kind: str = "GT",
    digits: int = 3,
    dtype: str = "uint16",
) -> Path:
    """Write ``root/name/tTTT.tif`` and the masks + lineage file; return the sequence folder.

    ``kind="GT"`` writes ``name_GT/TRA/man_trackTTT.tif`` and ``man_track.txt``;
    ``kind="RES"`` writes ``name_RES/maskTTT.tif`` and ``res_track.txt``.
    """
    images = root / name
    tracking = root / (f"{name}_GT/TRA" if kind == "GT" else f"{name}_RES")
    images.mkdir(parents=True)
    tracking.mkdir(parents=True)
    prefix, lineage_name = (
        ("man_track", "man_track.txt") if kind == "GT" else ("mask", "res_track.txt")
    )
    grid = np.indices(shape)
    rng = np.random.default_rng(0)
    for t in range(frames):
        mask = np.zeros(shape, np.uint16)
        for label, where in cells.items():
            if t in where:
                centre = np.asarray(where[t]).reshape((-1,) + (1,) * len(shape))
                mask[((grid - centre) ** 2).sum(axis=0) <= 9] = label
        image = (rng.integers(90, 110, shape) + 500 * (mask > 0)).astype(dtype)
        tifffile.imwrite(images / f"t{t:0{digits}d}.tif", image)
        if t not in missing_masks:
            tifffile.imwrite(tracking / f"{prefix}{t:0{digits}d}.tif", mask)
    (tracking / lineage_name).write_text("\n".join(lineage) + "\n")
    return images


# Sequence "01" (2-D, 6 frames, 64 x 64): label 1 divides into 2 and 3 after frame 2; label 4
# misses frame 3 (a gap inside its track); label 5 ends at frame 1 and label 6 continues it
# from frame 3 (CTC's gap link); label 7 is in the masks but not in man_track.txt; entry 9 is
# never in a mask and its daughter 10 becomes a root (and is seen at frame 4, before its
# entry's B = 5); frame 5 has no mask file.
IRREGULAR_CELLS: dict[int, dict[int, tuple[int, int]]] = {
    1: {0: (16, 16), 1: (16, 17), 2: (16, 18)},
    2: {3: (12, 20), 4: (11, 21), 5: (10, 22)},
    3: {3: (20, 20), 4: (21, 21), 5: (22, 22)},
    4: {0: (40, 40), 1: (40, 41), 2: (40, 42), 4: (40, 44), 5: (40, 45)},
    5: {0: (50, 12), 1: (50, 13)},
    6: {3: (50, 15), 4: (50, 16), 5: (50, 17)},
    7: {0: (30, 50), 1: (31, 50)},
    10: {4: (8, 50), 5: (8, 51)},
}
IRREGULAR_LINEAGE = [
    "1 0 2 0",
    "2 3 5 1",
    "3 3 5 1",
    "4 0 5 0",
    "5 0 1 0",
    "6 3 5 5",
    "9 2 3 0",
    "10 5 5 9",
]
IRREGULAR_MISSING_MASKS = (5,)


def write_irregular(root: Path, name: str = "01", **kwargs) -> Path:
    """Write the irregular 2-D sequence under ``root``; return its folder."""
    return write_sequence(
        root,
        IRREGULAR_CELLS,
        IRREGULAR_LINEAGE,
        name=name,
        missing_masks=IRREGULAR_MISSING_MASKS,
        **kwargs,
    )


def write_simple(root: Path, name: str = "02", **kwargs) -> Path:
    """A regular 2-D sequence: two root tracks over all 6 frames, nothing to count."""
    cells = {1: {t: (20, 20 + t) for t in range(6)}, 2: {t: (44, 40 - t) for t in range(6)}}
    return write_sequence(root, cells, ["1 0 5 0", "2 0 5 0"], name=name, **kwargs)
