"""``dynaclr inspect``: see the batches a config would train on, without training.

Writes a PNG of anchor/positive pairs as the model sees them (after normalization,
augmentation, crop and channel dropout), each row labelled with experiment, condition, track,
frames and hours post infection, columns headed by channel names, one intensity stretch per
channel for the whole picture (printed; :mod:`dynaclr.cli.inspect_picture`), and prints one
line per batch with its experiments, conditions and hours post infection, so the sampling axes
can be checked by eye.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import yaml
from jsonargparse import ArgumentError
from PIL import Image

from dynaclr.cli.argv import config_arguments, config_files
from dynaclr.cli.errors import USER_ERRORS, report_error, report_usage_error
from dynaclr.cli.inspect_picture import PairRow, draw_pairs, rows_of_batch
from dynaclr.cli.lightning_cli import DynaCLRCLI
from dynaclr.cli.options import CommandParser
from viscy_data.readers import PatchReadError

__all__ = ["batch_composition", "check_image_path", "inspect_main"]


def batch_composition(anchors: pl.DataFrame, batches: Sequence[Sequence[int]]) -> pl.DataFrame:
    """One row per batch: counts per experiment and condition, and the range of hours.

    Parameters
    ----------
    anchors : pl.DataFrame
        The dataset's valid anchors, at least columns experiment, condition and
        hours_post_infection (``index.valid_anchor_columns(...)``).
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


_COMPOSITION_COLUMNS = ("experiment", "condition", "hours_post_infection")
_RUN_ONLY_KEYS = ("ckpt_path", "weights_only")


def check_image_path(path: Path) -> None:
    """Refuse an ``--output`` that is a folder or has no image extension, before any batch.

    Raises
    ------
    ValueError
        Naming the path and an image file that would work.
    """
    if path.is_dir() or str(path).endswith(("/", "\\")):
        raise ValueError(
            f"--output '{path}' is a folder; give an image file, e.g. "
            f"--output {path / 'dynaclr_inspect.png'}"
        )
    if path.suffix.lower() not in Image.registered_extensions():
        raise ValueError(
            f"--output '{path}' has no image extension ({path.suffix or 'none'}); give a file "
            f"ending in .png (or .jpg, .tif), e.g. --output {path.with_suffix('.png')}"
        )


def _without_run_keys(args: list[str], tmp: Path) -> list[str]:
    """Copy config files without the keys only ``fit``/``predict`` accept (``ckpt_path``).

    Lets ``inspect`` take the ``config.yaml`` a ``fit`` run saved.
    """
    out = list(args)
    for i, path, prefix in config_arguments(out):
        try:
            config = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # the parser reports it, in the words it uses for fit
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
    files = ", ".join(config_files(rest))
    try:
        check_image_path(own.output)
        with tempfile.TemporaryDirectory() as tmp:
            args = _without_run_keys(rest, Path(tmp))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*args parameter is intended to run")
                cli = DynaCLRCLI(
                    args=args,
                    run=False,
                    save_config_callback=None,
                    parser_kwargs={"exit_on_error": False},
                )
        dm = cli.datamodule
        dm.setup("fit")
    except ArgumentError as err:
        return report_usage_error("inspect", err, config=files)
    except USER_ERRORS as err:
        return report_error("inspect", err, config=files)
    dataset = dm.train_dataset
    sampler = dm.train_dataloader().batch_sampler
    drawn: list[list[int]] = []
    pairs: list[PairRow] = []
    starts: list[int] = []
    try:
        for positions in sampler:
            if len(drawn) == own.batches:
                break
            drawn.append(list(positions))
            batch = dm.on_after_batch_transfer(dataset.__getitems__(positions), 0)
            starts.append(len(pairs))
            pairs += rows_of_batch(batch, dataset.index.tracks, own.samples)
    except PatchReadError as err:  # a damaged store: a failure while reading, not a config
        return report_error("inspect", err, config=files, status=1)
    if not pairs:
        print("dynaclr inspect: the sampler yielded no batch", file=sys.stderr)
        return 2
    own.output.parent.mkdir(parents=True, exist_ok=True)
    names = _channel_names(dataset.index.registry)
    _, stretches = draw_pairs(pairs, names, own.output, starts)
    with pl.Config(tbl_rows=-1, tbl_width_chars=200, fmt_str_lengths=80):
        anchors = dataset.index.valid_anchor_columns(*_COMPOSITION_COLUMNS)
        print(batch_composition(anchors, drawn))
    with Image.open(own.output) as picture:
        size = f"{picture.width}x{picture.height} px"
    print(
        f"dynaclr inspect: wrote {own.output.resolve()} ({size}; {len(pairs)} pairs from "
        f"{len(drawn)} batches, a red line where a batch starts; per row: anchor channels, "
        "then positive channels, after normalization, augmentation, crop and dropout)"
    )
    for name, (lo, hi) in zip(names, stretches):
        print(f"  {name}: black {lo:.3g}, white {hi:.3g} (1st-99th percentile of every tile)")
    return 0


def _channel_names(registry) -> list[str]:
    """The name of each source-channel position (names that differ between experiments
    joined with '/')."""
    names = []
    for p in range(registry.num_source_channels):
        seen = [exp.source_channel[p] for exp in registry.experiments]
        names.append("/".join(dict.fromkeys(seen)))
    return names
