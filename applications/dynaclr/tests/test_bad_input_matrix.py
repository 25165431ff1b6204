"""The bad input matrix of ``docs/reliability.md``: one case per row, each caught before training.

Every case starts from two small valid experiments on disk (:class:`BadInputs`), breaks one
thing in the files or the configuration, then runs the step named by ``when``:

- ``setup``: ``MultiExperimentDataModule(...).setup("fit")``;
- ``init``: building the datamodule's arguments (the error comes before ``setup``);
- ``loader``: ``setup("fit")`` then ``train_dataloader()`` (still before the first batch);
- ``read``: the edit, ``setup("fit")`` (which reads no pixel), then the first training batch;
- ``cli``: ``dynaclr.cli.main(["fit", "--config", FILE])`` returns 2 with the message on stderr.

The error type and a message naming the file and the field or value are pinned with ``match``
(``{yaml}``, ``{store_a}``, ``{csv_a}``... are the escaped paths). The last test keeps the case
ids and the docs table in sync.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import yaml

from dynaclr.registry import ConfigError, MissingPathError
from viscy_data.readers import MissingChunksError, MissingChunksWarning, PatchReadError
from viscy_data.transforms import Normalize

from .bad_inputs import STATS, BadInputs, tracks_table
from .geff_data import lineage_graph, write_geff

DOCS = Path(__file__).parents[3] / "docs" / "reliability.md"


@dataclass(frozen=True)
class Case:
    id: str
    edit: Callable[[BadInputs], object]
    error: type[BaseException]
    match: str
    when: str = "setup"


def _tracks_text(header: str, *rows: str) -> Callable[[BadInputs], None]:
    return lambda b: b.write_tracks("exp_a", "A/1/0", "\n".join((header, *rows)) + "\n")


def _geff_merge(b: BadInputs) -> None:
    nodes, edges = lineage_graph()
    folder = b.tracks("exp_a") / "A/1/0"
    b.remove(b.csv("exp_a", "A/1/0"))
    write_geff(folder / "tracks.geff", nodes, edges + [(404, 205)])  # 205 gets two parents


def _csv_and_geff(b: BadInputs) -> None:
    write_geff(b.tracks("exp_a") / "A/1/0/tracks.geff", *lineage_graph())


def _zero_std(b: BadInputs) -> None:
    levels = {"fov_statistics": {**STATS, "std": 0.0}}
    b.edit_normalization("exp_a", "A/1/0", {"Phase3D": levels, "GFP": levels})


def _wrong_axes(b: BadInputs) -> None:
    import zarr

    image = zarr.open_group(b.store("exp_a") / "A/1/0", mode="r+")
    del image["0"]
    image.create_array("0", shape=(6, 2, 24, 24), dtype="float32")


def _no_multiscale_datasets(b: BadInputs) -> None:
    attrs_file = b.store("exp_a") / "A/2/0/.zattrs"
    attrs = json.loads(attrs_file.read_text())
    del attrs["multiscales"][0]["datasets"]
    attrs_file.write_text(json.dumps(attrs))


def _nan_std(b: BadInputs) -> None:
    levels = {"fov_statistics": {**STATS, "std": float("nan")}}
    b.edit_normalization("exp_a", "A/1/0", {"Phase3D": levels, "GFP": levels})


def _remove_chunks(b: BadInputs, frames=range(6)) -> None:
    """Delete the chunk files of channel 1 (GFP) at ``frames`` of exp_a's FOV A/1/0 (in every
    batch: it is the only FOV of its condition)."""
    b.kwargs["missing_chunks"] = "error"
    for t in frames:  # chunk keys t/c/z/y/x ("/" dimension separator)
        shutil.rmtree(b.store("exp_a") / f"A/1/0/0/{t}/1")


def _hcl_beta_config(b: BadInputs) -> None:
    config = {
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 1, "logger": False},
        "model": {
            "encoder": {
                "class_path": "viscy_models.ContrastiveEncoder",
                "init_args": {"backbone": "resnet18", "in_channels": 2, "in_stack_depth": 2},
            },
            "loss_function": {
                "class_path": "viscy_models.NTXentHCL",
                "init_args": {"temperature": 0.2, "beta": 0.2},
            },
        },
        "data": {"experiments_yaml": str(b.yaml), "z_range": [0, 2], "yx_patch_size": [8, 8],
                 "final_yx_patch_size": [8, 8], "hcl_beta": 0.5},
    }  # fmt: skip
    (b.root / "fit.yml").write_text(yaml.safe_dump(config))


H = "track_id,t,y,x,parent_track_id"
ROWS = [f"{k},{t},{8 * k},{8 * k},-1" for k in (1, 2) for t in range(6)]
WELLS = {"uninfected": ["A/1"], "infected": ["A/2"]}

CASES = [
    # --- experiments YAML ---------------------------------------------------------------------
    Case("yaml-missing-file", lambda b: b.yaml.unlink(), MissingPathError,
         r"experiments YAML '{yaml}' does not exist"),
    Case("yaml-not-yaml", lambda b: b.yaml.write_text("experiments: [\n  - {name: a"),
         ConfigError, r"^{yaml}: not valid YAML"),
    Case("yaml-no-experiments", lambda b: b.write_yaml({"exps": b.entries}), ConfigError,
         r"^{yaml}: top-level keys are \['exps'\]; expected only \['experiments'\]"),
    Case("yaml-unknown-key", lambda b: b.set(0, intervalminutes=30), ConfigError,
         r"^{yaml}: experiments\[0\] \('exp_a'\): unknown keys \['intervalminutes'\]\. Valid "
         r"keys: .* did you mean 'interval_minutes'\?"),
    Case("yaml-wrong-type", lambda b: b.set(1, interval_minutes="30 min"), ConfigError,
         r"^{yaml}: experiment 'exp_b': interval_minutes must be a finite number, got '30 min'"),
    Case("yaml-duplicate-name", lambda b: b.set(1, name="exp_a"), ConfigError,
         r"^{yaml}: experiment names must be unique; \['exp_a'\] appear twice"),
    Case("yaml-channels-differ-from-store",
         lambda b: b.set(1, channel_names=["Phase3D", "GFP"], source_channel=["Phase3D", "GFP"]),
         ConfigError, r"^{yaml}: experiment 'exp_b': channel_names \['Phase3D', 'GFP'\] differ "
         r"from the channels of '{store_b}': \['Phase3D', 'RFP'\]"),
    Case("yaml-source-channel-unknown", lambda b: b.set(0, source_channel=["Phase3D", "DAPI"]),
         ConfigError, r"^{yaml}: experiment 'exp_a': source_channel \['DAPI'\] not in "
         r"channel_names \['Phase3D', 'GFP'\]"),
    Case("yaml-source-channel-counts", lambda b: b.set(1, source_channel=["Phase3D"]),
         ConfigError, r"^{yaml}: every experiment needs the same number of source_channel "
         r"entries .*\{{'exp_a': 2, 'exp_b': 1\}}"),
    Case("yaml-well-in-two-conditions",
         lambda b: b.set(0, condition_wells={"uninfected": ["A/1"], "infected": ["A/2", "A/1"]}),
         ConfigError, r"^{yaml}: experiment 'exp_a': condition_wells: well 'A/1' is in both "
         r"'uninfected' and 'infected'"),
    Case("yaml-empty-condition",
         lambda b: b.set(0, condition_wells={"uninfected": ["A/1", "A/2"], "infected": []}),
         ConfigError, r"^{yaml}: experiment 'exp_a': condition_wells\['infected'\] is empty"),
    Case("yaml-interval-not-positive", lambda b: b.set(0, interval_minutes=0), ConfigError,
         r"^{yaml}: experiment 'exp_a': interval_minutes must be > 0, got 0"),
    Case("yaml-tau-range-empty", lambda b: b.set(0, interval_minutes=180.0), ConfigError,
         r"^{yaml}: experiment 'exp_a' \(interval_minutes=180\.0\): tau_range=\(0\.5, "
         r"1\.0\) holds no offset of at least one frame"),
    # --- stores -------------------------------------------------------------------------------
    Case("store-missing", lambda b: b.set(0, data_path="nope.zarr"), MissingPathError,
         r"^{yaml}: experiment 'exp_a': data_path '{root}/nope\.zarr' does not exist"),
    Case("store-not-hcs-plate",
         lambda b: b.remove(b.store("exp_a") / ".zattrs"), ConfigError,
         r"^{yaml}: experiment 'exp_a': data_path: '{store_a}' is not an OME-Zarr HCS plate: "
         r"its attributes have no 'plate' metadata"),
    Case("store-no-array-0", lambda b: b.remove(b.store("exp_a") / "A/2/0/0"), ConfigError,
         r"^{yaml}: experiment 'exp_a': data_path: {store_a}: FOV 'A/2/0' has no "
         r"full-resolution array '0'"),
    Case("store-no-multiscale-datasets", _no_multiscale_datasets, ConfigError,
         r"^{yaml}: experiment 'exp_a': data_path: {store_a}: FOV 'A/2/0': no "
         r"'multiscales\[0\]\.datasets\[0\]\.path' in its metadata"),
    Case("store-wrong-axes", _wrong_axes, ConfigError,
         r"^{yaml}: experiment 'exp_a': data_path: {store_a}: FOV 'A/1/0': array '0' has 4 "
         r"dimensions \(shape \(6, 2, 24, 24\)\); expected 5-D"),
    Case("store-z-range-outside", lambda b: b.kwargs.update(z_range=(1, 3)), ValueError,
         r"z_range=slice\(1, 3, None\) is outside the stack of experiment 'exp_a', {store_a} "
         r"FOV 'A/1/0', which has 2 z slice\(s\)"),
    Case("store-patch-larger-than-image", lambda b: b.kwargs.update(yx_patch_size=(32, 32)),
         ValueError, r"yx_patch_size=\(32, 32\) is larger than the image of experiment 'exp_a', "
         r"{store_a} FOV 'A/1/0' \(height x width = 24 x 24"),
    Case("store-broken-metadata-json",
         lambda b: (b.store("exp_a") / "A/1/0/.zattrs").write_text('{"multiscales": ['),
         ConfigError, r"^{yaml}: experiment 'exp_a': data_path: {store_a}: FOV 'A/1/0': cannot "
         r"open zarr group 'A/1/0': {store_a}/A/1/0/\.zattrs: not valid JSON"),
    Case("store-corrupted-chunk", lambda b: b.corrupt_chunks("exp_a"), PatchReadError,
         r"cannot read array \('{store_a}', 'A/[12]/0'\) at frame t=\d", when="read"),
    Case("store-missing-chunks", _remove_chunks, MissingChunksError,
         r"^experiment 'exp_a', FOV 'A/1/0' of {store_a}: chunk files are missing for channel "
         r"'GFP' at 6 frame\(s\) \[0, 1, 2, 3, 4, 5\]", when="read"),
    # --- tracks -------------------------------------------------------------------------------
    Case("tracks-missing-file", lambda b: b.remove(b.tracks("exp_a") / "A/2/0"),
         FileNotFoundError, r"No tracks folder for FOV 'A/2/0': {tracks_a}/A/2/0 does not exist"),
    Case("tracks-several-files",
         lambda b: shutil.copy(b.csv("exp_a", "A/1/0"), b.tracks("exp_a") / "A/1/0/old.csv"),
         ValueError, r"{tracks_a}/A/1/0 holds 2 CSV files \['old\.csv', 'tracks\.csv'\]"),
    Case("tracks-missing-column", _tracks_text("track_id,t,y", "1,0,8.0"), ValueError,
         r"^{csv_a}: missing required column\(s\) \['x'\]"),
    Case("tracks-non-numeric", _tracks_text(H, *ROWS[:3], "1,three,8,8,-1"), ValueError,
         r"^{csv_a}: column 't' must hold integers; found \['three'\] at data row\(s\) \[3\]"),
    Case("tracks-nan-coordinate", lambda b: b.edit_tracks("exp_a", "A/1/0", y=float("nan")),
         ValueError, r"^{csv_a} \('exp_a' FOV 'A/1/0'\): 12 row\(s\) with a NaN, infinite or "
         r"missing y coordinate"),
    Case("tracks-duplicate-track-t", _tracks_text(H, *ROWS, ROWS[2]), ValueError,
         r"^{csv_a} \('exp_a' FOV 'A/1/0'\): 1 duplicate \(track_id, t\) row\(s\), e\.g\. "
         r"track 1 at t=2"),
    Case("tracks-self-parent", lambda b: b.edit_tracks("exp_a", "A/1/0", parent_track_id=2),
         ValueError, r"^{csv_a} \('exp_a' FOV 'A/1/0'\): 6 row\(s\) with a parent_track_id "
         r"equal to its own track_id"),
    Case("tracks-parent-cycle",
         lambda b: b.edit_tracks("exp_a", "A/1/0", parent_track_id=3 - pl.col("track_id")),
         ValueError, r"^{csv_a} \('exp_a' FOV 'A/1/0'\): parent_track_id links form a cycle "
         r"\(track ids \[[12], [12]\]"),
    Case("tracks-parent-in-other-fov",
         lambda b: b.edit_tracks("exp_a", "A/1/0", parent_track_id=3), ValueError,
         r"^{csv_a} \('exp_a' FOV 'A/1/0'\): track 1 has parent_track_id 3, but it is a track "
         r"of another FOV \(\['A/2/0'\]\)"),
    Case("tracks-all-outside-image",
         lambda b: [b.edit_tracks("exp_a", f, y=100.0) for f in ("A/1/0", "A/2/0")], ValueError,
         r"Experiment 'exp_a': all 24 cell centroids lie outside the images, e\.g\. y=100, x=8 "
         r"in {csv_a} \('exp_a' FOV 'A/1/0'\), whose image in {store_a} is 24 x 24 pixels"),
    Case("tracks-reserved-column", lambda b: b.edit_tracks("exp_a", "A/1/0", row=1), ValueError,
         r"^{csv_a}: column\(s\) \['row'\] have names the cell index writes itself; rename "
         r"them in the tracks table \(reserved: \['experiment', 'condition', 'well_name'"),
    Case("tracks-all-empty",
         lambda b: [b.write_tracks("exp_a", f, H + "\n") for f in ("A/1/0", "A/2/0")],
         ValueError, r"experiment 'exp_a' has no tracks: its 2 tracks file\(s\) under "
         r"tracks_path '{tracks_a}' hold no rows"),
    Case("tracks-geff-merge", _geff_merge, ValueError,
         r"{tracks_a}/A/1/0/tracks\.geff: node 205 \(t=9\) has 2 predecessors \[204, 404\], "
         r"a merge"),
    Case("tracks-csv-and-geff", _csv_and_geff, ValueError,
         r"{tracks_a}/A/1/0 holds 2 tracks files \['tracks\.csv', 'tracks\.geff'\]; expected "
         r"exactly one"),
    # --- normalization metadata ---------------------------------------------------------------
    Case("norm-missing-for-some-fovs",
         lambda b: b.edit_normalization("exp_a", "A/2/0", None), ValueError,
         r"(?s)(?=.*'fov_statistics')(?=.*exp_a:A/2/0 in {store_a})"),
    Case("norm-level-not-in-store",
         lambda b: b.edit_normalization("exp_a", "A/1/0", {"Phase3D": {"fov_stats": STATS},
                                                           "GFP": {"fov_stats": STATS}}),
         ValueError, r"(?s)(?=.*'fov_statistics')(?=.*exp_a:A/1/0 in {store_a})"),
    Case("norm-unknown-level",
         lambda b: b.kwargs.update(normalizations=[Normalize(level="fov_stats")]), ValueError,
         r"level='fov_stats' is not a normalization level; use one of \['dataset_statistics', "
         r"'fov_statistics', 'timepoint_statistics'\]", when="init"),
    Case("norm-zero-std", _zero_std, ValueError,
         r"exp_a:A/1/0 in {store_a}: channel 'Phase3D' has 'std' = 0 \(a constant channel\) in "
         r"'fov_statistics'.* Set eps"),
    Case("norm-nan-std", _nan_std, ValueError,
         r"exp_a:A/1/0 in {store_a}: channel 'Phase3D' has 'std' = NaN in 'fov_statistics': "
         r"the stored statistics hold NaN"),
    # --- training configuration ---------------------------------------------------------------
    Case("config-val-unknown", lambda b: b.kwargs.update(val_experiments=["exp_c"]), ValueError,
         r"val_experiments names \['exp_c'\], not in {yaml}; experiments: \['exp_a', 'exp_b'\]"),
    Case("config-val-all", lambda b: b.kwargs.update(val_experiments=["exp_a", "exp_b"]),
         ValueError, r"val_experiments=\['exp_a', 'exp_b'\] holds every experiment of {yaml}"),
    Case("config-val-fovs-unknown",
         lambda b: b.kwargs.update(val_experiments=[], val_fovs=["exp_a/A/1/7"]), ValueError,
         r"val_fovs names \['exp_a/A/1/7'\], which are not FOVs of {yaml} left by the filters.*"
         r"did you mean 'exp_a/A/1/0'"),
    Case("config-val-fraction-holds-nothing",
         lambda b: b.kwargs.update(val_experiments=[], val_fraction=0.3), ValueError,
         r"val_fraction=0\.3 hold out no FOV of {yaml}: a condition keeps its only FOV for "
         r"training, and each condition of \['exp_a', 'exp_b'\] has one FOV"),
    Case("config-batch-larger-than-anchors", lambda b: b.kwargs.update(batch_size=64),
         ValueError, r"batch_size=64 on 1 rank\(s\) needs at least 64 training anchors, but "
         r"experiments \['exp_a'\] of {yaml} have 20"),
    Case("config-hcl-beta-conflict", _hcl_beta_config, ValueError,
         r"conflicting hcl_beta values: data\.hcl_beta=0\.5 but "
         r"model\.loss_function\.init_args\.beta=0\.2", when="cli"),
]  # fmt: skip


def _params():
    for case in CASES:
        yield pytest.param(case, id=case.id)


@pytest.fixture
def inputs(tmp_path) -> BadInputs:
    return BadInputs(tmp_path)


def test_the_unbroken_inputs_train(inputs):
    dm = inputs.datamodule()
    dm.setup("fit")
    assert len(dm.train_dataset) == 20 and len(dm.val_dataset) == 20
    batch = next(iter(dm.train_dataloader()))
    assert batch["anchor"].shape == (4, 2, 2, 8, 8) and float(batch["anchor"].min()) >= 0.5


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_fails_early_naming_file_and_field(inputs, case, capsys, monkeypatch):
    pattern = case.match.format(**inputs.patterns())
    if case.when == "cli":
        from dynaclr.cli import main as dynaclr_main

        case.edit(inputs)
        argv = ["fit", "--config", str(inputs.root / "fit.yml")]
        assert dynaclr_main(argv) == 2
        assert re.search(pattern, capsys.readouterr().err), "stderr names the fields and values"
        monkeypatch.setenv("DYNACLR_DEBUG", "1")
        with pytest.raises(case.error, match=pattern):
            dynaclr_main(argv)
        return
    if case.when == "read":  # the damage is there at setup, which reads no pixel
        case.edit(inputs)
        dm = inputs.datamodule()
        dm.setup("fit")
        with pytest.raises(case.error, match=pattern):
            next(iter(dm.train_dataloader()))
        return
    reached = "init"
    with pytest.raises(case.error, match=pattern):
        case.edit(inputs)
        reached = "setup"
        dm = inputs.datamodule()
        dm.setup("fit")
        reached = "loader"
        dm.train_dataloader()
    assert reached == case.when, f"raised at {reached}, expected at {case.when}"


def test_zero_std_with_eps_is_allowed_and_finite(inputs):
    _zero_std(inputs)
    inputs.kwargs["normalizations"] = [Normalize(level="fov_statistics", eps=1e-6)]
    dm = inputs.datamodule()
    dm.setup("fit")
    dm.train_dataset.check_normalization(dm.normalizations)
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert batch["anchor"].isfinite().all()


def test_docs_table_lists_exactly_these_cases():
    section = DOCS.read_text().split("\n## Bad input matrix\n")[1].split("\n## ")[0]
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE)
    assert len(ids) == len(set(ids)), "a case id appears twice in the docs table"
    assert ids == [case.id for case in CASES]


def test_missing_chunks_warn_once_per_fov_and_read_as_zeros(inputs):
    _remove_chunks(inputs, frames=(2, 3))
    inputs.kwargs.update(missing_chunks="warn", num_workers=2, normalizations=[])
    dm = inputs.datamodule()
    dm.setup("fit")
    with pytest.warns(MissingChunksWarning) as caught:
        for _ in zip(range(12), dm.train_dataloader()):
            pass
    messages = [str(w.message) for w in caught if w.category is MissingChunksWarning]
    assert len(messages) == 1, messages
    assert re.match(r"experiment 'exp_a', FOV 'A/1/0' of .*: chunk files are missing for "
                    r"channel 'GFP' at 2 frame\(s\) \[2, 3\]", messages[0])  # fmt: skip
    reader = dm.train_dataset.reader
    key = next(k for k in reader.specs if k[1] == "A/1/0")
    patch = reader.read([key], [2], [(0, 1)], slice(0, 2), [0], [0], (8, 8))
    assert (patch[0, 1] == 0).all() and (patch[0, 0] >= 0.5).all()


def test_missing_chunks_error_from_a_loader_thread(inputs):
    _remove_chunks(inputs)
    inputs.kwargs.update(num_workers=2)
    dm = inputs.datamodule()
    dm.setup("fit")
    with pytest.raises(MissingChunksError, match=r"FOV 'A/1/0' .* channel 'GFP'"):
        next(iter(dm.train_dataloader()))


def test_no_validation_batch_holds_a_row_twice(inputs):
    # exp_b (validation) keeps 6 anchors, fewer than one batch of 16; exp_a trains on 20
    for fov in ("A/1/0", "A/2/0"):
        inputs.write_tracks("exp_b", fov, tracks_table(1 if fov == "A/1/0" else 3).head(4))
    inputs.kwargs.update(batch_size=16)
    dm = inputs.datamodule()
    dm.setup("fit")
    n_val = len(dm.val_dataset)
    assert n_val < 16
    batches = list(dm.val_dataloader().batch_sampler)
    assert [sorted(b) for b in batches] == [list(range(n_val))], "one smaller batch, every row"
    # enough anchors for full batches, one condition far smaller than its half of a batch
    inputs.write_tracks("exp_b", "A/1/0", tracks_table(1).head(3))
    inputs.write_tracks("exp_b", "A/2/0", pl.concat([tracks_table(3 + 2 * k).with_columns(
        pl.col("y") + k, pl.col("x") + k) for k in range(3)]))  # fmt: skip
    inputs.kwargs.update(batch_size=8)
    dm = inputs.datamodule()
    dm.setup("fit")
    batches = list(dm.val_dataloader().batch_sampler)
    assert batches and all(len(b) == len(set(b)) for b in batches), batches
