"""rechunk_plate never writes the source, refuses what it cannot finish, and resumes."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts

from viscy_data.readers import read_plate, tensorstore_spec
from viscy_data.rechunk import MANIFEST_NAME, rechunk_plate
from viscy_data.rechunk.pixel_copy import (
    PAUSE_VARIABLE,
    copy_box,
    open_fov_stores,
    pixel_contexts,
)
from viscy_data.testing import create_hcs_plate, tree_digest

from .conftest import FOVS, SHAPE, interrupt_after, make_plate, read_pixels

BOXES_PER_FOV = SHAPE[0] * SHAPE[1]  # a source chunk (one frame of one channel) per box


def _other_data(p: Path) -> tuple[Path, Path]:
    (p / "dst.zarr").mkdir()
    (p / "dst.zarr" / "notes.txt").write_text("mine")
    return make_plate(p / "src.zarr")[0], p / "dst.zarr"


def _finished(p: Path) -> tuple[Path, Path]:
    src = make_plate(p / "src.zarr")[0]
    rechunk_plate(src, p / "dst.zarr")
    return src, p / "dst.zarr"


def _unfinished_of_other_source(p: Path) -> tuple[Path, Path]:
    other = make_plate(p / "other.zarr")[0]
    interrupt_after(other, p / "dst.zarr", 2)
    return make_plate(p / "src.zarr")[0], p / "dst.zarr"


def _unfinished_with_other_chunks(p: Path) -> tuple[Path, Path]:
    src = make_plate(p / "src.zarr")[0]
    interrupt_after(src, p / "dst.zarr", 2, chunks=(1, 1, 1, 16, 16))
    return src, p / "dst.zarr"


def _a_users_plate(p: Path) -> tuple[Path, Path]:
    return make_plate(p / "src.zarr")[0], make_plate(p / "dst.zarr")[0]


def _zlib_source(p: Path) -> tuple[Path, Path]:
    shapes = {"A/1/0": (1, 2, 1, 8, 8)}
    create_hcs_plate(p / "src.zarr", shapes, ["a", "b"], compressors=[{"id": "zlib", "level": 1}])
    return p / "src.zarr", p / "dst.zarr"


def _plate(p: Path) -> tuple[Path, Path]:
    return make_plate(p / "src.zarr")[0], p / "dst.zarr"


def _a_file(p: Path) -> tuple[Path, Path]:
    (p / "src.zarr").write_text("not a plate")
    return p / "src.zarr", p / "dst.zarr"


BAD = {
    "dst-is-src": (lambda p: (_plate(p)[0],) * 2, {}, ValueError,
                   r"src\.zarr' is the source plate"),
    "dst-inside-src": (
        lambda p: (_plate(p)[0], p / "src.zarr" / "copy.zarr"), {}, ValueError,
        r"copy\.zarr' lies inside the source plate '.*src\.zarr'",
    ),
    "src-inside-dst": (lambda p: (_plate(p)[0], p), {}, ValueError,
                       r"would replace the source plate '.*src"),
    "src-missing": (lambda p: (p / "src.zarr", p / "dst.zarr"), {}, FileNotFoundError,
                    r"src\.zarr' does not exist"),
    "src-not-a-plate": (lambda p: ((p / "src.zarr").mkdir() or p / "src.zarr", p / "dst.zarr"),
                        {}, ValueError, r"src\.zarr' is not an OME-Zarr HCS plate"),
    "src-a-file": (_a_file, {}, ValueError, r"src\.zarr' is not an OME-Zarr HCS plate: it is a"),
    "chunks-zero": (_plate, {"chunks": (1, 1, 0, 8, 8)}, ValueError,
                    r"chunks \(1, 1, 0, 8, 8\): give five sizes"),
    "chunks-four": (_plate, {"chunks": (1, 8, 8, 8)}, ValueError, r"chunks \(1, 8, 8, 8\)"),
    "shards-on-0.4": (_plate, {"shards": (1, 1, -1, 64, 64)}, ValueError,
                      r"shards .* need an NGFF 0\.5 .*src\.zarr"),
    "shards-not-multiple": (
        _plate, {"chunks": (1, 1, 1, 16, 16), "shards": (1, 1, 1, 24, 32), "ngff_version": "0.5"},
        ValueError, r"FOV 'A/1/0': shards .*: the Y shard size 24 is not a multiple of the Y chunk",
    ),
    "bad-version": (_plate, {"ngff_version": "0.6"}, ValueError, r"ngff_version '0\.6'"),
    "bad-compression": (_plate, {"compression": "lz4"}, ValueError, r"compression 'lz4'"),
    "negative-workers": (_plate, {"num_workers": -1}, ValueError, r"num_workers must be >= 0"),
    "codec-without-counterpart": (_zlib_source, {"ngff_version": "0.5"}, ValueError,
                                  r"FOV 'A/1/0': the zarr v2 codec .*zlib.*'blosc-zstd'"),
    "dst-finished": (_finished, {}, FileExistsError, r"dst\.zarr' already exists"),
    "dst-other-data": (_other_data, {}, FileExistsError, r"dst\.zarr' already exists"),
    "dst-other-data-overwrite": (_other_data, {"overwrite": True}, FileExistsError,
                                 r"dst\.zarr' exists and holds nothing written by viscy"),
    "dst-plate-overwrite": (_a_users_plate, {"overwrite": True}, FileExistsError,
                            r"dst\.zarr' exists and holds nothing written by viscy, not a "
                            r"'rechunked plate'"),
    "dst-other-source": (_unfinished_of_other_source, {}, FileExistsError,
                         r"cannot resume: it copies '.*other\.zarr', this run copies '.*src"),
    "dst-other-chunks": (_unfinished_with_other_chunks, {}, FileExistsError,
                         r"chunks of FOV 'A/1/0' is \[1, 1, 1, 16, 16\], this run's \[1, 1, 3,"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_refusals_name_the_paths_and_change_nothing(tmp_path, case):
    build, kwargs, error, match = BAD[case]
    src, dst = build(tmp_path)
    before = tree_digest(tmp_path)
    with pytest.raises(error, match=match):
        rechunk_plate(src, dst, **kwargs)
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize(
    "build", [_finished, _unfinished_with_other_chunks, _unfinished_of_other_source]
)
def test_overwrite_replaces_a_copy(tmp_path, build):
    src, dst = build(tmp_path)
    summary = rechunk_plate(src, dst, overwrite=True, num_workers=1)
    assert summary.resumed == () and not (dst / MANIFEST_NAME).exists()
    assert {fov.chunks for fov in read_plate(dst).fovs} == {(1, 1, 3, 40, 36)}
    pixels, want = read_pixels(dst), read_pixels(src)
    assert all(np.array_equal(pixels[f], want[f]) for f in FOVS)


def test_an_interrupted_overwrite_keeps_the_old_copy_whole_then_finishes(tmp_path):
    src, dst = _finished(tmp_path)
    before = tree_digest(dst)
    interrupt_after(src, dst, BOXES_PER_FOV + 2, chunks=(1, 1, 1, 16, 16), overwrite=True)
    assert tree_digest(dst) == before  # the replacement is written beside it
    summary = rechunk_plate(src, dst, chunks=(1, 1, 1, 16, 16), overwrite=True)
    assert {fov.chunks for fov in read_plate(dst).fovs} == {(1, 1, 1, 16, 16)}
    assert summary.destination == dst.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.zarr", "src.zarr"]


def test_an_interrupted_copy_resumes_to_identical_pixels(tmp_path):
    src, arrays = make_plate(tmp_path / "src.zarr", "0.5")
    before = tree_digest(src)
    dst = tmp_path / "dst.zarr"
    interrupt_after(src, dst, BOXES_PER_FOV + 2, ngff_version="0.4", num_workers=2)
    manifest = json.loads((dst / MANIFEST_NAME).read_text())
    assert list(manifest["checksums"]) == ["A/1/0"] and manifest["layout_written"]
    with pytest.raises(FileExistsError, match="dst.zarr' holds an unfinished copy"):
        rechunk_plate(src, dst)  # the source's version, 0.5: not this copy
    summary = rechunk_plate(src, dst, ngff_version="0.4", num_workers=2)
    assert summary.resumed == ("A/1/0",) and not (dst / MANIFEST_NAME).exists()
    assert summary.bytes_copied == 2 * arrays["A/1/0"].nbytes
    assert summary.checksums["A/1/0"] == manifest["checksums"]["A/1/0"]
    pixels = read_pixels(dst)
    assert all(np.array_equal(pixels[f], arrays[f]) for f in FOVS)
    assert tree_digest(src) == before


_CHILD = """
import sys
from viscy_data.rechunk import rechunk_plate
rechunk_plate(sys.argv[1], sys.argv[2], chunks=(1, 1, 1, 16, 16), num_workers=1)
"""


def test_a_killed_copy_resumes_to_identical_pixels(tmp_path):
    src, arrays = make_plate(tmp_path / "src.zarr")
    before = tree_digest(src)
    dst = tmp_path / "dst.zarr"
    boxes = BOXES_PER_FOV + 3  # a box holds whole source chunks: one per frame and channel
    env = {**os.environ, PAUSE_VARIABLE: str(boxes)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(src), str(dst)], env=env, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        line = child.stderr.readline()  # the pause: FOV A/1/0 recorded, A/1/1 partly written
        assert f"paused after {boxes} boxes" in line, line + child.stderr.read()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    manifest = json.loads((dst / MANIFEST_NAME).read_text())
    assert list(manifest["checksums"]) == ["A/1/0"]
    summary = rechunk_plate(src, dst, chunks=(1, 1, 1, 16, 16))
    assert summary.resumed == ("A/1/0",) and not (dst / MANIFEST_NAME).exists()
    pixels = read_pixels(dst)
    assert all(np.array_equal(pixels[f], arrays[f]) for f in FOVS)
    assert tree_digest(src) == before


def test_pixels_read_back_different_are_an_error(tmp_path):
    src, _ = make_plate(tmp_path / "src.zarr")
    rechunk_plate(src, tmp_path / "dst.zarr")
    plate, contexts = read_plate(src), pixel_contexts(1)
    stores = [
        open_fov_stores(fov, str(tmp_path / "dst.zarr"), 2, 40, contexts) for fov in plate.fovs
    ]
    box = ((0, 1), (0, 1), (0, 3), (0, 40), (0, 36))
    digest, nbytes = copy_box(stores[0], box)
    assert nbytes == 3 * 40 * 36 * 4 and len(digest) == 32
    crossed = dataclasses.replace(stores[0], check=stores[1].check)  # reads another FOV back
    with pytest.raises(OSError, match=r"dst\.zarr: FOV 'A/1/0', box .*: rows 0\.\.39 read back"):
        copy_box(crossed, box)


def test_a_damaged_source_chunk_names_the_fov_and_leaves_a_resumable_copy(tmp_path):
    src, _ = make_plate(tmp_path / "src.zarr")
    (src / "A/1/1/0/1/0/0/0/0").write_bytes(b"not blosc")
    with pytest.raises(ValueError, match=r"src\.zarr: FOV 'A/1/1', box .*\[1, 2\], \[0, 1\]"):
        rechunk_plate(src, tmp_path / "dst.zarr", num_workers=0)
    manifest = json.loads((tmp_path / "dst.zarr" / MANIFEST_NAME).read_text())
    assert list(manifest["checksums"]) == ["A/1/0"]
    fov = read_plate(tmp_path / "dst.zarr").fovs[0]
    assert ts.open(tensorstore_spec(fov)).result().read().result().any()
