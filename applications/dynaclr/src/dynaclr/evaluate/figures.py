"""The pictures of ``dynaclr evaluate``: 2-D maps, track trajectories, confusion matrices.

Every figure is a PNG of about 770 x 620 pixels (6.4 x 5.2 inches at 120 dpi) with a title
that says what is shown and on how many cells. Maps draw at most :data:`MAX_POINTS` points (a
seeded random subset, the same in every map, stated in the subtitle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from dynaclr.evaluate.metrics import ProbeResult

__all__ = ["MAX_POINTS", "confusion_figure", "map_figure", "reduce_2d", "tracks_figure"]

MAX_POINTS = 20000
_SIZE, _DPI = (6.4, 5.2), 120
_MAX_CATEGORIES = 20


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def reduce_2d(features: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """2-D coordinates of every row: ``"pca"`` always, ``"umap"`` when umap-learn is installed.

    PCA is computed from the ``(D, D)`` covariance of the centred features; UMAP (cosine
    metric) is fitted on at most :data:`MAX_POINTS` rows and applied to all of them.
    """
    x = np.asarray(features, dtype=np.float64)
    centred = x - x.mean(0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    out = {"pca": (centred @ vectors[:, ::-1][:, :2]).astype(np.float32)}
    try:
        import umap
    except ImportError:
        return out
    rng = np.random.default_rng(seed)
    fit_rows = rng.permutation(len(x))[:MAX_POINTS]
    reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed)
    reducer.fit(features[fit_rows])
    out["umap"] = reducer.transform(features).astype(np.float32)
    return out


def shown_rows(n: int, seed: int = 0) -> np.ndarray:
    """The rows every map draws: all, or a seeded subset of :data:`MAX_POINTS`."""
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:MAX_POINTS])


def map_figure(
    coords: np.ndarray, values: pl.Series, reduction: str, path: Path, seed: int = 0
) -> Path:
    """``coords`` coloured by ``values``: a colour bar for floats and integers with more than 20
    values, else a legend (strings and labels; the first 20 categories).

    Missing values are drawn in light grey underneath.
    """
    plt = _pyplot()
    rows = shown_rows(len(coords), seed)
    xy, series = coords[rows], values[rows.tolist()]
    fig, ax = plt.subplots(figsize=_SIZE, dpi=_DPI)
    missing = series.is_null().to_numpy()
    if missing.any():
        ax.scatter(*xy[missing].T, s=4, c="#dddddd", label="missing", rasterized=True)
    present = ~missing
    numeric = series.dtype.is_numeric() and series.dtype != pl.Boolean
    distinct = series.drop_nulls().unique()
    if series.dtype.is_float() or (numeric and distinct.len() > _MAX_CATEGORIES):
        points = ax.scatter(
            *xy[present].T, s=4, c=series.to_numpy()[present], cmap="viridis", rasterized=True
        )
        fig.colorbar(points, ax=ax, label=values.name)
    else:
        categories = sorted(distinct.to_list(), key=str)[:_MAX_CATEGORIES]
        palette = plt.get_cmap("tab20" if len(categories) > 10 else "tab10")
        for i, category in enumerate(categories):
            hit = present & (series.to_numpy() == category)
            ax.scatter(*xy[hit].T, s=4, color=palette(i), label=str(category), rasterized=True)
        ax.legend(title=values.name, markerscale=3, fontsize=8, loc="best", frameon=True)
    shown = (
        f"{len(rows):,} of {len(coords):,} cells"
        if len(rows) < len(coords)
        else (f"{len(coords):,} cells")
    )
    title = f"{reduction.upper()} of the embeddings, coloured by {values.name}\n{shown}"
    return _save_map(plt, fig, ax, reduction, title, path)


def tracks_figure(
    coords: np.ndarray, obs: pl.DataFrame, reduction: str, path: Path, n_tracks: int = 6
) -> Path:
    """The ``n_tracks`` longest tracks as lines over the map (a dot at the first frame)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=_SIZE, dpi=_DPI)
    rows = shown_rows(len(coords))
    ax.scatter(*coords[rows].T, s=3, c="#d0d0d0", rasterized=True)
    indexed = obs.with_row_index("_row")
    longest = (
        indexed.group_by("global_track_id")
        .len()
        .sort(["len", "global_track_id"], descending=[True, False])
        .head(n_tracks)
        .get_column("global_track_id")
        .to_list()
    )
    palette = plt.get_cmap("tab10")
    for i, track in enumerate(longest):
        steps = indexed.filter(pl.col("global_track_id") == track).sort("t")
        xy = coords[steps.get_column("_row").to_numpy()]
        frames = steps.get_column("t")
        name = _track_name(steps)
        ax.plot(*xy.T, "-", lw=1.5, color=palette(i % 10),
                label=f"{name}, t {frames.min()}-{frames.max()}")  # fmt: skip
        ax.plot(*xy[0], "o", ms=6, color=palette(i % 10))
    ax.legend(fontsize=7, loc="best", title="track (dot: first frame)")
    title = f"{len(longest)} longest tracks over the {reduction.upper()} map"
    return _save_map(plt, fig, ax, reduction, title, path)


def _save_map(plt, fig, ax, reduction: str, title: str, path: Path) -> Path:
    """Title and axis names of a 2-D map; write it and free the figure."""
    ax.set_title(title)
    ax.set_xlabel(f"{reduction.upper()} 1")
    ax.set_ylabel(f"{reduction.upper()} 2")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _track_name(steps: pl.DataFrame) -> str:
    parts = [str(steps.get_column(c)[0]) for c in ("experiment", "fov_name") if c in steps.columns]
    track = steps.get_column("track_id")[0] if "track_id" in steps.columns else None
    if track is None:
        track = steps.get_column("global_track_id")[0]
    return " ".join([*parts, f"track {track}"])


def confusion_figure(result: ProbeResult, label: str, path: Path) -> Path:
    """The probe's test confusion matrix: counts, shaded by the fraction of each true class."""
    plt = _pyplot()
    counts = result.confusion
    totals = counts.sum(1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    fig, ax = plt.subplots(figsize=_SIZE, dpi=_DPI)
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    names = [str(c) for c in result.classes]
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, f"{value:,}", ha="center", va="center",
                color="white" if fractions[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xlabel(f"predicted {label}")
    ax.set_ylabel(f"true {label}")
    ax.set_title(
        f"Linear probe of {label} on held-out lineages\nbalanced accuracy "
        f"{result.balanced_accuracy:.3f} (chance {result.chance:.3f}), {counts.sum():,} cells"
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
