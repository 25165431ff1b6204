"""Step 2b: the pure build, tracks already in memory + FOV and experiment tables -> cell index.

No file I/O happens here, so benchmarks and tests can feed synthetic tables. All steps are
vectorised (polars sorts and joins, numpy gathers); loops run over FOVs or generations only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dynaclr.cell_index.borders import (
    check_fov_shapes,
    check_some_inside,
    crop_centres,
    inside_image,
    report_outside,
)
from dynaclr.cell_index.lineage import (
    ancestry,
    find_roots,
    link_parents,
    parents_per_track,
    raise_cycle,
)
from dynaclr.cell_index.positives import PositiveLookup
from dynaclr.cell_index.track_values import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    check_frames,
    check_track_values,
    coerce_track_columns,
    locate,
    number_tracks,
)

__all__ = [
    "DERIVED_COLUMNS",
    "EXPERIMENT_COLUMNS",
    "FOV_COLUMNS",
    "CellIndexTables",
    "build_cell_index",
]


FOV_COLUMNS = (
    "experiment",
    "fov_name",
    "well_name",
    "condition",
    "store_path",
    "n_frames",
    "depth",
    "image_height",
    "image_width",
)
EXPERIMENT_COLUMNS = (
    "experiment",
    "interval_minutes",
    "start_hpi",
    "fluorescence_channel",
    "tau_min",
    "tau_max",
)
DERIVED_COLUMNS = (
    "experiment",
    "condition",
    "well_name",
    "fov_name",
    "store_path",
    "global_track_id",
    "lineage_id",
    "hours_post_infection",
    "fluorescence_channel",
    "y_clamp",
    "x_clamp",
    "image_height",
    "image_width",
)
_SHOW = 5


@dataclass(frozen=True, eq=False)
class CellIndexTables:
    """Result of :func:`build_cell_index`.

    Attributes
    ----------
    tracks : polars.DataFrame
        One row per kept observation, sorted by ``global_track_id`` then ``t``.
    anchor_mask : numpy.ndarray
        bool per row of ``tracks``: has a positive for some tau of its experiment's range.
    positives : PositiveLookup
        The positive rule as a vectorised lookup over rows of ``tracks``.
    dropped_outside : dict
        ``experiment -> number of observations dropped for centroids outside the image``.
    """

    tracks: pl.DataFrame
    anchor_mask: np.ndarray
    positives: PositiveLookup
    dropped_outside: dict[str, int] = field(default_factory=dict)


def _check_columns(frame: pl.DataFrame, required: tuple[str, ...], name: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it needs {list(required)}.")


def _codes(frame: pl.DataFrame) -> np.ndarray:
    """int64 key per row from the global Categorical codes of (experiment, fov_name)."""
    exp = frame["experiment"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    fov = frame["fov_name"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    return (exp << 32) | fov


def _fov_index(tracks: pl.DataFrame, fovs: pl.DataFrame) -> np.ndarray:
    """Position in ``fovs`` of each track row's (experiment, fov_name)."""
    fov_keys = _codes(fovs)
    order = np.argsort(fov_keys, kind="stable")
    sorted_keys = fov_keys[order]
    if np.any(sorted_keys[1:] == sorted_keys[:-1]):
        raise ValueError("fovs lists an (experiment, fov_name) pair more than once.")
    row_keys = _codes(tracks)
    pos = np.minimum(np.searchsorted(sorted_keys, row_keys), max(sorted_keys.size - 1, 0))
    unknown = sorted_keys[pos] != row_keys if sorted_keys.size else np.ones(row_keys.size, bool)
    if unknown.any():
        pairs = tracks.filter(pl.Series(unknown)).select("experiment", "fov_name")
        raise ValueError(
            f"tracks name {int(unknown.sum())} row(s) of (experiment, fov_name) not in the FOV "
            f"table, e.g. {pairs.unique(maintain_order=True).head(_SHOW).rows()!r}."
        )
    return order[pos].astype(np.int32)


