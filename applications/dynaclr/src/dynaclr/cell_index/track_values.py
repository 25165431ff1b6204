"""Track columns and values: required columns, numeric coercion, per-row checks.

Columns ``track_id, t, y, x`` are required; ``id, parent_track_id, parent_id, z`` are
optional (a root's parent is -1 or empty). Other columns are kept as they are and ride along
into the cell index and the embeddings' ``obs``, except :data:`RESERVED_COLUMNS`, which the index
writes itself. Every error names the file and FOV the rows came from (:func:`locate`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "RESERVED_COLUMNS",
    "Sources",
    "check_frames",
    "check_reserved_columns",
    "check_track_values",
    "coerce_track_columns",
    "locate",
    "number_tracks",
]

REQUIRED_COLUMNS = ("track_id", "t", "y", "x")
OPTIONAL_COLUMNS = ("id", "parent_track_id", "parent_id", "z")
RESERVED_COLUMNS = (
    "experiment",
    "condition",
    "well_name",
    "store_path",
    "global_track_id",
    "lineage_id",
    "hours_post_infection",
    "fluorescence_channel",
    "y_clamp",
    "x_clamp",
    "image_height",
    "image_width",
    "row",
    "well",
)
"""Columns the cell index writes itself (``build.DERIVED_COLUMNS`` but ``fov_name``, the ``row``
of ``valid_anchors`` and ``well``, the embeddings' name of ``well_name``); a tracks table may
not hold them. ``fov_name`` is an input
column of a whole-experiment table and is replaced by the folder's name in the per-FOV layout."""
_INTEGER_COLUMNS = ("track_id", "t", "id", "parent_track_id", "parent_id")
_FLOAT_COLUMNS = ("y", "x", "z")
_SHOW = 5  # offending rows quoted in an error message

Sources = Mapping[tuple[str, str], str]


def locate(sources: Sources | None, experiment: str | None, fov_name: str) -> str:
    """Describe where a FOV's tracks came from, for error messages."""
    where = f"FOV {fov_name!r}" if experiment is None else f"{experiment!r} FOV {fov_name!r}"
    path = (sources or {}).get((experiment, fov_name))
    return f"{path} ({where})" if path else where


def _bad_values_error(source: str, column: str, raw: pl.Series, bad: pl.Series, kind: str):
    rows = bad.arg_true().head(_SHOW).to_list()
    values = [raw[i] for i in rows]
    return ValueError(
        f"{source}: column {column!r} must hold {kind}; found {values!r} at data row(s) {rows} "
        f"({int(bad.sum())} bad value(s) in total). Fix the tracking table."
    )


def check_reserved_columns(columns: list[str], source: str) -> None:
    """Refuse a tracks table holding a column the cell index writes (:data:`RESERVED_COLUMNS`).

    Raises
    ------
    ValueError
        Naming the file, the columns and every reserved name.
    """
    clash = [c for c in columns if c in RESERVED_COLUMNS]
    if clash:
        raise ValueError(
            f"{source}: column(s) {clash} have names the cell index writes itself; rename them "
            f"in the tracks table (reserved: {list(RESERVED_COLUMNS)}). Other extra columns "
            "ride along into the index and the embeddings' obs."
        )


def coerce_track_columns(df: pl.DataFrame, source: str) -> pl.DataFrame:
    """Check the required columns and cast track columns to numeric dtypes.

    ``track_id, t, id, parent_track_id, parent_id`` become Int64 (integral floats and numeric
    strings are accepted); ``y, x, z`` become Float64. Missing or negative parents become -1
    (root); ``parent_track_id`` is added as -1 when absent. Other columns are untouched.

    Parameters
    ----------
    df : polars.DataFrame
        One tracking table as read.
    source : str
        File (or description) named in error messages.

    Raises
    ------
    ValueError
        If a required column is missing or a track column holds non-numeric or, for integer
        columns, non-integral values.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{source}: missing required column(s) {missing}; found {df.columns}. A tracks "
            f"table needs {list(REQUIRED_COLUMNS)} (optional: {list(OPTIONAL_COLUMNS)})."
        )
    casts = []
    for column in _INTEGER_COLUMNS + _FLOAT_COLUMNS:
        if column not in df.columns:
            continue
        raw = df[column]
        integer = column in _INTEGER_COLUMNS
        if raw.dtype == pl.String:
            as_float = raw.str.strip_chars().cast(pl.Float64, strict=False)
            bad = raw.is_not_null() & as_float.is_null()
            if bad.any():
                kind = "integers" if integer else "numbers"
                raise _bad_values_error(source, column, raw, bad, kind)
            as_int = raw.str.strip_chars().cast(pl.Int64, strict=False)
            numeric = as_int if integer and as_int.null_count() == raw.null_count() else as_float
        elif raw.dtype.is_numeric() or raw.dtype == pl.Null:
            numeric = raw
        else:
            raise ValueError(
                f"{source}: column {column!r} must be numeric, got dtype {raw.dtype} "
                f"(first values {raw.head(3).to_list()!r})."
            )
        if integer and numeric.dtype.is_float():
            finite = numeric.fill_nan(None)
            bad = finite.is_not_null() & (finite != finite.round(0))
            if bad.any():
                raise _bad_values_error(source, column, raw, bad, "integers")
            numeric = finite
        casts.append(numeric.cast(pl.Int64 if integer else pl.Float64).alias(column))
    out = df.with_columns(casts)
    for parent in ("parent_track_id", "parent_id"):
        if parent in out.columns and (out[parent].null_count() or (out[parent] < -1).any()):
            out = out.with_columns(
                pl.when(pl.col(parent) >= 0).then(pl.col(parent)).otherwise(-1).alias(parent)
            )
    if "parent_track_id" not in out.columns:
        out = out.with_columns(pl.lit(-1, dtype=pl.Int64).alias("parent_track_id"))
    return out


def check_track_values(tracks: pl.DataFrame, sources: Sources | None = None) -> None:
    """Reject missing ids, negative frames, NaN coordinates and self-parents.

    Parameters
    ----------
    tracks : polars.DataFrame
        Coerced tracks with a ``fov_name`` column (and ``experiment`` when several).
    sources : mapping, optional
        ``(experiment, fov_name) -> file`` named in messages.

    Raises
    ------
    ValueError
        Naming the file, FOV, column and the first offending tracks.
    """
    coords = [c for c in ("y", "x", "z") if c in tracks.columns]
    checks = [
        (
            "track_id",
            pl.col("track_id").is_null() | (pl.col("track_id") < 0),
            "a missing or negative track_id",
        ),
        ("t", pl.col("t").is_null() | (pl.col("t") < 0), "a missing or negative frame t"),
        *[
            (
                c,
                pl.col(c).is_null() | pl.col(c).is_nan() | pl.col(c).is_infinite(),
                f"a NaN, infinite or missing {c} coordinate",
            )
            for c in coords
        ],
        (
            "parent_track_id",
            pl.col("parent_track_id") == pl.col("track_id"),
            "a parent_track_id equal to its own track_id (a track cannot be its own parent)",
        ),
    ]
    flags = tracks.select([expr.alias(name) for name, expr, _ in checks])
    for (column, _, what), flag in zip(checks, flags.iter_columns()):
        if not flag.any():
            continue
        first = tracks.filter(flag).head(_SHOW)
        exp = first["experiment"][0] if "experiment" in first.columns else None
        shown = list(dict.fromkeys(("track_id", "t", column)))
        fov = first["fov_name"][0]
        entry = f"{exp}/{fov}" if exp is not None else fov
        raise ValueError(
            f"{locate(sources, exp, fov)}: {int(flag.sum())} row(s) with "
            f"{what}, e.g. {first.select(shown).rows()!r} as ({', '.join(shown)}). Fix the "
            f"tracking table or exclude this FOV with exclude_fovs=[{entry!r}]."
        )


def number_tracks(fov_idx, track_id, t, fov_labels, sources) -> tuple[np.ndarray, np.ndarray]:
    """Dense global track ids of rows sorted by (FOV, track, t), and each track's first row.

    Raises a ValueError naming the file for a repeated (track_id, t).
    """
    new_track = np.ones(t.size, bool)
    new_track[1:] = (fov_idx[1:] != fov_idx[:-1]) | (track_id[1:] != track_id[:-1])
    repeated = np.flatnonzero(~new_track[1:] & (t[1:] == t[:-1])) + 1
    if repeated.size:
        r = int(repeated[0])
        raise ValueError(
            f"{locate(sources, *fov_labels[fov_idx[r]])}: {repeated.size} duplicate "
            f"(track_id, t) row(s), e.g. track {int(track_id[r])} at t={int(t[r])}. Each track "
            "has at most one observation per frame."
        )
    return np.cumsum(new_track, dtype=np.int64) - 1, np.flatnonzero(new_track)


def check_frames(fovs, fov_idx, t, gid, track_tid, fov_labels, sources) -> None:
    """Raise a ValueError naming the file for observations past the store's last frame."""
    late = np.flatnonzero(t >= fovs["n_frames"].cast(pl.Int64).to_numpy()[fov_idx])
    if late.size:
        r = int(late[0])
        raise ValueError(
            f"{locate(sources, *fov_labels[fov_idx[r]])}: {late.size} observation(s) at frames "
            f"beyond the store's {int(fovs['n_frames'][int(fov_idx[r])])} frames, e.g. track "
            f"{int(track_tid[gid[r]])} at t={int(t[r])}. Tracks and images disagree."
        )
