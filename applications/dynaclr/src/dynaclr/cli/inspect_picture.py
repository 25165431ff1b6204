"""The picture of ``dynaclr inspect``: labelled anchor | positive pairs, one stretch per channel.

One row per sample, labelled with its experiment, condition, track, frames ``t -> t + tau`` and
hours post infection; one column per channel of the anchor, then of the positive, headed by the
channel's name. Each channel is stretched once for the whole picture (its 1st to 99th
percentile over every tile shown), so differences in normalization between experiments stay
visible; the stretches are returned to be printed. Tiles are drawn at least 96 pixels wide.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["PairRow", "channel_stretches", "draw_pairs"]

_MIN_TILE_PX = 96


@dataclass(frozen=True)
class PairRow:
    """One sample: middle-Z planes ``(C, Y, X)`` of anchor and positive, and its label."""

    anchor: np.ndarray
    positive: np.ndarray
    label: str


def pair_label(anchor: dict, positive: dict) -> str:
    """``experiment / condition / track 7 / t 3 -> 5 / 1.5 hpi`` from two index rows."""
    parts = [str(anchor.get("experiment", "?")), str(anchor.get("condition", "?"))]
    parts.append(f"track {anchor.get('track_id', '?')}")
    parts.append(f"t {anchor.get('t', '?')} -> {positive.get('t', '?')}")
    hours = anchor.get("hours_post_infection")
    if hours is not None:
        parts.append(f"{float(hours):.1f} hpi")
    return " / ".join(parts)


def rows_of_batch(batch: dict, tracks: pl.DataFrame, samples: int) -> list[PairRow]:
    """The first ``samples`` pairs of a transformed fit batch (``anchor``, ``positive``,
    ``rows``), labelled from the cell index ``tracks``."""
    count = min(samples, batch["anchor"].shape[0])
    rows = batch["rows"]
    anchors = tracks[rows["anchor"][:count].tolist()].to_dicts()
    positives = tracks[rows["positive"][:count].tolist()].to_dicts()
    middle = batch["anchor"].shape[2] // 2
    out = []
    for i in range(count):
        out.append(
            PairRow(
                batch["anchor"][i, :, middle].float().cpu().numpy(),
                batch["positive"][i, :, middle].float().cpu().numpy(),
                pair_label(anchors[i], positives[i]),
            )
        )
    return out


def channel_stretches(rows: Sequence[PairRow]) -> np.ndarray:
    """``(C, 2)``: each channel's 1st and 99th percentile over every anchor and positive tile."""
    stacked = np.stack([np.stack([r.anchor, r.positive]) for r in rows])  # (N, 2, C, Y, X)
    per_channel = np.moveaxis(stacked, 2, 0).reshape(stacked.shape[2], -1)
    finite = [values[np.isfinite(values)] for values in per_channel]
    return np.array([np.percentile(v, [1, 99]) if v.size else (0.0, 1.0) for v in finite])


def draw_pairs(
    rows: Sequence[PairRow], channel_names: Sequence[str], path: Path, separators: Sequence[int]
) -> tuple[Path, np.ndarray]:
    """Write the picture; returns its path and the ``(C, 2)`` stretches used.

    ``separators`` are the row indices where a new batch starts (a gap is drawn above them).
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    stretches = channel_stretches(rows)
    n_channels = len(channel_names)
    tile_px = max(_MIN_TILE_PX, rows[0].anchor.shape[-1])
    dpi = 100
    label_in, tile_in = 2.3, tile_px / dpi
    headers = [textwrap.fill(name, max(8, int(tile_in * 13))) for name in channel_names]
    header_in = 0.25 + 0.16 * max(h.count("\n") + 2 for h in headers)
    width = label_in + 2 * n_channels * tile_in
    height = header_in + len(rows) * (tile_in + 0.07)
    fig = plt.figure(figsize=(width, height), dpi=dpi)
    grid = fig.add_gridspec(
        len(rows), 2 * n_channels, left=label_in / width, right=0.995,
        top=1 - header_in / height, bottom=0.02 / height, wspace=0.04, hspace=0.07,
    )  # fmt: skip
    for i, row in enumerate(rows):
        for side, planes in enumerate((row.anchor, row.positive)):
            for c in range(n_channels):
                ax = fig.add_subplot(grid[i, side * n_channels + c])
                lo, hi = stretches[c]
                ax.imshow(planes[c], cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1,
                          interpolation="nearest")  # fmt: skip
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    which = "anchor" if side == 0 else "positive"
                    ax.set_title(f"{which}\n{headers[c]}", fontsize=8)
                if side == 0 and c == 0:
                    ax.set_ylabel(row.label.replace(" / ", "\n", 2), rotation=0, ha="right",
                                  va="center", fontsize=8, labelpad=6)  # fmt: skip
                if i in separators and i > 0:
                    ax.spines["top"].set_color("red")
                    ax.spines["top"].set_linewidth(2)
    fig.savefig(path)
    plt.close(fig)
    return path, stretches
