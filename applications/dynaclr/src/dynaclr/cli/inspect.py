"""``dynaclr inspect``: see the batches a config would train on, without training.

Writes a PNG grid of anchor/positive pairs as the model sees them (after normalization,
augmentation, crop and channel dropout) and prints one line per batch with its experiments,
conditions and hours post infection, so the sampling axes can be checked by eye.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import torch
import yaml
from jsonargparse import ArgumentError
from PIL import Image

from dynaclr.cli.argv import config_arguments, config_files
from dynaclr.cli.errors import USER_ERRORS, report_error
from dynaclr.cli.lightning_cli import DynaCLRCLI
from dynaclr.cli.options import CommandParser

__all__ = ["batch_composition", "inspect_main", "pair_grid"]


def batch_composition(anchors: pl.DataFrame, batches: Sequence[Sequence[int]]) -> pl.DataFrame:
    """One row per batch: counts per experiment and condition, and the range of hours.

    Parameters
    ----------
    anchors : pl.DataFrame
        ``valid_anchors`` of the dataset (columns experiment, condition, hours_post_infection).
    batches : sequence of sequence of int
        Row positions of each batch.
    """
    rows = []
    for i, positions in enumerate(batches):
        part = anchors[list(positions)]
        experiments = part["experiment"].cast(pl.String).value_counts(sort=True)
        conditions = part["condition"].cast(pl.String).value_counts(sort=True)
        hours = part["hours_post_infection"]
        rows.append(
            {
                "batch": i,
                "size": part.height,
                "experiments": ", ".join(f"{n}:{c}" for n, c in experiments.iter_rows()),
                "conditions": ", ".join(f"{n}:{c}" for n, c in conditions.iter_rows()),
                "hpi min": round(float(hours.min()), 2),
                "hpi median": round(float(hours.median()), 2),
                "hpi max": round(float(hours.max()), 2),
            }
        )
    return pl.DataFrame(rows)


def _to_uint8(tile: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(tile, [1, 99])
    if not np.isfinite(lo) or hi <= lo:
        return np.zeros(tile.shape, dtype=np.uint8)
    return (np.clip((tile - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def pair_grid(anchor: torch.Tensor, positive: torch.Tensor, gap: int = 2) -> np.ndarray:
    """A uint8 image: one row per sample, tiles anchor ch0..chC-1 then positive ch0..chC-1.

    Each tile is the middle Z plane, contrast-stretched to its own 1-99th percentiles.
    """
    n, c, z, h, w = anchor.shape
    image = np.full((n * (h + gap) - gap, 2 * c * (w + gap) - gap), 255, dtype=np.uint8)
    for i in range(n):
        for j, x in enumerate((anchor, positive)):
            for ch in range(c):
                col = (j * c + ch) * (w + gap)
                tile = x[i, ch, z // 2].float().cpu().numpy()
                image[i * (h + gap) : i * (h + gap) + h, col : col + w] = _to_uint8(tile)
    return image


_RUN_ONLY_KEYS = ("ckpt_path", "weights_only")


def _without_run_keys(args: list[str], tmp: Path) -> list[str]:
    """Copy config files without the keys only ``fit``/``predict`` accept (``ckpt_path``).

    Lets ``inspect`` take the ``config.yaml`` a ``fit`` run saved.
    """
    out = list(args)
    for i, path, prefix in config_arguments(out):
        config = yaml.safe_load(Path(path).read_text()) or {}
        if isinstance(config, dict) and any(key in config for key in _RUN_ONLY_KEYS):
            for key in _RUN_ONLY_KEYS:
                config.pop(key, None)
            copy = tmp / f"config{i}.yaml"
            copy.write_text(yaml.safe_dump(config))
            out[i] = prefix + str(copy)
    return out


def inspect_main(argv: list[str]) -> int:
    """Run ``dynaclr inspect``; returns the exit status."""
    parser = CommandParser(
        prog="dynaclr inspect",
        description="Write a PNG grid of anchor/positive pairs and print the batch composition.",
    )
    parser.add_argument("--batches", type=int, default=4, help="batches to draw (default 4)")
    parser.add_argument("--samples", type=int, default=8, help="pairs per batch in the PNG")
    parser.add_argument("--output", type=Path, default=Path("dynaclr_inspect.png"))
    own, rest = parser.parse_known_args(argv)
    if not config_arguments(rest):
        parser.error("pass --config CONFIG.yml (a dynaclr fit config)")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            args = _without_run_keys(rest, Path(tmp))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*args parameter is intended to run")
                cli = DynaCLRCLI(args=args, run=False, save_config_callback=None)
        dm = cli.datamodule
        dm.setup("fit")
    except (*USER_ERRORS, ArgumentError) as err:
        return report_error("inspect", err, config=", ".join(config_files(rest)))
    dataset = dm.train_dataset
    sampler = dm.train_dataloader().batch_sampler
    drawn: list[list[int]] = []
    rows = []
    for positions in sampler:
        if len(drawn) == own.batches:
            break
        drawn.append(list(positions))
        batch = dm.on_after_batch_transfer(dataset.__getitems__(positions), 0)
        k = min(own.samples, len(positions))
        rows.append(pair_grid(batch["anchor"][:k], batch["positive"][:k]))
    if not rows:
        print("dynaclr inspect: the sampler yielded no batch", file=sys.stderr)
        return 2
    width = max(r.shape[1] for r in rows)
    sep = np.full((4, width), 255, dtype=np.uint8)
    grid = np.concatenate(
        [
            np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=255)
            for pair in zip(rows, [sep] * len(rows))
            for r in pair
        ][:-1]
    )
    own.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(own.output)
    with pl.Config(tbl_rows=-1, tbl_width_chars=200, fmt_str_lengths=80):
        print(batch_composition(dataset.index.valid_anchors, drawn))
    print(
        f"dynaclr inspect: wrote {own.output.resolve()} ({grid.shape[1]}x{grid.shape[0]} px; "
        "per row: anchor channels, then positive channels)"
    )
    return 0
