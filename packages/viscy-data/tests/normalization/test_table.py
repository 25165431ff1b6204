"""NormTable re-keys FOV statistics to channel positions and gathers them per sample."""

import numpy as np
import pytest

from viscy_data.normalization import NormTable


def _stats(value: float) -> dict:
    return {"mean": value, "std": value + 1, "median": value, "iqr": 2 * value}


def _table() -> NormTable:
    fov_a = {  # channels stored in another order than the model's positions
        "GFP": {
            "fov_statistics": _stats(10),
            "dataset_statistics": _stats(1),
            "timepoint_statistics": {"0": _stats(100), "1": _stats(101)},
        },
        "Phase": {
            "fov_statistics": _stats(20),
            "dataset_statistics": _stats(2),
            "timepoint_statistics": {"0": _stats(200), "1": _stats(201)},
        },
    }
    fov_b = {
        "RFP": {
            "fov_statistics": _stats(30),
            "dataset_statistics": _stats(3),
            "timepoint_statistics": {"0": _stats(300), "1": _stats(301)},
        },
        "Phase": {
            "fov_statistics": _stats(40),
            "dataset_statistics": _stats(4),
            "timepoint_statistics": {"0": _stats(400), "1": _stats(401)},
        },
    }
    return NormTable(
        [fov_a, fov_b, None],
        [("Phase", "GFP"), ("Phase", "RFP"), ("Phase", "GFP")],
        n_frames=2,
        fov_labels=["e1:A/1/0", "e2:A/1/0", "e1:B/1/0"],
    )


def test_gather_rekeys_by_position_and_frame():
    meta = _table().gather(np.array([0, 1, 1]), np.array([1, 0, 1]))
    np.testing.assert_array_equal(meta[0]["fov_statistics"]["mean"].numpy(), [20, 40, 40])
    np.testing.assert_array_equal(meta[1]["fov_statistics"]["mean"].numpy(), [10, 30, 30])
    np.testing.assert_array_equal(meta[1]["dataset_statistics"]["std"].numpy(), [2, 4, 4])
    np.testing.assert_array_equal(meta[1]["timepoint_statistics"]["mean"].numpy(), [101, 300, 301])


def test_batches_without_stats_and_mixed_batches():
    table = _table()
    assert table.gather(np.array([2, 2]), np.array([0, 1])) is None
    with pytest.raises(ValueError, match=r"missing for FOVs \['e1:B/1/0'\]"):
        table.gather(np.array([0, 2]), np.array([0, 0]))
    assert table.missing("fov_statistics") == ["e1:B/1/0"]
    with pytest.raises(ValueError, match="unknown normalization level 'fov'"):
        table.missing("fov")


def test_require_names_fov_channel_level_and_frame():
    table = _table()
    table.require("fov_statistics", ("mean", "std"), divisor="std", fov_codes=np.array([0, 1]))
    with pytest.raises(
        ValueError,
        match=r"e1:B/1/0: channel 'Phase' has no 'mean' in "
        r"'fov_statistics' \(no 'normalization' entry",
    ):
        table.require("fov_statistics", ("mean",))
    # timepoint statistics are checked only at the frames that are read
    table.require("timepoint_statistics", ("std",), fov_codes=np.array([0, 1]), frames=[1, 0])
    gfp = {"GFP": {"timepoint_statistics": {"0": _stats(0)}}, "Phase": {}}
    only_frame0 = NormTable([gfp], [("GFP",)], n_frames=3, fov_labels=["e:A/1/0 in p.zarr"])
    only_frame0.require("timepoint_statistics", ("mean",), fov_codes=[0, 0], frames=[0, 0])
    with pytest.raises(
        ValueError,
        match=r"has no 'mean' in 'timepoint_statistics' at frame "
        r"t=2 \(its levels: \['timepoint_statistics'\]",
    ):
        only_frame0.require("timepoint_statistics", ("mean",), fov_codes=[0, 0], frames=[0, 2])
    with pytest.raises(ValueError, match=r"unknown statistics \['p99'\]"):
        table.require("fov_statistics", ("p99",))


@pytest.mark.parametrize(("std", "eps", "match"), [
    (0.0, 0.0, r"'std' = 0 \(a constant channel\) in 'fov_statistics'.*Normalize\(eps=1e-6\)"),
    (0.0, 1e-6, None),
    (-1.0, 1e-6, r"'std' = -1\.0 in 'fov_statistics'"),
    (float("inf"), 0.0, r"'std' = inf"),
])  # fmt: skip
def test_require_rejects_unusable_divisors_unless_eps_allows(std, eps, match):
    norm = {"GFP": {"fov_statistics": {"mean": 1.0, "std": std}}}
    table = NormTable([norm], [("GFP",)], n_frames=1, fov_labels=["e:A/1/0 in p.zarr"])
    if match is None:
        table.require("fov_statistics", ("mean", "std"), divisor="std", eps=eps)
        return
    with pytest.raises(ValueError, match=r"^e:A/1/0 in p\.zarr: channel 'GFP' has " + match):
        table.require("fov_statistics", ("mean", "std"), divisor="std", eps=eps)
