"""Bad CTC inputs: each error names the path and what is wrong, before anything is written."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from dynaclr.importers import import_ctc
from dynaclr.importers.ctc_lineage import read_lineage_file

from .ctc_data import write_irregular, write_simple


def run(seq, tmp_path: Path, **kwargs):
    kwargs.setdefault("interval_minutes", 30)
    return import_ctc(seq, tmp_path / "out" / "ctc.zarr", **kwargs)


def assert_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("3 1 x 0", "line 3: expected four non-negative integers 'L B E P'; got '3 1 x 0'"),
        ("3 1 4", "line 3: expected four non-negative integers 'L B E P'; got '3 1 4'"),
        ("3 -1 4 0", "line 3: expected four non-negative integers"),
        ("0 1 4 0", "line 3: label L must be > 0 (0 is the background)"),
        ("3 4 1 0", "line 3: end frame E=1 is before begin frame B=4"),
        ("3 1 4 3", "line 3: track 3 is its own parent"),
        ("1 1 4 0", "label 1 is listed twice, on lines [1, 3]"),
    ],
)
def test_malformed_lineage_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "man_track.txt"
    path.write_text(f"1 0 2 0\n\n{line}\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, {message}" if "line 3" in message
                                                   else f"{path}: {message}")):  # fmt: skip
        read_lineage_file(path)


def test_parent_cycles_are_refused(tmp_path):
    path = tmp_path / "man_track.txt"
    path.write_text("1 0 2 3\n2 3 4 1\n3 5 6 2\n4 0 6 0\n")
    with pytest.raises(ValueError, match=r"parent labels form a cycle \(labels \[1, 2, 3\]"):
        read_lineage_file(path)
    path.write_text("")
    assert read_lineage_file(path).shape == (0, 4)


def test_layout_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CTC sequence folder '.*/01' does not exist"):
        run(tmp_path / "01", tmp_path)
    (tmp_path / "01").mkdir()
    with pytest.raises(FileNotFoundError, match=r"/01: no images named tTTT\.tif"):
        run(tmp_path / "01", tmp_path)
    shutil.rmtree(tmp_path / "01")
    seq = write_irregular(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no tracking folder; expected .*/01_RES \("):
        run(seq, tmp_path, source="res")
    shutil.rmtree(tmp_path / "01_GT")
    with pytest.raises(FileNotFoundError, match=r"expected .*01_GT/TRA or .*01_RES"):
        run(seq, tmp_path)
    (tmp_path / "01_GT/TRA").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"TRA: no label masks named man_trackTTT\.tif"):
        run(seq, tmp_path)
    assert_nothing_written(tmp_path)


def test_tracking_folder_errors(tmp_path):
    seq = write_irregular(tmp_path)
    tra = tmp_path / "01_GT/TRA"
    (tra / "man_track.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"TRA: no lineage file man_track\.txt beside"):
        run(seq, tmp_path)
    shutil.copy(tra / "man_track000.tif", tra / "mask000.tif")
    with pytest.raises(ValueError, match=r"holds both man_trackTTT\.tif and maskTTT\.tif"):
        run(seq, tmp_path)
    (tra / "mask000.tif").rename(tra / "man_track007.tif")
    (tra / "man_track.txt").write_text("1 0 2 0\n")
    with pytest.raises(ValueError, match=r"masks of frame\(s\) \[7\] have no image in"):
        run(seq, tmp_path)
    (tra / "man_track007.tif").rename(tra / "man_track0001.tif")
    with pytest.raises(ValueError, match=r"frame 1 has two mask files, 'man_track0001\.tif' and "
                       r"'man_track001\.tif'; keep one"):  # fmt: skip
        run(seq, tmp_path)
    assert_nothing_written(tmp_path)


def test_image_frame_holes_are_refused(tmp_path):
    seq = write_irregular(tmp_path)
    (seq / "t002.tif").unlink()
    with pytest.raises(ValueError, match=r"/01: images of frame\(s\) \[2\] are missing"):
        run(seq, tmp_path)


def bad_shape(seq: Path) -> None:
    tifffile.imwrite(seq / "t003.tif", np.zeros((64, 60), np.uint16))


def bad_dtype(seq: Path) -> None:
    tifffile.imwrite(seq / "t003.tif", np.zeros((64, 64), np.uint8))


def bad_mask_shape(seq: Path) -> None:
    tifffile.imwrite(seq.parent / "01_GT/TRA/man_track003.tif", np.zeros((32, 32), np.uint16))


def float_mask(seq: Path) -> None:
    tifffile.imwrite(seq.parent / "01_GT/TRA/man_track003.tif", np.zeros((64, 64), np.float32))


def negative_mask(seq: Path) -> None:
    tifffile.imwrite(seq.parent / "01_GT/TRA/man_track003.tif", np.full((64, 64), -1, np.int16))


def garbage_frame(seq: Path) -> None:
    (seq / "t003.tif").write_bytes(b"not a tiff")


def garbage_first_frame(seq: Path) -> None:
    (seq / "t000.tif").write_bytes(b"not a tiff")


def four_d_image(seq: Path) -> None:
    tifffile.imwrite(seq / "t000.tif", np.zeros((2, 2, 8, 8), np.uint16))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (bad_shape, r"t003\.tif: image is uint16 \(64, 60\), but frame 0 \(t000\.tif\) is uint16 "
                    r"\(64, 64\); every frame of a sequence has one shape and dtype"),
        (bad_dtype, r"t003\.tif: image is uint8 \(64, 64\), but frame 0"),
        (bad_mask_shape, r"man_track003\.tif: mask shape \(32, 32\) differs from its image "
                         r"t003\.tif \(64, 64\)"),
        (float_mask, r"man_track003\.tif: a label mask must be a 2-D or 3-D integer array, got "
                     r"float32"),
        (negative_mask, r"man_track003\.tif: a label mask holds negative labels \(min -1\)"),
        (garbage_frame, r"t003\.tif: cannot read TIFF \(TiffFileError"),
        (garbage_first_frame, r"t000\.tif: cannot read TIFF"),
        (four_d_image, r"t000\.tif: image shape \(2, 2, 8, 8\) is neither 2-D \(Y, X\) nor 3-D"),
    ],
)  # fmt: skip
def test_pixel_errors_name_the_file_and_leave_no_output(tmp_path, damage, message):
    seq = write_irregular(tmp_path)
    damage(seq)
    with pytest.raises(ValueError, match=message):
        run(seq, tmp_path)
    assert_nothing_written(tmp_path)


def test_sequences_of_different_dtypes_are_refused(tmp_path):
    a, b = write_irregular(tmp_path), write_simple(tmp_path, dtype="uint8")
    with pytest.raises(ValueError, match=r"sequences have different image dtypes \{.*'uint16'.*"
                       r"'uint8'\}; one plate holds one dtype"):  # fmt: skip
        run([a, b], tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval_minutes": 0}, "interval_minutes must be > 0, got 0"),
        ({"interval_minutes": float("nan")}, "interval_minutes must be a finite number"),
        ({"conditions": ["a", "b"]}, r"give one condition for every sequence or one for all; "
                                     r"got \['a', 'b'\] for 1 sequence\(s\)"),
        ({"chunks": (1, 1, 64, 64)}, r"chunks must be 5 positive integers \(T, C, Z, Y, X\)"),
        ({"tracking_dirs": ["a", "b"]}, "give one tracking folder per sequence: 2 for 1"),
        ({"channel_name": ""}, "the experiment and channel names must not be empty"),
    ],
)  # fmt: skip
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(write_irregular(tmp_path), tmp_path, **kwargs)
    with pytest.raises(ValueError, match="give at least one CTC sequence folder"):
        run([], tmp_path)


def test_overlapping_outputs_are_refused(tmp_path):
    seq = write_irregular(tmp_path)
    with pytest.raises(ValueError, match=r"outputs '.*ctc\.zarr' and '.*ctc\.zarr/t' overlap"):
        run(seq, tmp_path, tracks_out=tmp_path / "out/ctc.zarr/t")
