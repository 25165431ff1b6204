"""Image grids and the generic image-logger check; the engine's similarity metrics."""

import torch
from lightning.pytorch.loggers import CSVLogger

from viscy_models.engine._images import image_grid, log_image_grid, middle_z_slices
from viscy_models.engine.contrastive import _pair_similarities


def test_middle_z_slices_keeps_the_first_samples_middle_slice():
    x = torch.arange(3 * 2 * 5 * 4 * 4, dtype=torch.float64).reshape(3, 2, 5, 4, 4)
    slices = middle_z_slices(x, 2)
    assert slices.dtype == torch.float32 and slices.shape == (2, 2, 4, 4)
    torch.testing.assert_close(slices, x[:2, :, 2].float())
    assert middle_z_slices(x, 10).shape[0] == 3


def test_grid_places_anchor_then_positive_channels_with_white_padding():
    ramp = torch.linspace(0, 1, 16).reshape(4, 4)
    anchor = torch.stack([ramp, -ramp])[None].repeat(2, 1, 1, 1)  # (2 samples, 2 channels)
    positive = 5 * anchor + 3  # tiles are scaled on their own: same picture
    grid = image_grid(anchor, positive, pad=1)
    assert grid.dtype == torch.uint8 and grid.shape == (1, 2 * 5 - 1, 4 * 5 - 1)
    tiles = [grid[0, :4, c * 5 : c * 5 + 4] for c in range(4)]
    assert tiles[0][0, 0] == 0 and tiles[0][-1, -1] == 255
    assert tiles[1][0, 0] == 255 and tiles[1][-1, -1] == 0  # the negated channel
    assert torch.equal(tiles[0], tiles[2]) and torch.equal(tiles[1], tiles[3])
    assert (grid[0, 4] == 255).all() and (grid[0, :, 4] == 255).all()


def test_flat_tile_does_not_divide_by_zero():
    grid = image_grid(torch.ones(1, 1, 3, 3), torch.zeros(1, 1, 3, 3))
    assert grid.shape == (1, 3, 8) and grid[0, :, :3].eq(0).all()


def test_loggers_without_an_image_api_are_skipped(tmp_path):
    grid = image_grid(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4))
    assert log_image_grid([CSVLogger(tmp_path)], "images/train", grid, step=0) == 0


def test_similarities_match_all_pairs():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(10, 6, generator=gen)
    pos, neg = _pair_similarities(z, 5)
    cos = torch.nn.functional.cosine_similarity(z[:, None], z[None], dim=-1)
    labels = torch.arange(5).repeat(2)
    negatives = labels[:, None] != labels[None]
    torch.testing.assert_close(pos, cos[torch.arange(5), torch.arange(5) + 5].mean())
    torch.testing.assert_close(neg, cos[negatives].mean())


def test_grid_of_many_large_tiles():
    """More than 2^24 pixels in all (the limit of torch.quantile) still tile."""
    anchor = torch.rand(8, 4, 512, 512)
    grid = image_grid(anchor, anchor)
    assert grid.shape == (1, 8 * 514 - 2, 8 * 514 - 2)
