"""Reading and validating tracking tables: layouts, columns, types and values."""

from pathlib import Path

import polars as pl
import pytest

from dynaclr.cell_index.track_values import check_track_values, coerce_track_columns
from dynaclr.cell_index.tracks import (
    find_fov_tracks_file,
    read_experiment_tracks,
    read_tracks_file,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_reads_ultrack_style_csv_with_empty_parents_and_extra_columns(tmp_path):
    path = write(
        tmp_path / "A/1/0/tracks.csv",
        "track_id,t,id,parent_track_id,parent_id,z,y,x,infected\n"
        "1,0,10,,,0,5.5,6.5,0\n"
        "2,1,11,1,10,0,5.0,6.0,1\n"
        "3,1,12,-1,-1,0,7.0,8.0,1\n",
    )
    df = read_tracks_file(path)
    assert df["parent_track_id"].to_list() == [-1, 1, -1]  # empty -> root (-1)
    assert df["parent_id"].to_list() == [-1, 10, -1]
    assert df.schema["track_id"] == pl.Int64 and df.schema["y"] == pl.Float64
    assert df["infected"].to_list() == [0, 1, 1]  # extra column kept


def test_parent_column_is_added_when_absent():
    df = coerce_track_columns(
        pl.DataFrame({"track_id": [1], "t": [0], "y": [1.0], "x": [2.0]}), "s"
    )
    assert df["parent_track_id"].to_list() == [-1]


def test_integral_floats_and_numeric_strings_are_accepted():
    df = pl.DataFrame({"track_id": [1.0, 2.0], "t": [" 3", "4"], "y": ["1.5", "2"], "x": [1, 2]})
    out = coerce_track_columns(df, "s")
    assert out["track_id"].to_list() == [1, 2] and out["t"].to_list() == [3, 4]
    assert out["y"].to_list() == [1.5, 2.0] and out.schema["x"] == pl.Float64


def test_missing_required_column_names_file_and_columns(tmp_path):
    path = write(tmp_path / "t.csv", "track_id,t,y\n1,0,2.0\n")
    with pytest.raises(ValueError, match=r"t\.csv: missing required column\(s\) \['x'\]"):
        read_tracks_file(path)


def test_non_numeric_value_names_file_column_value_and_row(tmp_path):
    path = write(tmp_path / "t.csv", "track_id,t,y,x\n1,0,2.0,3.0\n1,one,2.0,3.0\n")
    with pytest.raises(
        ValueError,
        match=r"t\.csv: column 't' must hold integers; found \['one'\] at data row\(s\) \[1\]",
    ):
        read_tracks_file(path)


def test_fractional_track_id_is_rejected():
    df = pl.DataFrame({"track_id": [1.5], "t": [0], "y": [1.0], "x": [1.0]})
    with pytest.raises(ValueError, match=r"column 'track_id' must hold integers; found \[1.5\]"):
        coerce_track_columns(df, "file.csv")


def test_boolean_coordinate_column_is_rejected():
    df = pl.DataFrame({"track_id": [1], "t": [0], "y": [True], "x": [1.0]})
    with pytest.raises(
        ValueError, match=r"file.csv: column 'y' must be numeric, got dtype Boolean"
    ):
        coerce_track_columns(df, "file.csv")


def test_unreadable_file_is_a_value_error_naming_it(tmp_path):
    path = write(tmp_path / "empty.csv", "")
    with pytest.raises(ValueError, match=r"empty\.csv: cannot read tracks table"):
        read_tracks_file(path)


def coerced(**columns) -> pl.DataFrame:
    base = {"fov_name": ["A/1/0", "A/1/0"], "track_id": [1, 2], "t": [0, 1], "y": [1.0, 2.0],
            "x": [1.0, 2.0]}  # fmt: skip
    base.update(columns)
    return coerce_track_columns(pl.DataFrame(base), "s")


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        (
            {"y": [1.0, float("nan")]},
            r"1 row\(s\) with a NaN, infinite or missing y coordinate, e\.g\. \[\(2, 1, nan\)\]",
        ),
        ({"x": [None, 2.0]}, r"missing x coordinate"),
        ({"x": [float("inf"), 2.0]}, r"infinite or missing x coordinate"),
        ({"t": [0, -3]}, r"a missing or negative frame t"),
        ({"track_id": [None, 2]}, r"a missing or negative track_id"),
        ({"parent_track_id": [1, -1]}, r"parent_track_id equal to its own track_id"),
    ],
)
def test_bad_values_name_the_file_and_rows(columns, match):
    sources = {(None, "A/1/0"): "/data/A/1/0/tracks.csv"}
    with pytest.raises(ValueError, match=r"/data/A/1/0/tracks\.csv \(FOV 'A/1/0'\): .*" + match):
        check_track_values(coerced(**columns), sources)


