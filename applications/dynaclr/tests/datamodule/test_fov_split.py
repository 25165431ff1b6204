"""Validation inside an experiment: val_fovs and val_fraction hold out FOVs, disjointly."""

import logging
import re
from collections import Counter

import pytest
import yaml

from dynaclr.cell_index.fovs import KeptFOV
from dynaclr.cli import main, packaged_config
from dynaclr.demo import write_identity_dataset
from dynaclr.splits import split_fovs
from viscy_data.readers import FOVInfo

from ..identity_runs import Recorder, identity_datamodule, identity_trainer


def _kept(layout: dict[str, dict[str, int]]) -> list[KeptFOV]:
    """``{experiment: {condition: n FOVs}}`` -> kept FOVs, wells A/1, A/2, ... per condition."""
    kept = []
    for experiment, conditions in layout.items():
        for col, (condition, n) in enumerate(conditions.items(), start=1):
            for k in range(n):
                fov = FOVInfo(
                    "p.zarr", f"A/{col}/{k}", f"A/{col}", (2, 1, 1, 8, 8), "f4", ("a",), None
                )
                kept.append(KeptFOV(experiment, fov, condition))
    return kept


LAYOUT = {"e1": {"mock": 4, "infected": 3}, "e2": {"mock": 2, "infected": 1}}


def test_fraction_is_per_condition_disjoint_complete_and_keeps_both_sides():
    kept = _kept(LAYOUT)
    split = split_fovs(kept, [], None, 0.25, seed=0, where="x.yml")
    assert set(split.train).isdisjoint(split.val)
    assert sorted(split.train + split.val) == sorted(k.qualified_name for k in kept)
    condition = {k.qualified_name: (k.experiment, k.condition) for k in kept}
    held = Counter(condition[f] for f in split.val)
    # round_half_up(0.25 * n), at least 1 and at most n - 1 when n >= 2, none when n == 1
    assert held == {("e1", "mock"): 1, ("e1", "infected"): 1, ("e2", "mock"): 1}
    assert split.experiments_of("val") == ["e1", "e2"] == split.experiments_of("train")
    assert set(split.excluded_from("train")) == set(split.val)


def test_the_choice_is_a_pure_function_of_data_and_seed():
    kept = _kept({"e1": {"mock": 10, "infected": 10}})
    first = split_fovs(kept, [], None, 0.3, seed=4, where="x.yml")
    assert first == split_fovs(list(kept), [], None, 0.3, seed=4, where="x.yml")
    others = {split_fovs(kept, [], None, 0.3, seed=s, where="x.yml").val for s in range(5)}
    assert len(others) > 1, "the seed does not change the choice"


def test_named_fovs_count_toward_the_fraction_and_combine_with_whole_experiments():
    kept = _kept(LAYOUT)
    split = split_fovs(kept, ["e2"], ["e1/A/1/3", "A/2/0"], 0.25, seed=0, where="x.yml")
    assert {"e1/A/1/3", "e1/A/2/0"} <= set(split.val)
    assert {"e2/A/1/0", "e2/A/1/1", "e2/A/2/0"} <= set(split.val)
    assert [f for f in split.val if f.startswith("e1/A/1/")] == ["e1/A/1/3"]
    assert split.experiments_of("train") == ["e1"] and split.excluded_from("val") == [
        f for f in split.train
    ]


@pytest.mark.parametrize(
    ("val_experiments", "val_fovs", "fraction", "match"),
    [
        ([], ["e1/A/9/0"], 0.0, r"val_fovs names \['e1/A/9/0'\].*did you mean"),
        ([], ["B/1/0"], 0.0, r"val_fovs names \['B/1/0'\], which are not FOVs of x\.yml"),
        ([], "A/1/0", 0.0, r"val_fovs must be a list"),
        ([], None, 1.0, r"val_fraction must be a number in \[0, 1\), got 1\.0"),
        ([], None, -0.1, r"val_fraction must be a number in \[0, 1\)"),
        (["e1"], ["e2/A/1/0", "e2/A/1/1", "e2/A/2/0"], 0.0, r"hold out every FOV of x\.yml"),
    ],
)
def test_bad_options_say_what_is_wrong(val_experiments, val_fovs, fraction, match):
    with pytest.raises(ValueError, match=match):
        split_fovs(_kept(LAYOUT), val_experiments, val_fovs, fraction, seed=0, where="x.yml")


