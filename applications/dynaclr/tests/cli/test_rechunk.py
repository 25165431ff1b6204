"""``dynaclr rechunk``: a verified copy with small chunks, clear refusals, resume after a stop."""

import json
import os
import re
import signal
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import torch
import yaml

from dynaclr.cli import main
from dynaclr.cli import rechunk as rechunk_cli
from dynaclr.cli.rechunk import rechunk_main
from dynaclr.demo import write_identity_dataset
from viscy_data.readers import read_plate, tensorstore_spec
from viscy_data.rechunk import MANIFEST_NAME
from viscy_data.rechunk.pixel_copy import PAUSE_VARIABLE
from viscy_data.testing import tree_digest, write_hcs_plate

from ..identity_runs import identity_datamodule

FOVS = ("A/1/0", "A/2/0", "B/1/0")


def _plate(path: Path, version: str = "0.4") -> tuple[Path, dict[str, np.ndarray]]:
    """Three FOVs; pixel (t, c, z, y, x) of FOV i holds its flat index plus i * size."""
    shape = (2, 2, 3, 24, 20)
    size = int(np.prod(shape))
    arrays = {
        name: (np.arange(size).reshape(shape) + i * size).astype("float32")
        for i, name in enumerate(FOVS)
    }
    norm = {name: {"GFP": {"fov_statistics": {"mean": float(i)}}} for i, name in enumerate(FOVS)}
    return write_hcs_plate(
        path, arrays, ["Phase3D", "GFP"], version=version, normalization=norm
    ), arrays


def _pixels(plate: Path) -> dict[str, np.ndarray]:
    return {
        fov.fov_name: ts.open(tensorstore_spec(fov)).result().read().result()
        for fov in read_plate(plate).fovs
    }


def _one_paragraph_naming(err: str, *parts: str) -> None:
    assert err.startswith("dynaclr rechunk: error: "), err
    assert "\n\n" not in err.strip() and "Traceback" not in err
    for part in parts:
        assert part in err, f"{part!r} not in {err!r}"


def test_writes_a_verified_copy_and_prints_a_summary(tmp_path, capsys):
    src, arrays = _plate(tmp_path / "src.zarr")
    before = tree_digest(src)
    argv = [str(src), str(tmp_path / "dst.zarr"), "--chunks", "1,1,1,16,16", "--ngff-version",
            "0.5", "--num_workers", "2", "--progress"]  # fmt: skip
    assert main(["rechunk", *argv]) == 0
    out, err = capsys.readouterr()
    assert f"wrote 3 FOV(s) of {src.resolve()} to {(tmp_path / 'dst.zarr').resolve()}" in out
    assert "(NGFF 0.5); every pixel read back identical" in out
    assert "chunks (T, C, Z, Y, X): (1, 1, 1, 16, 16); shards: none" in out
    assert re.search(r"copied [\d.]+ MB of pixels in [\d.]+ s \([\d.,]+ MB/s, 2 worker", out)
    assert f"DST: {(tmp_path / 'dst.zarr').resolve()}" in out and "src.zarr" in err  # the bar
    plate = read_plate(tmp_path / "dst.zarr")
    assert plate.ngff_version == "0.5" and plate.fovs[2].normalization["GFP"]["fov_statistics"]
    assert all(np.array_equal(p, arrays[name]) for name, p in _pixels(plate.store_path).items())
    assert tree_digest(src) == before


def test_shards_compression_and_hyphen_or_underscore_options(tmp_path, capsys):
    src, arrays = _plate(tmp_path / "src.zarr", "0.5")
    argv = [str(src), str(tmp_path / "dst.zarr"), "--chunks", "1,1,-1,8,8", "--shards",
            "1,1,-1,16,-1", "--compression", "none", "--num-workers", "0",
            "--no-progress"]  # fmt: skip
    assert rechunk_main(argv) == 0
    out, err = capsys.readouterr()
    assert "chunks (T, C, Z, Y, X): (1, 1, 3, 8, 8); shards: (1, 1, 3, 16, 24)" in out
    assert "compression: none" in out and err == ""
    codecs = json.loads((tmp_path / "dst.zarr/A/1/0/0/zarr.json").read_text())["codecs"]
    assert [c["name"] for c in codecs[0]["configuration"]["codecs"]] == ["bytes"]
    assert all(np.array_equal(p, arrays[n]) for n, p in _pixels(tmp_path / "dst.zarr").items())


def test_help_documents_every_option(capsys):
    assert rechunk_main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("SRC", "DST", "--chunks", "--shards", "--ngff_version", "--compression",
                   "--overwrite", "--num_workers", "--progress", "blosc-zstd", "1,1,-1,256,256",
                   "pyramid"):  # fmt: skip
        assert option in text, option


def _finished(p: Path) -> list[str]:
    src = _plate(p / "src.zarr")[0]
    assert rechunk_main([str(src), str(p / "dst.zarr"), "--no-progress"]) == 0
    return [str(src), str(p / "dst.zarr")]


def _src(p: Path) -> str:
    return str(_plate(p / "src.zarr")[0])