def test_folder_layout_needs_exactly_one_csv(tmp_path):
    write(tmp_path / "A/1/0/tracks.csv", "track_id,t,y,x\n1,0,1,1\n")
    write(tmp_path / "A/1/0/notes.txt", "not a table")
    assert find_fov_tracks_file(tmp_path, "A/1/0").name == "tracks.csv"
    write(tmp_path / "A/1/0/tracks_old.csv", "track_id,t,y,x\n")
    with pytest.raises(
        ValueError, match=r"A/1/0 holds 2 CSV files \['tracks.csv', 'tracks_old.csv'\]"
    ):
        find_fov_tracks_file(tmp_path, "A/1/0")


def test_missing_folder_or_csv_is_file_not_found(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"No tracks folder for FOV 'B/2/0': .*B/2/0 does not exist.*exclude_fovs=\['B/2/0'\]",
    ):
        find_fov_tracks_file(tmp_path, "B/2/0")
    (tmp_path / "B/2/1").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"No tracks CSV in .*B/2/1"):
        find_fov_tracks_file(tmp_path, "B/2/1")


def test_read_experiment_folders_tags_fov_and_sources(tmp_path):
    write(tmp_path / "A/1/0/a.csv", "track_id,t,y,x\n1,0,1,1\n1,1,1,1\n")
    write(tmp_path / "A/2/0/b.csv", "track_id,t,y,x,z\n7,0,1,1,0\n")
    df, sources = read_experiment_tracks(tmp_path, ["A/1/0", "A/2/0"])
    assert df["fov_name"].cast(pl.String).to_list() == ["A/1/0", "A/1/0", "A/2/0"]
    assert df.schema["fov_name"] == pl.Categorical
    assert df["z"].to_list() == [None, None, 0.0]
    assert sources == {
        "A/1/0": str(tmp_path / "A/1/0/a.csv"),
        "A/2/0": str(tmp_path / "A/2/0/b.csv"),
    }


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_single_table_layout(tmp_path, suffix):
    table = pl.DataFrame({"fov_name": ["/A/1/0", "A/2/0", "B/1/0"], "track_id": [1, 2, 3],
                          "t": [0, 0, 0], "y": [1.0, 1.0, 1.0], "x": [1.0, 1.0, 1.0]})  # fmt: skip
    path = tmp_path / f"tracks.{suffix}"
    table.write_csv(path) if suffix == "csv" else table.write_parquet(path)
    plate = ["A/1/0", "A/2/0", "B/1/0"]
    df, sources = read_experiment_tracks(path, ["A/1/0", "A/2/0"], plate)
    assert df["fov_name"].cast(pl.String).to_list() == ["A/1/0", "A/2/0"]  # leading / stripped
    assert set(sources.values()) == {str(path)}
    with pytest.raises(FileNotFoundError, match=r"no tracks for FOV\(s\) \['C/1/0'\]"):
        read_experiment_tracks(path, ["C/1/0"], [*plate, "C/1/0"])
    with pytest.raises(
        ValueError, match=r"fov_name value\(s\) \['B/1/0'\] are not FOVs of the plate"
    ):
        read_experiment_tracks(path, ["A/1/0"], ["A/1/0", "A/2/0"])


def test_single_table_without_fov_name_column(tmp_path):
    path = write(tmp_path / "tracks.csv", "track_id,t,y,x\n1,0,1,1\n")
    with pytest.raises(
        ValueError, match=r"tracks\.csv: a single tracks table needs a 'fov_name' column"
    ):
        read_experiment_tracks(path, ["A/1/0"])


def test_unsupported_single_file_is_rejected(tmp_path):
    path = write(tmp_path / "tracks.json", "{}")
    with pytest.raises(ValueError, match=r"tracks\.json' is a file but not"):
        read_experiment_tracks(path, ["A/1/0"])