def test_a_fraction_that_holds_out_nothing_says_why():
    kept = _kept({"e1": {"mock": 1, "infected": 1}})
    with pytest.raises(ValueError, match=r"hold out no FOV.*each condition of \['e1'\] has one"):
        split_fovs(kept, [], None, 0.4, seed=0, where="x.yml")


@pytest.fixture(scope="module")
def two_fov_yaml(tmp_path_factory):
    """Identity data, 2 experiments x 2 conditions x 2 FOVs; each FOV has its own track ids."""
    return write_identity_dataset(tmp_path_factory.mktemp("fovsplit"), fovs_per_well=2)


def test_datamodule_trains_and_validates_on_disjoint_fovs_of_one_experiment(two_fov_yaml, tmp_path):
    dm = identity_datamodule(
        two_fov_yaml, val_experiments=[], val_fraction=0.5, batch_size=4, num_workers=0
    )
    dm.setup("fit")
    train_fovs, val_fovs = set(dm.train_dataset.index.fovs), set(dm.val_dataset.index.fovs)
    assert train_fovs.isdisjoint(val_fovs) and len(train_fovs) == len(val_fovs) == 4
    assert {f"{e}/{f}" for e, f in val_fovs} == set(dm.fov_split.val)
    # every condition of every experiment keeps one FOV on each side
    for dataset in (dm.train_dataset, dm.val_dataset):
        tracks = dataset.index.tracks
        assert tracks.select("experiment", "condition").unique().height == 4
    model = Recorder()
    trainer = identity_trainer(tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=2)
    trainer.fit(model, dm)
    owner = {}
    for dataset, side in ((dm.train_dataset, "train"), (dm.val_dataset, "val")):
        for e, track in dataset.index.tracks.select("experiment", "track_id").iter_rows():
            owner[(int(e[-1]), track)] = side
    seen_train = {owner[(e, k)] for _, _, ids in model.records for e, k, _ in ids}
    seen_val = {owner[(e, k)] for _, ids in model.val_records for e, k, _ in ids}
    assert seen_train == {"train"} and seen_val == {"val"}


def test_fit_saves_the_chosen_fovs_in_the_run_config(two_fov_yaml, tmp_path, caplog):
    config = yaml.safe_load(packaged_config("demo_fit.yml").read_text())
    config["data"].update(
        experiments_yaml=str(two_fov_yaml), val_experiments=[], val_fraction=0.5,
        z_range=[0, 2], yx_patch_size=[24, 24], final_yx_patch_size=[16, 16],
        batch_size=4, normalizations=[], num_workers=0,
    )  # fmt: skip
    config["model"]["encoder"]["init_args"].update(in_stack_depth=2, stem_kernel_size=[2, 4, 4])
    config["model"]["example_input_array_shape"] = [1, 2, 2, 16, 16]
    config["trainer"].update(
        max_epochs=1, limit_train_batches=1, limit_val_batches=1, enable_progress_bar=False,
        default_root_dir=str(tmp_path / "run"),
    )  # fmt: skip
    path = tmp_path / "fit.yml"
    path.write_text(yaml.safe_dump(config))
    lightning_log = logging.getLogger("lightning.pytorch")  # it does not propagate to caplog's
    lightning_log.addHandler(caplog.handler)
    try:
        assert main(["fit", "--config", str(path)]) == 0
    finally:
        lightning_log.removeHandler(caplog.handler)
    saved = yaml.safe_load(next((tmp_path / "run").rglob("config.yaml")).read_text())["data"]
    assert saved["val_fraction"] == 0.0 and len(saved["val_fovs"]) == 4
    assert re.search(r"validation FOVs .*val_fraction=0\.5, seed=0.*\n  train: 4 FOV", caplog.text)
    replay, fresh = (
        identity_datamodule(two_fov_yaml, val_experiments=[], num_workers=0, **options)
        for options in (
            {"val_fovs": saved["val_fovs"]},
            {"val_fraction": 0.5, "seed": saved["seed"]},
        )
    )
    replay.setup("fit")
    fresh.setup("fit")
    assert replay.fov_split.val == fresh.fov_split.val
