"""``dynaclr evaluate EMBEDDINGS.zarr``: metrics, a report and pictures of a predict store.

Writes ``metrics.json``, ``report.md`` and PNG figures into ``--output`` (default: beside the
store, ``<name>_evaluation``): 2-D maps coloured by each ``--label`` column, experiment,
condition and hours post infection; the longest tracks as trajectories over the map; the
probe's confusion matrix per label (:func:`dynaclr.evaluate.evaluate_embeddings`). A problem
prints one paragraph and exits 2, writing nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynaclr.cli.errors import USER_ERRORS, report_error
from dynaclr.cli.options import CommandParser

__all__ = ["build_parser", "evaluate_main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dynaclr evaluate`` (every option documented in --help)."""
    parser = CommandParser(
        prog="dynaclr evaluate",
        description=(
            "Measure and draw what an embedding store from 'dynaclr predict' captures: a linear "
            "probe per --label column (fitted on half of the lineages, balanced accuracy on "
            "the other half, chance beside it), temporal smoothness (consecutive frames of a "
            "track over random pairs; lower is smoother) and effective rank, with 2-D maps "
            "(PCA; UMAP too when the 'umap' extra is installed), track trajectories and "
            "confusion matrices as PNG files. The store is only read unless --write-obsm."
        ),
    )
    parser.add_argument("store", type=Path, metavar="EMBEDDINGS.zarr",
                        help="the store 'dynaclr predict' wrote")  # fmt: skip
    parser.add_argument(
        "--label", action="append", default=[], metavar="COLUMN",
        help="an obs column to probe, e.g. infected (repeat for several; default: none)",
    )  # fmt: skip
    parser.add_argument(
        "--output", type=Path, default=None, metavar="DIR",
        help="folder for metrics.json, report.md and the PNGs (default: beside the store, "
        "<name>_evaluation)",
    )  # fmt: skip
    parser.add_argument(
        "--write_obsm", action="store_true",
        help="also write the 2-D reductions into the store's obsm (X_pca, X_umap); off by "
        "default, so the store is only read",
    )  # fmt: skip
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace an existing output folder that dynaclr evaluate wrote (default: refuse)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the probe's lineage split and the random pairs "
                        "(default: 0)")  # fmt: skip
    return parser


def evaluate_main(argv: list[str]) -> int:
    """Run ``dynaclr evaluate``; returns the exit status (0, or 2 on a problem)."""
    from dynaclr.evaluate import evaluate_embeddings

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2, already printed)
        return int(exit_.code or 0)

    def step(text: str) -> None:
        print(f"dynaclr evaluate: {text} ...", file=sys.stderr, flush=True)

    try:
        result = evaluate_embeddings(
            args.store, args.label, args.output, write_obsm=args.write_obsm,
            overwrite=args.overwrite, seed=args.seed, progress=step,
        )  # fmt: skip
    except USER_ERRORS as err:
        return report_error("evaluate", err)
    metrics = result.metrics
    lines = [f"dynaclr evaluate: {metrics['n_cells']:,} cells of {result.store}"]
    for label, probe in metrics["labels"].items():
        lines.append(
            f"  linear probe of {label}: {probe['balanced_accuracy']:.3f} balanced accuracy "
            f"(chance {probe['chance']:.3f})"
        )
    lines += [
        f"  temporal smoothness: {metrics['temporal_smoothness']:.3f} (lower is smoother)",
        f"  effective rank: {metrics['effective_rank']:.1f}",
        f"  report: {(result.output / 'report.md').resolve()}",
        f"  {len(result.figures)} figures and metrics.json in {result.output.resolve()}",
    ]
    print("\n".join(lines))
    return 0
