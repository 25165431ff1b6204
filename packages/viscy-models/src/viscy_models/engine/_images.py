"""Sample-image grids for Lightning loggers that can take images."""

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor


def middle_z_slices(x: Tensor, n_samples: int) -> Tensor:
    """Return the middle Z slice of the first ``n_samples`` of ``x``.

    Parameters
    ----------
    x : Tensor
        Shape ``(B, C, Z, Y, X)``.
    n_samples : int
        How many samples to keep (fewer if the batch is smaller).

    Returns
    -------
    Tensor
        Shape ``(min(n_samples, B), C, Y, X)``, float32 on the CPU, detached.
    """
    return x[:n_samples, :, x.shape[2] // 2].detach().float().cpu()


def image_grid(anchor: Tensor, positive: Tensor, pad: int = 2) -> Tensor:
    """Tile samples into one grayscale image: a row per sample, a tile per channel.

    Each row shows the anchor's channels then the positive's. Every tile is scaled to
    [0, 255] between its 0.5th and 99.5th percentiles, so one bright pixel does not
    darken it.

    Parameters
    ----------
    anchor, positive : Tensor
        Shape ``(S, C, Y, X)`` each.
    pad : int
        Pixels of white between tiles, default 2.

    Returns
    -------
    Tensor
        uint8, shape ``(1, S * (Y + pad) - pad, 2 * C * (X + pad) - pad)``.

    Examples
    --------
    >>> image_grid(torch.rand(3, 2, 8, 8), torch.rand(3, 2, 8, 8)).shape
    torch.Size([1, 28, 38])
    """
    tiles = torch.cat([anchor, positive], dim=1).float()
    n_rows, n_cols, height, width = tiles.shape
    flat = tiles.reshape(n_rows, n_cols, -1)
    # Order statistics by kthvalue: torch.quantile refuses inputs over 2^24 values.
    n_pixels = flat.shape[-1]
    low = flat.kthvalue(1 + int(0.005 * (n_pixels - 1)), dim=-1, keepdim=True).values
    high = flat.kthvalue(1 + int(0.995 * (n_pixels - 1)), dim=-1, keepdim=True).values
    scaled = ((flat - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)
    canvas = torch.ones(n_rows, height + pad, n_cols, width + pad)
    canvas[:, :height, :, :width] = scaled.reshape(tiles.shape).permute(0, 2, 1, 3)
    grid = canvas.reshape(n_rows * (height + pad), n_cols * (width + pad))
    grid = grid[: grid.shape[0] - pad, : grid.shape[1] - pad]
    return (grid * 255).round().to(torch.uint8)[None]


def log_image_grid(loggers: Iterable[object], key: str, grid: Tensor, step: int) -> int:
    """Send ``grid`` to every logger with an image API; return how many took it.

    A logger takes images if it has a ``log_image(key, images, step)`` method (W&B) or its
    ``experiment`` has ``add_image(tag, image, global_step, dataformats)`` (TensorBoard).
    Other loggers (CSV) are skipped without a warning.
    """
    taken = 0
    for logger in loggers:
        log_image = getattr(logger, "log_image", None)
        if callable(log_image):
            log_image(key=key, images=[grid[0].numpy()], step=step)
            taken += 1
            continue
        add_image = getattr(getattr(logger, "experiment", None), "add_image", None)
        if callable(add_image):
            add_image(key, grid, global_step=step, dataformats="CHW")
            taken += 1
    return taken


def save_image_grid(grid: Tensor, path: Path, min_tile: int = 96, tile: int = 0) -> Path:
    """Write ``grid`` (``(1, H, W)`` uint8, from :func:`image_grid`) as a PNG file.

    When its tiles (``tile`` pixels, 0: unknown) are smaller than ``min_tile``, the picture is
    enlarged by the smallest whole factor that reaches it (nearest neighbour, so pixels stay
    sharp). The folder is created.
    """
    from PIL import Image

    pixels = grid[0].cpu().numpy()
    factor = max(1, -(-min_tile // tile)) if tile else 1
    if factor > 1:
        pixels = pixels.repeat(factor, axis=0).repeat(factor, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path
