"""ExperimentRegistry: upstream YAML format, channel alignment, tau frames and every check."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from dynaclr.registry import ConfigError, ExperimentConfig, ExperimentRegistry, MissingPathError

UPSTREAM_YAML = """\
experiments:
  - name: "2025_07_22_SEC61"
    data_path: "plates/2025_07_22_SEC61.zarr"
    tracks_path: "plates/2025_07_22_SEC61_tracks"
    channel_names: ["Phase3D", "raw GFP EX488 EM525-45"]
    source_channel: ["Phase3D", "raw GFP EX488 EM525-45"]
    condition_wells:
      uninfected: ["A/1"]
      infected: ["B/1", "B/2"]
    interval_minutes: 30.0
    start_hpi: 3.5
    organelle: "endoplasmic_reticulum"
    date: 2025-07-22
    moi: 5.0
  - name: "2025_08_01_TOMM20"
    data_path: "plates/2025_08_01_TOMM20.zarr"
    tracks_path: "plates/2025_08_01_TOMM20_tracks"
    channel_names: ["raw mCherry EX561 EM600-37", "Phase3D", "Brightfield"]
    source_channel: ["Phase3D", "raw mCherry EX561 EM600-37"]
    condition_wells:
      uninfected: ["A/1"]
      infected: ["B/1", "B/2"]
    interval_minutes: 20
    start_hpi: 0
    organelle: "mitochondria"
    date: "2025-08-01"
    moi: 0.0
