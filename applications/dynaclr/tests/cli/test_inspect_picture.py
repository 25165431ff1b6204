"""The inspect picture: labels from the cell index, one stretch per channel for all tiles."""

import numpy as np
import polars as pl
import torch
from PIL import Image

from dynaclr.cli.inspect_picture import channel_stretches, draw_pairs, rows_of_batch


def _batch(values_by_sample):
    anchor = torch.stack([torch.full((2, 3, 16, 16), float(v)) for v in values_by_sample])
    anchor[:, 1] *= 100  # channel 1 lives on another scale
    return {"anchor": anchor, "positive": anchor + 1,
            "rows": {"anchor": torch.tensor([0, 2]), "positive": torch.tensor([1, 3])}}  # fmt: skip


def test_labels_come_from_the_anchor_and_positive_rows(tmp_path):
    tracks = pl.DataFrame({
        "experiment": ["e1"] * 4, "condition": ["mock"] * 2 + ["infected"] * 2,
        "track_id": [7, 7, 9, 9], "t": [3, 5, 0, 2], "hours_post_infection": [1.5, 2.5, 0.0, 1.0],
    })  # fmt: skip
    rows = rows_of_batch(_batch([0, 10]), tracks, samples=5)
    assert [r.label for r in rows] == [
        "e1 / mock / track 7 / t 3 -> 5 / 1.5 hpi",
        "e1 / infected / track 9 / t 0 -> 2 / 0.0 hpi",
    ]
    assert rows[1].anchor.shape == (2, 16, 16) and rows[1].anchor[0, 0, 0] == 10


def test_each_channel_is_stretched_once_for_the_whole_picture(tmp_path):
    tracks = pl.DataFrame({"experiment": ["e"] * 4, "condition": ["c"] * 4,
                           "track_id": [1, 1, 2, 2], "t": [0, 1, 0, 1]})  # fmt: skip
    rows = rows_of_batch(_batch([0, 10]), tracks, samples=2)
    stretches = channel_stretches(rows)
    # anchors 0 and 10, positives +1 (channel 0); anchors x100, positives +1 (channel 1)
    np.testing.assert_allclose(stretches[0], np.percentile([0, 1, 10, 11] * 256, [1, 99]))
    np.testing.assert_allclose(stretches[1], np.percentile([0, 1, 1000, 1001] * 256, [1, 99]))
    path, used = draw_pairs(rows, ["Phase", "GFP"], tmp_path / "p.png", separators=[0])
    picture = np.asarray(Image.open(path).convert("L"))
    assert picture.shape[0] >= 2 * 96 and picture.std() > 10
    np.testing.assert_allclose(used, stretches)
