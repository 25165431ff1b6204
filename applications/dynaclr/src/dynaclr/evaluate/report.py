"""``dynaclr evaluate``: metrics, a report and pictures of a predict store, in one folder.

:func:`evaluate_embeddings` reads the store (:func:`dynaclr.evaluate.store.read_embeddings`),
computes the metrics of :mod:`dynaclr.evaluate.metrics` on the encoder features ``X``, draws
the figures of :mod:`dynaclr.evaluate.figures`, and writes ``metrics.json``, ``report.md``
and the PNGs into the output folder, staged and renamed into place when complete under the
output rule (:mod:`viscy_data.outputs`). The store itself is only read, unless
``write_obsm`` asks for the 2-D reductions in its ``obsm``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from dynaclr.evaluate import figures
from dynaclr.evaluate.metrics import ProbeResult, effective_rank, linear_probe, temporal_smoothness
from dynaclr.evaluate.store import Embeddings, read_embeddings
from viscy_data.outputs import StagedOutputs, check_outputs, mark_output

__all__ = ["EVALUATION_KIND", "EvaluationSummary", "default_output", "evaluate_embeddings"]

EVALUATION_KIND = "dynaclr evaluation"
"""Marker kind of an evaluation folder (``--overwrite`` replaces only these)."""
COLOUR_COLUMNS = ("experiment", "condition", "hours_post_infection")
"""Columns every map is also coloured by, when the store has them."""


@dataclass(frozen=True)
class EvaluationSummary:
    """What :func:`evaluate_embeddings` measured and wrote."""

    store: Path
    output: Path
    metrics: dict
    figures: tuple[Path, ...]


def default_output(store: str | os.PathLike) -> Path:
    """``<store's folder>/<store name without .zarr>_evaluation``."""
    store = Path(store)
    return store.with_name(f"{store.name.removesuffix('.zarr')}_evaluation")


def _check_labels(embeddings: Embeddings, labels: Sequence[str]) -> None:
    obs = embeddings.obs
    for label in labels:
        if label not in obs.columns:
            raise ValueError(
                f"--label {label!r}: {str(embeddings.path)!r} has no such obs column; its "
                f"columns: {list(obs.columns)}"
            )
        classes = obs.get_column(label).drop_nulls().n_unique()
        if classes < 2:
            raise ValueError(
                f"--label {label!r}: {str(embeddings.path)!r} holds {classes} class(es) of it; "
                "a probe needs at least two (embed cells of both states, e.g. more experiments)"
            )


def _probe(embeddings: Embeddings, label: str, seed: int) -> ProbeResult:
    values = embeddings.obs.get_column(label)
    keep = ~values.is_null().to_numpy()
    labels = values.cast(pl.String).to_numpy()[keep]
    groups = embeddings.obs.get_column("lineage_id").to_numpy()[keep]
    return linear_probe(embeddings.features[keep], labels, groups, seed=seed)


