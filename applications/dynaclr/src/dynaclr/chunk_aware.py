"""Chunk-aware batching in the datamodule: which anchors form a group, and the cache it needs.

With ``groups_per_batch`` a batch's anchors come from a few (experiment, FOV, frame) groups
(:class:`viscy_data.FlexibleBatchSampler` ``group_by``), so the image chunks of those frames
are decoded once for many patches. The chunk cache must then hold the chunks of the groups
the batches in flight touch, or consecutive batches of the same group decode them again;
:func:`chunk_cache_bytes` sizes it from the plates' chunk layout.
"""

from __future__ import annotations

import math
import os

import numpy as np

from dynaclr.cell_index.index import MultiExperimentIndex

__all__ = ["GROUP_COLUMNS", "MAX_AUTO_CACHE_FRACTION", "chunk_cache_bytes", "frame_chunk_bytes"]

GROUP_COLUMNS = ("experiment", "fov_name", "t")
"""A group: the anchors of one frame of one FOV (they share that frame's chunks)."""

MAX_AUTO_CACHE_FRACTION = 0.25
"""The automatic cache never exceeds this fraction of the machine's physical memory."""


def frame_chunk_bytes(index: MultiExperimentIndex) -> int:
    """Largest decoded size, over the index's FOVs, of the chunks one frame's patches touch.

    Counted for every channel of the FOV's store (patches read the source channels, which
    may share chunks with others), over the z chunks that cover ``index.z_range`` and the
    whole y/x plane (the patches of a frame's cells cover most of it on small chunks, and
    exactly one chunk per plane on whole-plane chunks).
    """
    z0, z1 = index.z_range.start, index.z_range.stop
    largest = 0
    for fov in index.fovs.values():
        _, n_c, n_z, n_y, n_x = fov.shape
        chunk = fov.chunks or (1, 1, n_z, n_y, n_x)
        cz = max(1, int(chunk[2]))
        z_extent = min(n_z, (math.ceil(z1 / cz) - z0 // cz) * cz)
        size = n_c * z_extent * n_y * n_x * np.dtype(fov.dtype).itemsize
        largest = max(largest, size)
    return largest


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no automatic cap known
        return 1 << 40


def chunk_cache_bytes(
    index: MultiExperimentIndex,
    groups_per_batch: int,
    tau_per_group: bool,
    batches_in_flight: int,
) -> int:
    """Chunk cache for chunk-aware batching: the frames of the groups in flight, decoded.

    ``(groups_per_batch + 1) * frames * frame_chunk_bytes(index) * (batches_in_flight + 1)``
    where ``frames`` is the anchors' frame plus the positives' frames (one with
    ``tau_per_group``, else every frame of the widest tau range). The ``+ 1`` terms cover a
    batch that needs one group more than ``groups_per_batch`` (a group's last rows) and the
    batch after those in flight, which continues the same open groups. Capped at
    :data:`MAX_AUTO_CACHE_FRACTION` of physical memory.
    """
    names = [experiment.name for experiment in index.registry.experiments]
    widths = [hi - lo + 1 for lo, hi in (index.tau_frames(name) for name in names)]
    frames = 1 + (1 if tau_per_group else max(widths))
    wanted = (groups_per_batch + 1) * frames * frame_chunk_bytes(index) * (batches_in_flight + 1)
    return int(min(wanted, MAX_AUTO_CACHE_FRACTION * _physical_memory()))