def build_cell_index(
    tracks: pl.DataFrame,
    fovs: pl.DataFrame,
    experiments: pl.DataFrame,
    yx_patch_size: tuple[int, int],
    z_range: slice,
    sources: Mapping[tuple[str, str], str] | None = None,
) -> CellIndexTables:
    """Build the cell index from tracks already in memory.

    Parameters
    ----------
    tracks : polars.DataFrame
        Observations of every experiment: columns ``experiment, fov_name, track_id, t, y, x``,
        optionally ``id, parent_track_id, parent_id, z`` and any extra columns (kept).
    fovs : polars.DataFrame
        One row per included FOV with :data:`FOV_COLUMNS` (``depth`` = z slices); its row
        order defines the order of ``global_track_id``.
    experiments : polars.DataFrame
        One row per experiment with :data:`EXPERIMENT_COLUMNS` (tau in frames).
    yx_patch_size : (int, int)
        Patch height and width in pixels.
    z_range : slice
        Normalised z slices read per patch.
    sources : mapping, optional
        ``(experiment, fov_name) -> tracks file``, named in error messages.

    Returns
    -------
    CellIndexTables

    Raises
    ------
    ValueError
        Bad track values, duplicate (track_id, t), parents that disagree, are missing from the
        FOV or form cycles, frames beyond the movie, a FOV smaller than the patch or
        shallower than ``z_range``, or an experiment whose cells all lie outside the image.
    """
    _check_columns(fovs, FOV_COLUMNS, "fovs")
    _check_columns(experiments, EXPERIMENT_COLUMNS, "experiments")
    _check_columns(tracks, ("experiment", "fov_name"), "tracks")
    check_fov_shapes(fovs, yx_patch_size, z_range)
    tracks = coerce_track_columns(tracks, "tracks")
    check_track_values(tracks, sources)
    fov_labels = list(zip(fovs["experiment"].cast(pl.String), fovs["fov_name"].cast(pl.String)))
    exp_names = experiments["experiment"].cast(pl.String).to_list()
    exp_of_fov = _experiment_of_fov(fovs, exp_names)

    # 1. one sort by (fov, track, t); tracks numbered densely in that order
    order, fov_idx = _sort_rows(tracks, fovs)
    track_id, t = _column(tracks, "track_id", order), _column(tracks, "t", order)
    gid, starts = number_tracks(fov_idx, track_id, t, fov_labels, sources)

    # 2. lineage: one parent per track, resolved within its FOV; roots by pointer jumping
    parent_tid, conflicting = parents_per_track(_column(tracks, "parent_track_id", order), starts)
    track_fov, track_tid = fov_idx[starts], track_id[starts]
    if conflicting.any():
        g = int(np.flatnonzero(conflicting)[0])
        raise ValueError(
            f"{locate(sources, *fov_labels[track_fov[g]])}: rows of track {int(track_tid[g])} "
            "name different parent_track_id values; a track has one parent."
        )
    del track_id
    parent = link_parents(track_fov, track_tid, parent_tid, fov_labels, sources)
    root, cyclic = find_roots(parent)
    if cyclic.any():
        raise_cycle(parent, cyclic, track_fov, track_tid, fov_labels, sources)

    # 3. frames and borders
    check_frames(fovs, fov_idx, t, gid, track_tid, fov_labels, sources)
    height = fovs["image_height"].cast(pl.Int32).to_numpy()[fov_idx]
    width = fovs["image_width"].cast(pl.Int32).to_numpy()[fov_idx]
    y, x = _column(tracks, "y", order), _column(tracks, "x", order)
    keep = inside_image(y, x, height, width)
    dropped = report_outside(keep, exp_of_fov[fov_idx], exp_names)
    check_some_inside(keep, fov_idx, exp_of_fov, fovs, fov_labels, sources, (y, x))
    y_clamp = crop_centres(y[keep], height[keep], yx_patch_size[0])
    x_clamp = crop_centres(x[keep], width[keep], yx_patch_size[1])
    del y, x
    height, width = height[keep], width[keep]

    # 4. assemble the kept rows and their derived columns
    order, fov_idx, gid, t = order[keep], fov_idx[keep], gid[keep], t[keep]
    del keep
    exp_idx = exp_of_fov[fov_idx]
    fov_cols = fovs.select(
        pl.col(c).cast(pl.Categorical) for c in ("condition", "well_name", "store_path")
    )
    exp_cols = experiments.with_columns(pl.col("fluorescence_channel").cast(pl.Categorical))
    hours = exp_cols["interval_minutes"].cast(pl.Float64).to_numpy()[exp_idx] * (t / 60.0)
    hours += exp_cols["start_hpi"].cast(pl.Float64).to_numpy()[exp_idx]
    out = tracks[order].with_columns(
        pl.col("experiment").cast(pl.Categorical),
        pl.col("fov_name").cast(pl.Categorical),
        fov_cols["condition"].gather(fov_idx),
        fov_cols["well_name"].gather(fov_idx),
        fov_cols["store_path"].gather(fov_idx),
        pl.Series("global_track_id", gid),
        pl.Series("lineage_id", root[gid]),
        pl.Series("hours_post_infection", hours),
        exp_cols["fluorescence_channel"].gather(exp_idx),
        pl.Series("y_clamp", y_clamp),
        pl.Series("x_clamp", x_clamp),
        pl.Series("image_height", height),
        pl.Series("image_width", width),
    )
    del order, fov_idx, hours, y_clamp, x_clamp, height, width
    first = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in out.columns]
    extra = [c for c in out.columns if c not in first and c not in DERIVED_COLUMNS]
    out = out.select(*first, *extra, *DERIVED_COLUMNS)

    # 5. positives and valid anchors share one lookup
    tau_min = experiments["tau_min"].cast(pl.Int64).to_numpy()
    tau_max = experiments["tau_max"].cast(pl.Int64).to_numpy()
    track_exp = exp_of_fov[track_fov]
    lookup = PositiveLookup.from_tracks(
        gid, t, ancestry(parent), tau_min[track_exp], tau_max[track_exp]
    )
    del gid, t
    anchors = lookup.valid_anchor_mask()
    return CellIndexTables(out, anchors, lookup, dropped)