def evaluate_embeddings(
    store: str | os.PathLike,
    labels: Sequence[str] = (),
    output: str | os.PathLike | None = None,
    *,
    write_obsm: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> EvaluationSummary:
    """Evaluate a ``dynaclr predict`` store; write metrics, report and figures to ``output``.

    Parameters
    ----------
    store : str or os.PathLike
        The embeddings store (``embeddings.zarr``).
    labels : sequence of str
        ``obs`` columns to probe (e.g. ``"infected"``), each with at least two classes.
    output : str or os.PathLike, optional
        Folder to write (default :func:`default_output`); may not be, hold or lie in the store.
    write_obsm : bool, default False
        Also write the 2-D reductions into the store's ``obsm`` (``X_pca``, ``X_umap``).
    overwrite : bool, default False
        Replace an existing evaluation folder (only one that ``dynaclr evaluate`` wrote).
    seed : int, default 0
        Seed of the probe's lineage split, the random pairs and the points drawn.
    progress : callable, optional
        Called with a short description before each step.

    Returns
    -------
    EvaluationSummary

    Raises
    ------
    FileNotFoundError, ValueError, FileExistsError
        A missing store, one that is not a predict output, an unknown label column or one
        with a single class, an output that touches the store or exists (see
        :func:`viscy_data.outputs.check_outputs`). Nothing is written then.
    """
    say = progress or (lambda _: None)
    embeddings = read_embeddings(store)
    labels = list(dict.fromkeys(labels))
    _check_labels(embeddings, labels)
    output = Path(output) if output is not None else default_output(embeddings.path)
    check_outputs(
        [(output, EVALUATION_KIND)],
        [("embeddings store", embeddings.path)],
        overwrite=overwrite,
        command="dynaclr evaluate",
    )
    probes = {}
    for label in labels:
        say(f"probing {label}")
        probes[label] = _probe(embeddings, label, seed)
    say("temporal smoothness and effective rank")
    metrics = {
        "n_cells": int(embeddings.features.shape[0]),
        "labels": {
            label: {"balanced_accuracy": r.balanced_accuracy, "chance": r.chance}
            for label, r in probes.items()
        },
        "temporal_smoothness": temporal_smoothness(embeddings.features, embeddings.obs, seed),
        "effective_rank": effective_rank(embeddings.features),
    }
    say("2-D maps")
    maps = figures.reduce_2d(embeddings.features, seed)
    with StagedOutputs([output]) as staged:
        folder = staged[output]
        folder.mkdir()
        drawn = _draw(embeddings, labels, probes, maps, folder, seed, say)
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (folder / "report.md").write_text(_report(embeddings, metrics, drawn, maps))
        mark_output(folder, EVALUATION_KIND, store=str(embeddings.path.resolve()))
        if write_obsm:
            say("writing the reductions into the store's obsm")
            _write_obsm(embeddings.path, maps)
        staged.publish()
    return EvaluationSummary(
        embeddings.path, output, metrics, tuple(output / p.name for p in drawn)
    )


def _draw(embeddings, labels, probes, maps, folder, seed, say) -> list[Path]:
    obs = embeddings.obs
    columns = [*labels, *(c for c in COLOUR_COLUMNS if c in obs.columns and c not in labels)]
    drawn = []
    for reduction, coords in maps.items():
        for column in columns:
            say(f"{reduction} map by {column}")
            path = folder / f"map_{reduction}_{column}.png"
            drawn.append(figures.map_figure(coords, obs.get_column(column), reduction, path, seed))
        drawn.append(
            figures.tracks_figure(coords, obs, reduction, folder / f"tracks_{reduction}.png")
        )
    for label, result in probes.items():
        drawn.append(figures.confusion_figure(result, label, folder / f"confusion_{label}.png"))
    return drawn


def _report(embeddings: Embeddings, metrics: dict, drawn: list[Path], maps: dict) -> str:
    made = embeddings.provenance
    source = "unknown (store written before provenance existed)"
    if made:
        if made.get("random_init"):
            source = "random initialisation (predict --random_init): a baseline"
        else:
            source = (
                f"`{made.get('checkpoint', '?')}` (SHA-256 {made.get('checkpoint_sha256', '?')})"
            )
    lines = [
        f"# Evaluation of `{embeddings.path}`",
        "",
        f"- cells: {metrics['n_cells']:,}; features: {embeddings.features.shape[1]}",
        f"- encoder: {source}",
        f"- 2-D maps: {', '.join(m.upper() for m in maps)}"
        + ("" if "umap" in maps else " (install the `umap` extra for UMAP)"),
        "",
        "| metric | value | meaning |",
        "| --- | --- | --- |",
    ]
    for label, result in metrics["labels"].items():
        lines.append(
            f"| linear probe of `{label}` | {result['balanced_accuracy']:.3f} (chance "
            f"{result['chance']:.3f}) | balanced accuracy on held-out lineages |"
        )
    lines += [
        f"| temporal smoothness | {metrics['temporal_smoothness']:.3f} | consecutive frames of "
        "a track / random pairs; lower is smoother, 1 is no structure |",
        f"| effective rank | {metrics['effective_rank']:.1f} | dimensions the embedding uses |",
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{p.stem}]({p.name})" for p in drawn]
    return "\n".join(lines) + "\n"


def _write_obsm(store: Path, maps: dict[str, np.ndarray]) -> None:
    import anndata as ad
    import zarr

    group = zarr.open_group(str(store), mode="r+", use_consolidated=False)
    obsm = group.require_group("obsm")
    for reduction, coords in maps.items():
        ad.io.write_elem(obsm, f"X_{reduction}", coords)
    zarr.consolidate_metadata(str(store))  # as anndata wrote it, so readers see the new keys
