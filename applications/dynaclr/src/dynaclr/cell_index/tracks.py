"""Read cell tracking tables from disk (columns and values are checked in ``track_values``).

Two layouts are accepted for one experiment:

- per FOV: ``tracks_path/<row>/<col>/<fov>/`` holds exactly one tracks file, a ``*.csv`` or
  a ``*.geff`` store;
- one table: ``tracks_path`` is a ``.csv`` or ``.parquet`` file with a ``fov_name`` column,
  or a geff store whose nodes carry a ``fov_name`` property.

A geff store becomes a table through
:func:`dynaclr.cell_index.geff_tracks.read_geff_tracks` (tracks split at divisions, merges
refused). See :mod:`dynaclr.cell_index.track_values` for the columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from dynaclr.cell_index.geff_tracks import FOV_PROPERTY, is_geff_store, read_geff_tracks
from dynaclr.cell_index.track_values import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    Sources,
    check_reserved_columns,
    check_track_values,
    coerce_track_columns,
    locate,
)

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Sources",
    "check_track_values",
    "coerce_track_columns",
    "find_fov_tracks_file",
    "locate",
    "read_experiment_tracks",
    "read_tracks_file",
]

_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
_GEFF_SUFFIX = ".geff"
_SHOW = 5  # rows or names quoted in an error message


def find_fov_tracks_file(
    tracks_path: str | Path, fov_name: str, experiment: str | None = None
) -> Path:
    """Return the one tracks file (``*.csv`` or ``*.geff`` store) in ``tracks_path/<fov_name>/``.

    ``experiment`` qualifies the ``exclude_fovs`` entry the messages suggest
    (``"experiment/A/1/0"`` leaves out that FOV of that experiment only).

    Raises
    ------
    FileNotFoundError
        If the folder is missing or holds neither a ``*.csv`` nor a ``*.geff`` store.
    ValueError
        If the folder holds more than one of them.
    """
    folder = Path(tracks_path) / fov_name
    qualified = f"{experiment}/{fov_name}" if experiment else fov_name
    hint = f"or exclude the FOV with exclude_fovs=[{qualified!r}]"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No tracks folder for FOV {fov_name!r}: {folder} does not exist. Put one tracks "
            f"CSV or *.geff store in tracks_path/row/col/fov/, {hint}."
        )
    found = sorted(
        p
        for p in folder.iterdir()
        if (p.is_file() and p.suffix.lower() == ".csv")
        or (p.is_dir() and p.suffix.lower() == _GEFF_SUFFIX)
    )
    if not found:
        raise FileNotFoundError(
            f"No tracks CSV in {folder} (FOV {fov_name!r}), nor a *.geff store; add one, {hint}."
        )
    if len(found) > 1:
        kind = "CSV files" if all(p.suffix.lower() == ".csv" for p in found) else "tracks files"
        raise ValueError(
            f"{folder} holds {len(found)} {kind} {[p.name for p in found]}; expected exactly "
            f"one tracks CSV or *.geff store per FOV. Move the extra files away, {hint}."
        )
    return found[0]


def read_tracks_file(path: str | Path) -> pl.DataFrame:
    """Read one CSV, Parquet or geff tracking table and coerce its track columns.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be parsed, holds a column of
        :data:`~dynaclr.cell_index.track_values.RESERVED_COLUMNS`, or see
        :func:`coerce_track_columns` and
        :func:`~dynaclr.cell_index.geff_tracks.read_geff_tracks`.
    """
    path = Path(path)
    if path.is_dir() and (path.suffix.lower() == _GEFF_SUFFIX or is_geff_store(path)):
        df = read_geff_tracks(path)
        check_reserved_columns(df.columns, str(path))
        return coerce_track_columns(df, str(path))
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
    check_reserved_columns(df.columns, str(path))
    return coerce_track_columns(df, str(path))


def read_experiment_tracks(
    tracks_path: str | Path,
    fov_names: Sequence[str],
    plate_fov_names: Sequence[str] | None = None,
    experiment: str | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Read the tracks of the given FOVs of one experiment, in either layout.

    Parameters
    ----------
    tracks_path : str or Path
        Folder of per-FOV CSVs or ``*.geff`` stores, or one ``.csv``/``.parquet`` table with a
        ``fov_name`` column, or one geff store with a ``fov_name`` node property.
    fov_names : sequence of str
        FOVs to read (``"A/1/0"``).
    plate_fov_names : sequence of str, optional
        Every FOV of the plate; rows of a table naming other FOVs are an error.
    experiment : str, optional
        The experiment's name, for the ``exclude_fovs`` entries the messages suggest.

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
        return _read_table(tracks_path, fov_names, plate_fov_names, experiment)
    if tracks_path.is_file():
        raise ValueError(
            f"tracks_path {str(tracks_path)!r} is a file but not {list(_TABLE_SUFFIXES)}; give a "
            "folder of per-FOV tracks files, one CSV/Parquet table with a fov_name column or "
            "one geff store with a fov_name node property."
        )
    if tracks_path.suffix.lower() == _GEFF_SUFFIX or is_geff_store(tracks_path):
        return _read_table(tracks_path, fov_names, plate_fov_names, experiment)
    frames, sources = [], {}
    for fov_name in fov_names:
        path = find_fov_tracks_file(tracks_path, fov_name, experiment)
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
    path: Path,
    fov_names: Sequence[str],
    plate_fov_names: Sequence[str] | None,
    experiment: str | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    df = read_tracks_file(path)
    if "fov_name" not in df.columns:
        if path.is_dir():
            raise ValueError(
                f"{path}: a geff store given as the whole experiment's tracks_path needs a "
                f"{FOV_PROPERTY!r} node property (e.g. 'A/1/0'); found columns {df.columns}. "
                "Add the property, or put one store per FOV at tracks_path/row/col/fov/*.geff."
            )
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
        entries = [f"{experiment}/{f}" if experiment else f for f in absent[:_SHOW]]
        raise FileNotFoundError(
            f"{path}: no tracks for FOV(s) {absent[:_SHOW]!r}; add their rows or exclude them "
            f"with exclude_fovs={entries!r}."
        )
    df = df.filter(pl.col("fov_name").is_in(list(fov_names)))
    df = df.with_columns(pl.col("fov_name").cast(pl.Categorical))
    return df, dict.fromkeys(fov_names, str(path))