def _column(tracks: pl.DataFrame, name: str, order: np.ndarray) -> np.ndarray:
    return tracks[name].to_numpy()[order]


def _sort_rows(tracks: pl.DataFrame, fovs: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row order by (fov, track_id, t) and the FOV position of each sorted row."""
    fov_of_row = _fov_index(tracks, fovs)
    track_id, t = tracks["track_id"].to_numpy(), tracks["t"].to_numpy()
    bits = [int(v).bit_length() for v in (fovs.height, track_id.max(initial=0), t.max(initial=0))]
    if sum(bits) <= 63:  # one int64 key; stable argsort is fast on mostly sorted input
        key = (fov_of_row.astype(np.int64) << (bits[1] + bits[2])) | (track_id << bits[2]) | t
        order = np.argsort(key, kind="stable")
    else:
        keys = pl.DataFrame({"f": fov_of_row, "k": track_id, "t": t})
        order = keys.select(pl.arg_sort_by("f", "k", "t")).to_series().to_numpy()
    return order, fov_of_row[order]


def _experiment_of_fov(fovs: pl.DataFrame, exp_names: list[str]) -> np.ndarray:
    position = {name: i for i, name in enumerate(exp_names)}
    labels = fovs["experiment"].cast(pl.String).to_list()
    unknown = sorted(set(labels) - set(position))
    if unknown:
        raise ValueError(f"fovs name experiment(s) {unknown!r} missing from experiments.")
    return np.array([position[name] for name in labels], dtype=np.int64)