@pytest.mark.parametrize(
    ("build", "parts"),
    [(lambda p: [str(p / "missing.zarr"), str(p / "dst.zarr")], ["missing.zarr", "does not exist"]),
     (lambda p: [str(p), str(p.parent / "dst.zarr")], [" is not an OME-Zarr HCS plate"]),
     (lambda p: [_src(p), str(p / "d.zarr"), "--chunks", "1,1,x"],
      ["--chunks '1,1,x'", "T,C,Z,Y,X"]),
     (lambda p: [_src(p), str(p / "d.zarr"), "--chunks", "1,1,0,8,8"], ["chunks (1, 1, 0, 8, 8)"]),
     (lambda p: [_src(p), str(p / "src.zarr" / "d.zarr")], ["src.zarr", "lies inside the source"]),
     (lambda p: [_src(p), str(p / "d.zarr"), "--shards", "1,1,1,32,32"],
      ["src.zarr", "--ngff-version 0.5"]),
     (_finished, ["dst.zarr' already exists", "--overwrite"]),
     (lambda p: [*_finished(p)[:1], str(p / "src.zarr")], ["src.zarr' is the source plate"])],
    ids=["missing-src", "not-a-plate", "chunks-not-integers", "chunks-zero", "dst-inside-src",
         "shards-on-0.4", "dst-finished", "dst-is-src"],
)  # fmt: skip
def test_bad_input_is_one_paragraph_status_2_and_changes_nothing(tmp_path, capsys, build, parts):
    argv = build(tmp_path)
    capsys.readouterr()
    before = tree_digest(tmp_path)
    assert rechunk_main(argv) == 2
    _one_paragraph_naming(capsys.readouterr().err, *parts)
    assert tree_digest(tmp_path) == before


def test_overwrite_replaces_a_finished_copy(tmp_path, capsys):
    src, dst = _finished(tmp_path)
    argv = [src, dst, "--chunks", "1,1,1,8,8", "--overwrite", "--no-progress"]
    assert rechunk_main(argv) == 0
    assert {fov.chunks for fov in read_plate(dst).fovs} == {(1, 1, 1, 8, 8)}
    assert "resumed" not in capsys.readouterr().out


def test_ctrl_c_exits_130_and_the_same_command_resumes(tmp_path, capsys, monkeypatch):
    src, arrays = _plate(tmp_path / "src.zarr")
    argv = [str(src), str(tmp_path / "dst.zarr"), "--num_workers", "1"]
    calls = []

    def interrupting_bar(description, show):
        def update(nbytes, total):
            calls.append(nbytes)
            if len(calls) == 7:  # one FOV (4 boxes) copied, the second one begun
                raise KeyboardInterrupt

        return nullcontext(), update

    monkeypatch.setattr(rechunk_cli, "byte_progress", interrupting_bar)
    assert rechunk_main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Run the same command again" in err and "dst.zarr" in err
    monkeypatch.undo()
    assert rechunk_main([*argv, "--no-progress"]) == 0
    assert "resumed: 1 FOV(s) were copied by an earlier run" in capsys.readouterr().out
    assert all(np.array_equal(p, arrays[n]) for n, p in _pixels(tmp_path / "dst.zarr").items())


def test_a_rechunked_dataset_gives_the_same_batches(tmp_path, capsys):
    source_yaml = write_identity_dataset(tmp_path / "data")
    config = yaml.safe_load(source_yaml.read_text())
    for experiment in config["experiments"]:
        plate = source_yaml.parent / experiment["data_path"]  # relative to the YAML's folder
        copy = tmp_path / "copy" / plate.name
        argv = [str(plate), str(copy), "--chunks", "1,1,1,16,16", "--ngff-version",
                "0.5", "--no-progress"]  # fmt: skip
        assert rechunk_main(argv) == 0
        experiment["data_path"] = str(copy)
    copy_yaml = source_yaml.parent / "copies.yml"  # tracks_path stays relative to this folder
    copy_yaml.write_text(yaml.safe_dump(config))
    batches = []
    for path in (source_yaml, copy_yaml):
        dm = identity_datamodule(path, num_workers=0)
        dm.setup("fit")
        loader = iter(dm.train_dataloader())
        batches.append([next(loader) for _ in range(3)])
    for ours, theirs in zip(*batches):
        assert torch.equal(ours["anchor"], theirs["anchor"])
        assert torch.equal(ours["positive"], theirs["positive"])


@pytest.mark.slow
def test_a_killed_command_resumes_to_identical_pixels(tmp_path):
    """SIGKILL mid-copy (a test-only pause after 6 boxes: FOV A/1/0 done, A/2/0 begun)."""
    src, arrays = _plate(tmp_path / "src.zarr")
    before = tree_digest(src)
    dst = tmp_path / "dst.zarr"
    command = [sys.executable, "-m", "dynaclr.cli", "rechunk", str(src), str(dst),
               "--num_workers", "1", "--no-progress"]  # fmt: skip
    env = {**os.environ, PAUSE_VARIABLE: "6"}
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stderr.readline()
        assert "paused after 6 boxes" in line, line + child.stderr.read()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert list(json.loads((dst / MANIFEST_NAME).read_text())["checksums"]) == ["A/1/0"]
    assert rechunk_main([str(src), str(dst), "--no-progress"]) == 0
    assert not (dst / MANIFEST_NAME).exists()
    assert all(np.array_equal(p, arrays[n]) for n, p in _pixels(dst).items())
    assert tree_digest(src) == before
