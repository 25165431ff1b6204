"""preprocess_plate only replaces the attribute it computes, atomically, and refuses bad input."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import zarr

from viscy_data.normalization import (
    LEVELS,
    TIMEPOINT,
    compute_plate_statistics,
    plate_writer,
    preprocess_plate,
)
from viscy_data.normalization import preprocess as preprocess_module
from viscy_data.readers import fov_attributes_file, read_plate, write_fov_attribute
from viscy_data.testing import create_hcs_plate, read_only_tree

from .conftest import (
    CHANNELS,
    FOVS,
    METADATA_FILES,
    make_plate,
    metadata_without_normalization,
    plate_arrays,
    snapshot,
)

SENTINEL = {"mean": -1.0, "std": -2.0, "median": -3.0, "iqr": -4.0}
OLD = {
    "Phase": {level: SENTINEL for level in LEVELS[:2]} | {TIMEPOINT: {"0": SENTINEL}},
    "GFP": {level: SENTINEL for level in LEVELS[:2]},
    "Retired": {"fov_statistics": SENTINEL},
}


def _plate_with_old_attribute(tmp_path: Path, **kwargs) -> Path:
    path, _ = make_plate(
        tmp_path / "p.zarr", normalization=dict.fromkeys(FOVS, OLD), **kwargs
    )  # fmt: skip
    return path


@pytest.mark.parametrize(
    "layout",
    [dict(version="0.4"), dict(version="0.5", chunks=(1, 1, 2, 6, 6), shards=(1, 1, 2, 12, 12))],
    ids=["0.4", "0.5-sharded"],
)
def test_pixels_files_and_other_keys_stay_as_they_were(tmp_path, layout):
    path = _plate_with_old_attribute(tmp_path, **layout)
    fov_files = [fov_attributes_file(fov) for fov in read_plate(path).fovs]
    fov_files[1].chmod(0o640)  # the replaced file keeps its permissions
    modes = [stat.S_IMODE(f.stat().st_mode) for f in fov_files]
    before = snapshot(path)
    others = {
        name: metadata_without_normalization(path / name)
        for name in before
        if Path(name).name in METADATA_FILES
    }
    preprocess_plate(path, num_workers=2)
    after = snapshot(path)
    assert list(after) == list(before), "a file was added or removed under the plate"
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {str(f.relative_to(path)) for f in fov_files}
    for name, document in others.items():
        now = metadata_without_normalization(path / name)
        assert now == document and list(now) == list(document)
    assert [stat.S_IMODE(f.stat().st_mode) for f in fov_files] == modes


def test_selected_channels_and_levels_replace_only_their_entries(tmp_path):
    path = _plate_with_old_attribute(tmp_path)
    preprocess_plate(path, channels=["GFP"], levels=["fov_statistics", TIMEPOINT])
    for fov in read_plate(path).fovs:
        norm = fov.normalization
        assert norm["Phase"] == OLD["Phase"] and norm["Retired"] == OLD["Retired"]
        assert norm["GFP"]["dataset_statistics"] == SENTINEL
        assert norm["GFP"]["fov_statistics"] != SENTINEL
        assert sorted(norm["GFP"][TIMEPOINT]) == ["0", "1", "2"]


def _new_attributes(tmp_path: Path) -> dict:
    clean = _plate_with_old_attribute(tmp_path / "clean")
    preprocess_plate(clean)
    return {fov.fov_name: fov.normalization for fov in read_plate(clean).fovs}


def test_failure_while_writing_leaves_each_fov_old_or_complete_new(tmp_path, monkeypatch):
    new = _new_attributes(tmp_path)
    path = _plate_with_old_attribute(tmp_path)
    files = list(snapshot(path))
    calls = []

    def fail_on_second(fov, name, value):
        calls.append(fov.fov_name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as Ctrl-C would, between two FOVs
        return write_fov_attribute(fov, name, value)

    monkeypatch.setattr(plate_writer, "write_fov_attribute", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        preprocess_plate(path)
    got = {fov.fov_name: fov.normalization for fov in read_plate(path).fovs}
    assert got == {FOVS[0]: new[FOVS[0]], FOVS[1]: OLD, FOVS[2]: OLD}
    assert list(snapshot(path)) == files


def test_failure_inside_the_atomic_replace_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = _plate_with_old_attribute(tmp_path, version="0.5")
    before = snapshot(path)
    real_replace, calls = os.replace, []

    def replace_fails_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_fails_second)
    with pytest.raises(OSError, match="No space left"):
        preprocess_plate(path)
    after = snapshot(path)
    assert list(after) == list(before)
    states = [fov.normalization == OLD for fov in read_plate(path).fovs]
    assert states == [False, True, True]


def test_failure_while_computing_writes_nothing(tmp_path, monkeypatch):
    path = _plate_with_old_attribute(tmp_path)
    before = snapshot(path)
    real, calls = preprocess_module.block_statistics, []

    def fail_late(*args):
        calls.append(1)
        if len(calls) == 8:
            raise MemoryError("injected")
        return real(*args)

    monkeypatch.setattr(preprocess_module, "block_statistics", fail_late)
    with pytest.raises(MemoryError):
        preprocess_plate(path, num_workers=2)
    assert snapshot(path) == before


def _empty_fov(tmp_path: Path) -> Path:
    arrays = create_hcs_plate(
        tmp_path / "p.zarr", {"A/1/0": (2, 2, 1, 8, 8), "A/1/1": (0, 2, 1, 8, 8)}, CHANNELS
    )
    arrays["A/1/0"][...] = 1.0
    return tmp_path / "p.zarr"


def _nan_pixels(tmp_path: Path) -> Path:
    arrays = plate_arrays()
    arrays["A/1/1"][2, 1, 0, 3, 4] = np.nan
    return make_plate(tmp_path / "p.zarr", arrays)[0]


def _corrupted_chunk(tmp_path: Path) -> Path:
    path, _ = make_plate(tmp_path / "p.zarr", version="0.5")
    (path / "B" / "2" / "0" / "0" / "c" / "1" / "1" / "0" / "0" / "0").write_bytes(b"garbage")
    return path


def _plain_folder(tmp_path: Path) -> Path:
    (tmp_path / "notes").mkdir()
    return tmp_path / "notes"


def _plain_file(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("hello")
    return tmp_path / "notes.txt"


BAD = {
    "missing-path": (
        lambda p: p / "nope.zarr", {}, FileNotFoundError, r"nope\.zarr' does not exist",
    ),
    "not-a-plate": (_plain_folder, {}, ValueError, r"notes' is not an OME-Zarr HCS plate"),
    "a-file": (
        _plain_file, {}, ValueError, r"notes\.txt' is not an OME-Zarr HCS plate: it is a file",
    ),
    "unknown-channel": (
        lambda p: make_plate(p / "p.zarr")[0], {"channels": ["GPF"]}, ValueError,
        r"p\.zarr: channels \['GPF'\] are not in this plate; its channels: \['Phase', 'GFP'\]"
        r"\. 'GPF': did you mean 'GFP'\?",
    ),
    "unknown-level": (
        lambda p: make_plate(p / "p.zarr")[0], {"levels": ["fov"]}, ValueError,
        r"levels \['fov'\] are not normalization levels; valid levels: \['dataset_statistics'",
    ),
    "empty-fov": (_empty_fov, {}, ValueError, r"p\.zarr: FOV 'A/1/1' is empty: array shape \(0, 2"),
    "nan-pixels": (
        _nan_pixels, {}, ValueError,
        r"p\.zarr: FOV 'A/1/1': channel 'GFP' at frame t=2 holds NaN or infinite pixels",
    ),
    "corrupted-chunk": (
        _corrupted_chunk, {}, ValueError,
        r"p\.zarr: FOV 'B/2/0': cannot read frame\(s\) t=1 of channel\(s\) \['GFP'\]: .*"
        r"ZSTD_decompressStream\(\) failed",
    ),
    "negative-workers": (
        lambda p: make_plate(p / "p.zarr")[0], {"num_workers": -1}, ValueError,
        r"num_workers must be >= 0",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_clear_error_and_changes_nothing(tmp_path, case):
    build, kwargs, error, match = BAD[case]
    path = build(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(error, match=match):
        preprocess_plate(path, **kwargs)
    assert snapshot(tmp_path) == before


def test_read_only_plate_is_refused_before_reading(tmp_path):
    path = _plate_with_old_attribute(tmp_path)
    with read_only_tree(path) as read_only:
        if not read_only:
            pytest.skip("cannot make a folder read-only for this user here")
        with pytest.raises(
            PermissionError, match=r"p\.zarr: FOV 'A/1/0': cannot write its metadata"
        ):
            preprocess_plate(path)
        stats = compute_plate_statistics(path)  # computing alone only reads
    assert set(stats.attributes) == set(FOVS)


def test_attribute_writer_keeps_other_keys_and_refuses_urls(tmp_path):
    path, _ = make_plate(tmp_path / "p.zarr", version="0.5")
    fov = read_plate(path).fovs[0]
    before = json.loads(fov_attributes_file(fov).read_text())
    write_fov_attribute(fov, "normalization", {"GFP": {}})
    after = json.loads(fov_attributes_file(fov).read_text())
    assert after["attributes"].pop("normalization") == {"GFP": {}}
    assert after == before
    assert zarr.open_group(path / fov.fov_name, mode="r").attrs["normalization"] == {"GFP": {}}
    url = type(fov)(**{**fov.__dict__, "store_path": "https://example.org/p.zarr"})
    with pytest.raises(ValueError, match="only be written to a local plate"):
        write_fov_attribute(url, "normalization", {})
