"""``dynaclr preprocess``: writes every plate's statistics, reproduces the demo's, clear errors."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from dynaclr.cli.preprocess import preprocess_main
from dynaclr.datamodule import MultiExperimentDataModule
from viscy_data.normalization import LEVELS, STATS, TIMEPOINT, compute_plate_statistics
from viscy_data.readers import read_plate
from viscy_data.testing import create_hcs_plate, read_only_tree, write_hcs_plate
from viscy_data.transforms import Normalize


def _plate(path: Path, version: str = "0.4", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    fovs = {
        name: (100 + rng.gamma(2.0, 10.0, (3, 2, 2, 24, 24))).astype("float32")
        for name in ("A/1/0", "A/2/0")
    }
    return write_hcs_plate(path, fovs, ["Phase3D", "GFP"], version=version)


def _one_paragraph_naming(err: str, *parts: str) -> None:
    assert err.startswith("dynaclr preprocess: error: "), err
    assert "\n\n" not in err.strip() and "Traceback" not in err
    for part in parts:
        assert part in err, f"{part!r} not in {err!r}"


def test_writes_every_plate_and_prints_a_summary(tmp_path, capsys):
    plates = [_plate(tmp_path / "p4.zarr"), _plate(tmp_path / "p5.zarr", "0.5", seed=1)]
    assert preprocess_main([*map(str, plates), "--num_workers", "2", "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "wrote 'normalization' of 4 FOV(s) in 2 plate(s)" in out
    assert f"{plates[1]}: 2 FOV(s), channels ['Phase3D', 'GFP']" in out
    assert re.search(r"read [\d.]+ MB of pixels in [\d.]+ s \([\d.,]+ MB/s, 2 worker", out)
    assert "p4.zarr" in err and "p5.zarr" in err  # one progress bar per plate
    for plate in plates:
        want = compute_plate_statistics(plate, num_workers=0).attributes
        assert {fov.fov_name: fov.normalization for fov in read_plate(plate).fovs} == want


def test_channel_and_level_options(tmp_path, capsys):
    plate = _plate(tmp_path / "p.zarr")
    argv = [str(plate), "--channels", "GFP", "--levels", "fov_statistics", "--num_workers", "0"]
    assert preprocess_main(argv) == 0
    assert "levels: fov_statistics" in capsys.readouterr().out
    for fov in read_plate(plate).fovs:
        assert list(fov.normalization) == ["GFP"]
        assert list(fov.normalization["GFP"]) == ["fov_statistics"]


def test_help_documents_every_option(capsys):
    assert preprocess_main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("PLATE", "--channels", "--levels", "--num_workers", "--sample_voxels",
                   "--dataset_sample_voxels", "--progress", *LEVELS):  # fmt: skip
        assert option in text


def _strip_normalization(root: Path) -> dict:
    old = {}
    for plate_path in sorted(root.glob("*.zarr")):
        for fov in read_plate(plate_path).fovs:
            old[(plate_path.name, fov.fov_name)] = fov.normalization
            del zarr.open_group(plate_path / fov.fov_name, mode="r+").attrs["normalization"]
    return old


def test_agrees_with_the_demo_statistics_and_feeds_the_datamodule(demo_yaml, tmp_path, capsys):
    root = tmp_path / "demo"
    shutil.copytree(demo_yaml.parent, root)
    demo = _strip_normalization(root)
    plates = sorted(str(p) for p in root.glob("*.zarr"))
    assert preprocess_main([*plates, "--num_workers", "2"]) == 0
    for plate_path in plates:
        for fov in read_plate(plate_path).fovs:
            old, new = demo[(Path(plate_path).name, fov.fov_name)], fov.normalization
            for channel, levels in old.items():
                for level in LEVELS:
                    pairs = levels[level].items() if level == TIMEPOINT else [("", levels[level])]
                    for key, want in pairs:
                        got = new[channel][level][key] if key else new[channel][level]
                        np.testing.assert_allclose(  # the demo sums float32 frame moments
                            [got["mean"], got["std"]], [want["mean"], want["std"]], rtol=2e-5
                        )
                        if level == TIMEPOINT:  # exact in both (49,152 voxels per frame)
                            assert (got["median"], got["iqr"]) == (want["median"], want["iqr"])
                        else:  # exact here; the demo samples every 2nd row and column
                            close = abs(got["median"] - want["median"]) <= 0.01 * got["iqr"]
                            assert close and abs(got["iqr"] / want["iqr"] - 1) < 0.01
    for level in LEVELS:
        dm = MultiExperimentDataModule(
            root / "experiments.yml", z_range=(0, 3), yx_patch_size=(32, 32),
            final_yx_patch_size=(24, 24), batch_size=8, num_workers=0, pin_memory=False,
            normalizations=[Normalize(level=level)],
        )  # fmt: skip
        dm.setup("fit")
        batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
        assert batch["anchor"].isfinite().all()


def _empty_fov_plate(tmp_path: Path) -> Path:
    shapes = {"A/1/0": (2, 2, 1, 8, 8), "A/1/1": (2, 2, 1, 0, 8)}
    create_hcs_plate(tmp_path / "p.zarr", shapes, ["Phase3D", "GFP"])
    return tmp_path / "p.zarr"


@pytest.mark.parametrize(
    ("build", "extra", "parts"),
    [
        (lambda p: p / "missing.zarr", [], ["missing.zarr", "does not exist"]),
        (lambda p: p, [], [" is not an OME-Zarr HCS plate"]),
        (lambda p: _plate(p / "p.zarr"), ["--channels", "RFP"],
         ["p.zarr", "channels ['RFP'] are not in this plate", "['Phase3D', 'GFP']"]),
        (lambda p: _plate(p / "p.zarr"), ["--levels", "fov"],
         ["levels ['fov'] are not normalization levels", "fov_statistics"]),
        (_empty_fov_plate, [], ["p.zarr", "FOV 'A/1/1' is empty", "(2, 2, 1, 0, 8)"]),
    ],
    ids=["missing-path", "not-a-plate", "unknown-channel", "unknown-level", "empty-fov"],
)  # fmt: skip
def test_bad_input_is_one_paragraph_and_status_2(tmp_path, capsys, build, extra, parts):
    path = build(tmp_path)
    assert preprocess_main([str(path), *extra]) == 2
    named = [] if "--levels" in extra else [str(path)]  # a level belongs to no plate
    _one_paragraph_naming(capsys.readouterr().err, *named, *parts)


def test_bad_plate_among_good_ones_stops_before_any_write(tmp_path, capsys):
    good = _plate(tmp_path / "good.zarr")
    assert preprocess_main([str(good), str(tmp_path / "missing.zarr")]) == 2
    assert all(fov.normalization is None for fov in read_plate(good).fovs)
    _one_paragraph_naming(capsys.readouterr().err, "missing.zarr")


def test_read_only_plate_is_one_paragraph(tmp_path, capsys):
    plate = _plate(tmp_path / "p.zarr")
    with read_only_tree(plate) as read_only:
        if not read_only:
            pytest.skip("cannot make a folder read-only for this user here")
        assert preprocess_main([str(plate)]) == 2
    _one_paragraph_naming(
        capsys.readouterr().err, str(plate), "FOV 'A/1/0'", "read-only plate", "chmod"
    )


def test_every_statistic_of_every_level_is_written(tmp_path, capsys):
    plate = _plate(tmp_path / "p.zarr", "0.5")
    assert preprocess_main([str(plate), "--num_workers", "1"]) == 0
    entry = read_plate(plate).fovs[0].normalization["Phase3D"]
    assert set(entry) == set(LEVELS)
    assert all(set(entry[level]) == set(STATS) for level in LEVELS[:2])
    assert [set(v) for v in entry[TIMEPOINT].values()] == [set(STATS)] * 3
