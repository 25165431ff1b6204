"""Pixels of simulated cells: phase-like and fluorescent channels, frame block by block.

Rendering is vectorised numpy (one ``bincount`` per block and channel, no per-pixel Python).
"""

from __future__ import annotations

import numpy as np

from dynaclr.demo.simulate import Columns

__all__ = ["render_block"]


def _soft_disk(dist: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Disk of the given radius with a ~1.5 px soft edge; ``dist`` in pixels."""
    return np.clip((radius - dist) / 1.5 + 0.5, 0.0, 1.0)


def render_block(
    obs: Columns,
    t_start: int,
    n_t: int,
    shape_zyx: tuple[int, int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """Render frames ``[t_start, t_start + n_t)`` as ``(n_t, 2, Z, Y, X)`` float32.

    Channel 0 is phase-like (a textured dome, denser nucleus, brighter rounded mitotic cells,
    background 0). Channel 1 is a fluorescent reporter (background 100): diffuse, textured
    cytoplasm; after infection it relocalises to the nucleus with the cell's summed intensity
    unchanged, so the mean of a patch barely moves while its pattern does. Both dim away from
    the middle z slice; Gaussian noise is added to every voxel.
    """
    n_z, height, width = shape_zyx
    keep = (obs["t"] >= t_start) & (obs["t"] < t_start + n_t)
    o = {k: v[keep] for k, v in obs.items()}
    half = int(np.ceil(o["radius"].max(initial=1.0))) + 2
    offsets = np.arange(-half, half + 1)
    py = np.rint(o["y"]).astype(int)[:, None] + offsets  # (M, P)
    px = np.rint(o["x"]).astype(int)[:, None] + offsets
    u = (py - o["y"][:, None])[:, :, None]  # (M, P, 1)
    v = (px - o["x"][:, None])[:, None, :]  # (M, 1, P)
    r = o["radius"][:, None, None]
    cell = _soft_disk(np.sqrt(u**2 + v**2), r)
    nuc_dist = np.sqrt(
        (u - o["nucleus_y"][:, None, None]) ** 2 + (v - o["nucleus_x"][:, None, None]) ** 2
    )
    nuc = _soft_disk(nuc_dist, 0.45 * r)
    k = o["texture"][:, :, None, None] * np.array([0.9, 0.9, 1, 1.3, 1.3, 1])[None, :, None, None]
    texture = 1 + 0.35 * np.sin(k[:, 0] * u + k[:, 1] * v + k[:, 2]) * np.cos(
        k[:, 3] * u + k[:, 4] * v + k[:, 5]
    )
    dome = np.sqrt(np.clip(1 - (u**2 + v**2) / r**2, 0, 1))
    phase = o["amplitude"][:, None, None] * (0.8 * cell * dome * texture + 0.3 * nuc)
    cyto = cell * (1 - nuc) * texture
    nuclear = (
        nuc
        * cyto.sum(axis=(1, 2), keepdims=True)
        / np.maximum(nuc.sum(axis=(1, 2), keepdims=True), 1e-6)
    )
    moved = o["relocalised"][:, None, None]
    fluor = o["amplitude"][:, None, None] * np.where(moved, 0.3 * cyto + 0.7 * nuclear, cyto)

    inside = ((py >= 0) & (py < height))[:, :, None] & ((px >= 0) & (px < width))[:, None, :]
    flat = ((o["t"] - t_start)[:, None, None] * height + py[:, :, None]) * width + px[:, None, :]
    flat = flat[inside]
    size = n_t * height * width
    images = [
        np.bincount(flat, weights=values[inside], minlength=size)
        .astype(np.float32)
        .reshape(n_t, 1, height, width)
        for values in (phase, fluor)
    ]
    z = np.arange(n_z) - (n_z - 1) / 2
    focus = np.exp(-0.5 * (z / max(1.0, n_z / 2.5)) ** 2).astype(np.float32)
    # Gaussian noise: each plane is a random window of one pool (drawing every voxel is slow).
    plane = height * width
    pool = rng.standard_normal(2 * plane, dtype=np.float32)
    out = np.empty((n_t, 2, n_z, height, width), np.float32)
    planes = out.reshape(-1, plane)
    sigma = np.array([0.05, 8.0], np.float32)  # phase, reporter
    for i, start in enumerate(rng.integers(0, plane, len(planes))):
        np.multiply(pool[start : start + plane], sigma[i // n_z % 2], out=planes[i])
    for z in range(n_z):
        out[:, 0, z] += images[0][:, 0] * focus[z]
        out[:, 1, z] += images[1][:, 0] * (300.0 * focus[z]) + 100.0
    return out
