"""Read and validate cell tracking tables.

Two layouts are accepted for one experiment:

- per FOV: ``tracks_path/<row>/<col>/<fov>/`` holds exactly one ``*.csv``;
- one table: ``tracks_path`` is a ``.csv`` or ``.parquet`` file with a ``fov_name`` column.

Columns ``track_id, t, y, x`` are required; ``id, parent_track_id, parent_id, z`` are
optional (a root's parent is -1 or empty). Other columns are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "check_track_values",
    "coerce_track_columns",
    "find_fov_tracks_file",
    "locate",
    "read_experiment_tracks",
    "read_tracks_file",
]

REQUIRED_COLUMNS = ("track_id", "t", "y", "x")
OPTIONAL_COLUMNS = ("id", "parent_track_id", "parent_id", "z")
_INTEGER_COLUMNS = ("track_id", "t", "id", "parent_track_id", "parent_id")
_FLOAT_COLUMNS = ("y", "x", "z")
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
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
        raise ValueError(
            f"{locate(sources, exp, first['fov_name'][0])}: {int(flag.sum())} row(s) with "
            f"{what}, e.g. {first.select(shown).rows()!r} as ({', '.join(shown)}). Fix the "
            "tracking table or exclude this FOV with exclude_fovs."
        )


def find_fov_tracks_file(tracks_path: str | Path, fov_name: str) -> Path:
    """Return the single CSV in ``tracks_path/<fov_name>/``.

    Raises
    ------
    FileNotFoundError
        If the folder is missing or holds no ``*.csv``.
    ValueError
        If the folder holds more than one ``*.csv``.
    """
    folder = Path(tracks_path) / fov_name
    hint = f"or exclude the FOV with exclude_fovs=[{fov_name!r}]"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No tracks folder for FOV {fov_name!r}: {folder} does not exist. Put one tracks "
            f"CSV in tracks_path/row/col/fov/, {hint}."
        )
    csvs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if not csvs:
        raise FileNotFoundError(f"No tracks CSV in {folder} (FOV {fov_name!r}); add one, {hint}.")
    if len(csvs) > 1:
        raise ValueError(
            f"{folder} holds {len(csvs)} CSV files {[p.name for p in csvs]}; expected exactly "
            f"one tracks CSV per FOV. Move the extra files away, {hint}."
        )
    return csvs[0]


def read_tracks_file(path: str | Path) -> pl.DataFrame:
    """Read one CSV or Parquet tracking table and coerce its track columns.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be parsed, or see :func:`coerce_track_columns`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Tracks file {path} does not exist.")
    try:
        if path.suffix.lower() == ".csv":
            df = pl.read_csv(path, infer_schema_length=None)
        else:
            df = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise ValueError(
            f"{path}: cannot read tracks table ({type(err).__name__}: {err})."
        ) from err
    return coerce_track_columns(df, str(path))


def read_experiment_tracks(
    tracks_path: str | Path,
    fov_names: Sequence[str],
    plate_fov_names: Sequence[str] | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Read the tracks of the given FOVs of one experiment, in either layout.

    Parameters
    ----------
    tracks_path : str or Path
        Folder of per-FOV CSVs, or one ``.csv``/``.parquet`` table with a ``fov_name`` column.
    fov_names : sequence of str
        FOVs to read (``"A/1/0"``).
    plate_fov_names : sequence of str, optional
        Every FOV of the plate; rows of a table naming other FOVs are an error.

    Returns
    -------
    tracks : polars.DataFrame
        Coerced tracks with a Categorical ``fov_name`` column.
    sources : dict
        ``fov_name -> file`` each FOV was read from.

    Raises
    ------
    FileNotFoundError, ValueError
        Naming the path: missing or ambiguous files, a table without ``fov_name``, FOVs
        missing from a table or unknown to the plate, bad columns (see
        :func:`coerce_track_columns`).
    """
    tracks_path = Path(tracks_path)
    if tracks_path.is_file() and tracks_path.suffix.lower() in _TABLE_SUFFIXES:
        return _read_table(tracks_path, fov_names, plate_fov_names)
    if tracks_path.is_file():
        raise ValueError(
            f"tracks_path {str(tracks_path)!r} is a file but not {list(_TABLE_SUFFIXES)}; give a "
            "folder of per-FOV CSVs or one CSV/Parquet table with a fov_name column."
        )
    frames, sources = [], {}
    for fov_name in fov_names:
        path = find_fov_tracks_file(tracks_path, fov_name)
        sources[fov_name] = str(path)
        df = read_tracks_file(path).drop("fov_name", strict=False)
        frames.append(df.with_columns(pl.lit(fov_name, dtype=pl.Categorical).alias("fov_name")))
    if not frames:
        return coerce_track_columns(_empty(), str(tracks_path)), sources
    return pl.concat(frames, how="diagonal_relaxed"), sources


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        {c: [] for c in REQUIRED_COLUMNS}, schema={c: pl.Int64 for c in REQUIRED_COLUMNS}
    ).with_columns(pl.lit(None, dtype=pl.Categorical).alias("fov_name"))


def _read_table(
    path: Path, fov_names: Sequence[str], plate_fov_names: Sequence[str] | None
) -> tuple[pl.DataFrame, dict[str, str]]:
    df = read_tracks_file(path)
    if "fov_name" not in df.columns:
        raise ValueError(
            f"{path}: a single tracks table needs a 'fov_name' column (e.g. 'A/1/0'); "
            f"found {df.columns}."
        )
    df = df.with_columns(pl.col("fov_name").cast(pl.String).str.strip_chars("/"))
    present = set(df["fov_name"].unique().drop_nulls().to_list())
    if df["fov_name"].null_count():
        raise ValueError(f"{path}: {df['fov_name'].null_count()} row(s) have no fov_name.")
    if plate_fov_names is not None:
        unknown = sorted(present - set(plate_fov_names))
        if unknown:
            raise ValueError(
                f"{path}: fov_name value(s) {unknown[:_SHOW]!r} are not FOVs of the plate; "
                f"plate FOVs are {sorted(plate_fov_names)[:10]!r}."
            )
    absent = [f for f in fov_names if f not in present]
    if absent:
        raise FileNotFoundError(
            f"{path}: no tracks for FOV(s) {absent[:_SHOW]!r}; add their rows or exclude them "
            "with exclude_fovs."
        )
    df = df.filter(pl.col("fov_name").is_in(list(fov_names)))
    df = df.with_columns(pl.col("fov_name").cast(pl.Categorical))
    return df, dict.fromkeys(fov_names, str(path))