"""


@pytest.fixture
def upstream_yaml(tmp_path, make_experiment) -> Path:
    """The verbatim upstream-format YAML, with its plates under ``plates/`` next to it."""
    plates = tmp_path / "plates"
    for name, channels in [
        ("2025_07_22_SEC61", ["Phase3D", "raw GFP EX488 EM525-45"]),
        ("2025_08_01_TOMM20", ["raw mCherry EX561 EM600-37", "Phase3D", "Brightfield"]),
    ]:
        make_experiment(name, channels, wells=("A/1", "B/1", "B/2"), folder=plates)
    path = tmp_path / "experiments.yml"
    path.write_text(UPSTREAM_YAML)
    return path


def test_upstream_yaml_loads_unchanged(upstream_yaml, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path.parent)  # relative paths resolve against the YAML, not the cwd
    registry = ExperimentRegistry.from_yaml(upstream_yaml)
    assert registry.yaml_path == upstream_yaml
    assert [e.name for e in registry.experiments] == ["2025_07_22_SEC61", "2025_08_01_TOMM20"]
    sec61 = registry.get_experiment("2025_07_22_SEC61")
    assert sec61 == ExperimentConfig(
        name="2025_07_22_SEC61",
        data_path=str(tmp_path / "plates" / "2025_07_22_SEC61.zarr"),
        tracks_path=str(tmp_path / "plates" / "2025_07_22_SEC61_tracks"),
        channel_names=["Phase3D", "raw GFP EX488 EM525-45"],
        source_channel=["Phase3D", "raw GFP EX488 EM525-45"],
        condition_wells={"uninfected": ["A/1"], "infected": ["B/1", "B/2"]},
        interval_minutes=30.0,
        start_hpi=3.5,
        organelle="endoplasmic_reticulum",
        date="2025-07-22",  # an unquoted YAML date becomes its ISO string
        moi=5.0,
    )
    tomm20 = registry.get_experiment("2025_08_01_TOMM20")
    assert (tomm20.interval_minutes, tomm20.start_hpi, tomm20.date) == (20.0, 0.0, "2025-08-01")
    assert registry.plates["2025_08_01_TOMM20"].channel_names[0] == "raw mCherry EX561 EM600-37"


def test_channel_maps_align_gfp_and_rfp_by_position(upstream_yaml):
    registry = ExperimentRegistry.from_yaml(upstream_yaml)
    assert registry.num_source_channels == 2
    assert registry.channel_maps == {
        "2025_07_22_SEC61": {0: 0, 1: 1},  # Phase3D, GFP
        "2025_08_01_TOMM20": {0: 1, 1: 0},  # Phase3D, mCherry: both feed model channel 1
    }


def test_direct_construction(make_experiment, tmp_path):
    entry = make_experiment()
    config = ExperimentConfig(**{**entry, "data_path": Path(entry["data_path"])})
    assert config.data_path == entry["data_path"] and config.wells == ["A/1", "A/2"]
    registry = ExperimentRegistry([config])
    assert registry.yaml_path is None and registry.plates["exp_a"].well_names == ("A/1", "A/2")
    unchecked = ExperimentRegistry([ExperimentConfig(**{**entry, "data_path": "nope.zarr"})],
                                   check_stores=False)  # fmt: skip
    assert unchecked.plates == {}


@pytest.mark.parametrize(
    ("interval", "hours", "frames"),
    [
        (30.0, (0.5, 2.0), (1, 4)),
        (20.0, (0.5, 2.0), (2, 6)),  # 1.5 rounds half up to 2
        (15.0, (0.5, 2.0), (2, 8)),
        (30.0, (0.0, 1.25), (1, 3)),  # min is at least 1 frame; 2.5 rounds up to 3, not to 2
        (30.0, (0.25, 0.25), (1, 1)),  # 0.5 rounds up to 1
        (10.0, (0.25, 0.75), (2, 5)),  # 1.5 -> 2 and 4.5 -> 5
        (7.0, (0.35, 0.35), (3, 3)),  # 0.35 * 60 / 7 = 2.9999999999999996 -> 3
    ],
)
def test_tau_range_frames_rounds_half_up(make_experiment, interval, hours, frames):
    registry = ExperimentRegistry([ExperimentConfig(**make_experiment(interval_minutes=interval))])
    assert registry.tau_range_frames("exp_a", hours) == frames


def test_tau_range_errors(make_experiment):
    registry = ExperimentRegistry([ExperimentConfig(**make_experiment())])
    with pytest.raises(
        ValueError, match=r"experiment 'exp_a' \(interval_minutes=30\.0\).*frames 1\.\.0"
    ):
        registry.tau_range_frames("exp_a", (0.1, 0.2))
    for bad in [(2.0, 1.0), (-1.0, 1.0), (0.5,), "ab", (0.5, float("nan"))]:
        with pytest.raises(ValueError, match=r"tau_range_hours must be a pair"):
            registry.tau_range_frames("exp_a", bad)
    with pytest.raises(KeyError, match=r"no experiment named 'b'; known experiments: \['exp_a'\]"):
        registry.tau_range_frames("b", (0.5, 1.0))


# --- validation: each case edits a valid two-experiment YAML ------------------------------------


def _set(i, key, value):
    def edit(entries):
        entries[i][key] = value

    return edit


def _drop(i, key):
    return lambda entries: entries[i].pop(key)


CASES = [
    ("empty list", lambda e: e.clear(), r"experiments is an empty list"),
    ("duplicate name", _set(1, "name", "exp_a"), r"names must be unique; \['exp_a'\] appear twice"),
    ("interval 0", _set(0, "interval_minutes", 0), r"'exp_a': interval_minutes must be > 0, got 0"),
    ("interval < 0", _set(1, "interval_minutes", -5.0), r"'exp_b': interval_minutes must be > 0"),
    ("interval str", _set(0, "interval_minutes", "30"),
     r"interval_minutes must be a finite number, got '30'"),
    ("empty wells", _set(0, "condition_wells", {}), r"'exp_a': condition_wells must map each"),
    ("empty condition", _set(0, "condition_wells", {"infected": []}),
     r"condition_wells\['infected'\] is empty"),
    ("well in two", _set(0, "condition_wells", {"mock": ["A/1"], "infected": ["A/2", "A/1"]}),
     r"'exp_a': condition_wells: well 'A/1' is in both 'mock' and 'infected'"),
    ("well format", _set(0, "condition_wells", {"mock": ["A1"]}), r"well 'A1' must read 'row/col'"),
    ("well absent", _set(0, "condition_wells", {"mock": ["A/1"], "infected": ["C/3"]}),
     r"'exp_a': condition_wells lists \['C/3'\], which .*exp_a\.zarr' does not have; its wells"),
    ("source not in channels", _set(1, "source_channel", ["Phase3D", "DAPI"]),
     r"'exp_b': source_channel \['DAPI'\] not in channel_names \['Phase3D', 'RFP'\]"),
    ("source count", _set(1, "source_channel", ["Phase3D"]),
     r"same number of source_channel entries .*\{'exp_a': 2, 'exp_b': 1\}"),
    ("channels differ", lambda e: e[1].update(channel_names=["Phase3D", "GFP"],
                                              source_channel=["Phase3D", "GFP"]),
     r"'exp_b': channel_names \['Phase3D', 'GFP'\] differ from the channels of .*exp_b\.zarr': "
     r"\['Phase3D', 'RFP'\]"),
    ("missing data_path", _set(0, "data_path", "missing.zarr"),
     r"'exp_a': data_path '.*missing\.zarr' does not exist"),
    ("missing tracks_path", _set(1, "tracks_path", "no_tracks"),
     r"'exp_b': tracks_path '.*no_tracks' does not exist"),
    ("not a plate", _set(0, "data_path", "."), r"'exp_a': data_path: .*not an OME-Zarr HCS plate"),
    ("unknown key", _set(0, "intervalminutes", 30),
     r"experiments\[0\] \('exp_a'\): unknown keys \['intervalminutes'\]\. Valid keys: \['name', "
     r".*'moi'\]\. 'intervalminutes': did you mean 'interval_minutes'\?"),
    ("missing key", _drop(1, "source_channel"),
     r"experiments\[1\] \('exp_b'\): missing required keys \['source_channel'\]"),
    ("channels not a list", _set(0, "channel_names", "Phase3D"),
     r"'exp_a': channel_names must be a list"),
    ("duplicate channel", _set(0, "channel_names", ["GFP", "GFP"]),
     r"channel_names lists \['GFP'\] more than once"),
    ("name not str", _set(0, "name", 5), r"experiment name must be a non-empty string, got 5"),
    ("moi negative", _set(0, "moi", -1), r"'exp_a': moi must be >= 0, got -1"),
    ("start_hpi null", _set(1, "start_hpi", None),
     r"'exp_b': start_hpi must be a finite number, got None"),
    ("entry not mapping", lambda e: e.append("exp_c"), r"experiments\[2\] must be a mapping"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_yaml_validation(tmp_path, make_experiment, edit, match):
    entries = [
        {**make_experiment("exp_a"), "data_path": "exp_a.zarr", "tracks_path": "exp_a_tracks"},
        make_experiment("exp_b", ["Phase3D", "RFP"]),
    ]
    path = tmp_path / "experiments.yml"
    path.write_text(yaml.safe_dump({"experiments": entries}, sort_keys=False))
    ExperimentRegistry.from_yaml(path)  # valid before the edit
    edit(entries)
    path.write_text(yaml.safe_dump({"experiments": entries}, sort_keys=False))
    with pytest.raises(ValueError, match=match) as info:
        ExperimentRegistry.from_yaml(path)
    assert str(info.value).startswith(f"{path}: "), "the message names the YAML file"
    assert isinstance(info.value, ConfigError)


def test_missing_paths_are_also_file_not_found(make_experiment):
    entry = make_experiment()
    with pytest.raises(FileNotFoundError, match=r"tracks_path 'gone' does not exist") as info:
        ExperimentRegistry([ExperimentConfig(**{**entry, "tracks_path": "gone"})])
    assert isinstance(info.value, MissingPathError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("experiments: [\n  - {name: a", r"not valid YAML"),
        ("- name: a\n", r"expected a mapping with a top-level 'experiments:' list, got list"),
        ("", r"expected a mapping .* got NoneType"),
        ("exps: []\n", r"top-level keys are \['exps'\]; expected only \['experiments'\]"),
        ("experiments: []\nextra: 1\n", r"top-level keys are \['experiments', 'extra'\]"),
        ("experiments: {name: a}\n", r"'experiments' must be a list, got \{'name': 'a'\}"),
        ("experiments: []\n", r"experiments is an empty list"),
    ],
    ids=["not yaml", "list", "empty file", "no experiments", "extra key", "not list", "empty"],
)
def test_yaml_file_errors(tmp_path, text, match):
    path = tmp_path / "experiments.yml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: .*{match}"):
        ExperimentRegistry.from_yaml(path)


def test_missing_yaml_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"experiments YAML '.*nope\.yml' does not exist"):
        ExperimentRegistry.from_yaml(tmp_path / "nope.yml")


def test_config_is_not_shared_with_the_yaml_dict(make_experiment):
    entry = make_experiment()
    original = copy.deepcopy(entry)
    ExperimentConfig(**entry).channel_names.append("x")
    assert entry == original


def test_subset_keeps_order_yaml_path_and_plates(upstream_yaml):
    registry = ExperimentRegistry.from_yaml(upstream_yaml)
    names = ["2025_08_01_TOMM20", "2025_07_22_SEC61"]
    subset = registry.subset(names)
    assert [e.name for e in subset.experiments] == names and subset.yaml_path == upstream_yaml
    assert all(subset.plates[n] is registry.plates[n] for n in names), "stores are not re-read"
    with pytest.raises(
        ConfigError,
        match=rf"^{re.escape(str(upstream_yaml))}: experiment '2025_08_01_TOMM20' "
        r"\(interval_minutes=20\.0\): tau_range_hours=\(0\.05, 0\.1\) holds no offset",
    ):
        subset.tau_range_frames("2025_08_01_TOMM20", (0.05, 0.1))
    with pytest.raises(KeyError, match=r"no experiment named 'x'"):
        registry.subset(["x"])
