"""Chunk and shard shapes of a rechunked FOV, and the blocks its pixels are copied in.

A shape option is five sizes ``(T, C, Z, Y, X)``; ``-1`` means the whole axis, and a size
larger than the FOV is clipped to it, so one option suits FOVs of different sizes. A block is
a box of the FOV read from the source and written to the destination in one piece: it covers
whole destination write units (a shard when sharded, else a chunk), so no destination chunk is
written twice or by two threads, and, where :data:`MAX_BLOCK_BYTES` allows, whole source
chunks, so each source chunk is decoded once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from viscy_data.normalization.blocks import MAX_BLOCK_BYTES

__all__ = ["DEFAULT_CHUNKS", "Box", "check_shape_option", "fov_chunks", "plan_boxes"]

DEFAULT_CHUNKS: tuple[int, int, int, int, int] = (1, 1, -1, 256, 256)
"""One frame of one channel, every Z plane, 256 x 256 pixels (clipped to the image)."""

Box = tuple[tuple[int, int], ...]
"""``((start, stop), ...)`` along T, C, Z, Y and X."""

_AXES = "TCZYX"


def check_shape_option(values: Sequence[int] | None, name: str) -> tuple[int, ...] | None:
    """Check a ``chunks`` or ``shards`` option: None, or five sizes, each >= 1 or -1.

    Examples
    --------
    >>> check_shape_option([1, 1, -1, 128, 128], "chunks")
    (1, 1, -1, 128, 128)
    >>> check_shape_option((1, 1, 0, 8, 8), "chunks")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: chunks (1, 1, 0, 8, 8): give five sizes (T, C, Z, Y, X), each a positive ...
    """
    if values is None:
        return None
    try:
        shape = tuple(int(v) for v in values)
        ok = len(shape) == 5 and all(v >= 1 or v == -1 for v in shape)
    except (TypeError, ValueError):
        shape, ok = tuple(values), False
    if not ok:
        raise ValueError(
            f"{name} {shape}: give five sizes (T, C, Z, Y, X), each a positive number of pixels "
            "or -1 for the whole axis, e.g. (1, 1, 1, 128, 128)"
        )
    return shape


def fov_chunks(
    shape: Sequence[int],
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    where: str = "",
) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """The destination chunk (inner chunk when sharded) and shard shapes of one FOV.

    Parameters
    ----------
    shape : sequence of int
        ``(T, C, Z, Y, X)`` of the FOV.
    chunks : sequence of int, optional
        Checked option (:func:`check_shape_option`); default :data:`DEFAULT_CHUNKS`. ``-1``
        is the whole axis; larger sizes are clipped to the axis.
    shards : sequence of int, optional
        Checked option, or None for no sharding. Each size must be a multiple of the chunk;
        ``-1``, or a size at least the axis, becomes the smallest multiple of the chunk that
        covers the axis.
    where : str, default ""
        Names the FOV in the error message.

    Returns
    -------
    tuple
        ``(chunks, shards)``; ``shards`` is None when not sharded.

    Raises
    ------
    ValueError
        When a shard size is not a multiple of its chunk size (naming the axis and both).

    Examples
    --------
    >>> fov_chunks((10, 2, 5, 300, 200))
    ((1, 1, 5, 256, 200), None)
    >>> fov_chunks((10, 2, 5, 300, 200), (1, 1, 1, 128, 128), (1, 1, -1, 256, 512))
    ((1, 1, 1, 128, 128), (1, 1, 5, 256, 256))
    """
    chunks = DEFAULT_CHUNKS if chunks is None else chunks
    inner = tuple(max(1, n if c == -1 else min(c, n)) for c, n in zip(chunks, shape))
    if shards is None:
        return inner, None
    outer = []
    for axis, size, chunk, n in zip(_AXES, shards, inner, shape):
        cover = max(1, -(-n // chunk)) * chunk
        if size == -1 or size >= cover:
            outer.append(cover)
        elif size % chunk:
            raise ValueError(
                f"{where}shards {tuple(shards)}: the {axis} shard size {size} is not a multiple "
                f"of the {axis} chunk size {chunk} (chunks {inner}); use a multiple, e.g. "
                f"{max(1, size // chunk) * chunk}, or -1 for the whole axis"
            )
        else:
            outer.append(size)
    return inner, tuple(outer)


def plan_boxes(
    shape: Sequence[int],
    itemsize: int,
    source_chunks: Sequence[int] | None,
    write_unit: Sequence[int],
    max_bytes: int = MAX_BLOCK_BYTES,
) -> list[Box]:
    """The boxes a FOV is copied in, in C order of their corners.

    A box spans, along each axis, the least common multiple of the source chunk and the
    destination write unit (clipped to the axis). Past ``max_bytes`` the axes T, C, Z, Y, X
    in turn shrink to one write unit until the box fits (or no axis is left): boxes always
    cover whole write units, so memory is bounded by the larger of ``max_bytes`` and one
    write unit.

    Parameters
    ----------
    shape : sequence of int
        ``(T, C, Z, Y, X)`` of the FOV.
    itemsize : int
        Bytes per pixel.
    source_chunks : sequence of int or None
        Chunk shape of the source (inner chunk when sharded); None: one chunk per pixel.
    write_unit : sequence of int
        The destination shard shape, or its chunk shape when not sharded.
    max_bytes : int, default MAX_BLOCK_BYTES (256 MiB)
        Largest box wanted.

    Returns
    -------
    list of Box

    Examples
    --------
    >>> boxes = plan_boxes((2, 1, 3, 40, 40), 4, (1, 1, 3, 40, 40), (1, 1, 3, 16, 16))
    >>> len(boxes), boxes[0]
    (2, ((0, 1), (0, 1), (0, 3), (0, 40), (0, 40)))
    """
    source = tuple(source_chunks or (1,) * len(shape))
    size = [max(1, min(n, math.lcm(s, w))) for n, s, w in zip(shape, source, write_unit)]
    for axis in range(len(shape)):
        if math.prod(size) * itemsize <= max_bytes:
            break
        size[axis] = max(1, min(shape[axis], write_unit[axis]))
    starts = [range(0, n, step) for n, step in zip(shape, size)]
    return [
        tuple((start, min(start + step, n)) for start, step, n in zip(corner, size, shape))
        for corner in itertools.product(*starts)
    ]
