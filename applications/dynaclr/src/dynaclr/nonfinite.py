"""Which cells of a batch hold non-finite pixels: experiment, FOV, frames and channel.

Called by the model's finite-loss check (:mod:`viscy_models.engine.finite`) through
:meth:`dynaclr.MultiExperimentDataModule.describe_nonfinite` when a loss is NaN or infinite.
Fit batches carry ``rows`` (the cell-index rows of their anchors and positives), which name
the observations; the batch tensors give the channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import torch

__all__ = ["describe_nonfinite"]


def describe_nonfinite(dataset: Any, batch: dict) -> str | None:
    """One line per (experiment, FOV, channel) with non-finite pixels in ``batch``, or None.

    Parameters
    ----------
    dataset : MultiExperimentTripletDataset
        The dataset the batch was drawn from (its index names the rows).
    batch : dict
        ``anchor`` / ``positive`` ``(B, C, Z, Y, X)`` tensors and ``rows`` (their index rows).
    """
    rows = batch.get("rows")
    if dataset is None or not isinstance(rows, dict):
        return None
    found_rows, found_channels = [], []
    for key in ("anchor", "positive"):
        images, index_rows = batch.get(key), rows.get(key)
        if not isinstance(images, torch.Tensor) or index_rows is None:
            continue
        bad = (~torch.isfinite(images)).flatten(2).any(-1).cpu().numpy()  # (B, C)
        sample, channel = np.nonzero(bad)
        found_rows.append(
            np.asarray(index_rows.cpu() if hasattr(index_rows, "cpu") else index_rows)[sample]
        )
        found_channels.append(channel)
    if not found_rows or not sum(r.size for r in found_rows):
        return None
    rows_hit = np.concatenate(found_rows)
    channel_hit = np.concatenate(found_channels)
    tracks = dataset.index.tracks
    hits = (
        tracks[rows_hit.tolist()]
        .select("experiment", "fov_name", "t")
        .with_columns(channel=pl.Series(channel_hit.astype(np.int64)))
    )
    registry = dataset.index.registry
    names = {exp.name: list(exp.source_channel) for exp in registry.experiments}
    grouped = (
        hits.group_by("experiment", "fov_name", "channel")
        .agg(pl.col("t").unique().sort())
        .sort("experiment", "fov_name", "channel")
    )
    lines = []
    for experiment, fov, channel, frames in grouped.iter_rows():
        channels = names.get(experiment, [])
        label = channels[channel] if channel < len(channels) else f"#{channel}"
        lines.append(f"experiment {experiment!r}, FOV {fov!r}, frames {frames}, channel {label!r}")
    shown = "; ".join(lines[:5]) + (f"; and {len(lines) - 5} more" if len(lines) > 5 else "")
    fovs = sorted({f"{e}/{f}" for e, f in hits.select("experiment", "fov_name").iter_rows()})
    return f"{int(rows_hit.size)} patch-channel(s): {shown} (data.exclude_fovs: {fovs})"
