"""Boxes tile a FOV exactly, cover whole write units, and stay small when they can."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from viscy_data.rechunk.chunking import fov_chunks, plan_boxes

sizes = st.lists(st.integers(1, 12), min_size=5, max_size=5)


@settings(max_examples=60, deadline=None)
@given(shape=sizes, source=sizes, unit=sizes, max_bytes=st.integers(1, 4000))
def test_boxes_tile_the_fov_along_write_units(shape, source, unit, max_bytes):
    boxes = plan_boxes(shape, 2, source, unit, max_bytes=max_bytes)
    covered = np.zeros(shape, dtype=np.int8)
    for box in boxes:
        covered[tuple(slice(a, b) for a, b in box)] += 1
        for (start, stop), n, u in zip(box, shape, unit):
            assert start % u == 0 and (stop % u == 0 or stop == n)  # whole write units
    assert (covered == 1).all()
    first = [b - a for a, b in boxes[0]]
    if math.prod(first) * 2 > max_bytes:  # too big only when one write unit is
        assert first == [min(n, u) for n, u in zip(shape, unit)]


def test_a_box_holds_whole_source_chunks_while_they_fit():
    boxes = plan_boxes((2, 2, 5, 2048, 2048), 4, (1, 1, 5, 2048, 2048), (1, 1, 5, 256, 256))
    assert len(boxes) == 4 and boxes[0][3:] == ((0, 2048), (0, 2048))  # each chunk decoded once
    small = plan_boxes((1, 1, 5, 2048, 2048), 4, (1, 1, 5, 2048, 2048), (1, 1, 5, 256, 256), 1)
    assert len(small) == 64 and small[1][3:] == ((0, 256), (256, 512))


@pytest.mark.parametrize(
    ("chunks", "shards", "want"),
    [(None, None, ((1, 1, 5, 256, 200), None)),
     ((2, -1, 1, 64, 500), None, ((2, 2, 1, 64, 200), None)),
     ((1, 1, 1, 128, 128), (1, 1, -1, 256, 9999), ((1, 1, 1, 128, 128), (1, 1, 5, 256, 256)))],
)  # fmt: skip
def test_fov_chunks_clip_to_the_fov(chunks, shards, want):
    assert fov_chunks((10, 2, 5, 300, 200), chunks, shards) == want
