"""MultiExperimentTripletDataset: right pixels, right positives, reproducible draws."""

import pickle

import numpy as np
import polars as pl
import pytest
import torch

from dynaclr import ExperimentRegistry, MultiExperimentIndex
from dynaclr.demo import decode_identity
from dynaclr.triplet_dataset import MultiExperimentTripletDataset

PATCH = (16, 16)


@pytest.fixture(scope="module")
def index(identity_yaml):
    registry = ExperimentRegistry.from_yaml(identity_yaml)
    return MultiExperimentIndex(
        registry, z_range=(0, 2), yx_patch_size=PATCH, tau_range_hours=(0.5, 1.5)
    )


def _decode(patches: torch.Tensor):
    """Identity at the patch centre; every channel and z plane must agree."""
    centre = patches[:, :, :, PATCH[0] // 2, PATCH[1] // 2].numpy()
    assert np.all(centre == centre[:, :1, :1]), "channels or z planes show different cells"
    return decode_identity(centre[:, 0, 0])


def _descendants_or_self(tracks: pl.DataFrame) -> set[tuple[str, str, int, int]]:
    """(experiment, fov, ancestor track, descendant track) pairs, by walking parents."""
    parent = {
        (r["experiment"], r["fov_name"], r["track_id"]): r["parent_track_id"]
        for r in tracks.unique(["experiment", "fov_name", "track_id"]).iter_rows(named=True)
    }
    pairs = set()
    for (exp, fov, track), _ in parent.items():
        node, seen = track, set()
        while node is not None and node >= 0 and node not in seen:
            pairs.add((exp, fov, node, track))
            seen.add(node)
            node = parent.get((exp, fov, node))
    return pairs


def test_batch_shapes_and_keys(index):
    ds = MultiExperimentTripletDataset(index)
    assert ds.index is index and len(ds) == index.valid_anchors.height
    batch = ds.__getitems__([0, 1, 2])
    assert set(batch) == {"anchor", "positive", "anchor_norm_meta", "positive_norm_meta", "rows"}
    assert batch["rows"]["anchor"].tolist() == ds.rows[[0, 1, 2]].tolist()  # names the cells
    assert batch["rows"]["positive"].shape == (3,)
    for key in ("anchor", "positive"):
        assert batch[key].shape == (3, index.registry.num_source_channels, 2, *PATCH)
        assert batch[key].dtype == torch.float32
    single = ds[1]
    assert single["anchor"].shape == (index.registry.num_source_channels, 2, *PATCH)
    torch.testing.assert_close(single["anchor"], batch["anchor"][1])


def test_every_anchor_and_positive_shows_the_right_cell(index):
    """All anchors of both experiments (which share FOV names) in one batch."""
    ds = MultiExperimentTripletDataset(index, seed=3)
    positions = np.arange(len(ds))
    batch = ds.__getitems__(positions)
    rows = index.tracks[ds.rows[positions]]
    names = [e.name for e in index.registry.experiments]
    exp_idx = np.array([names.index(e) for e in rows["experiment"]])
    e, k, t = _decode(batch["anchor"])
    np.testing.assert_array_equal(e, exp_idx)
    np.testing.assert_array_equal(k, rows["track_id"].to_numpy())
    np.testing.assert_array_equal(t, rows["t"].to_numpy())

    pe, pk, pt = _decode(batch["positive"])
    np.testing.assert_array_equal(pe, exp_idx)
    lineage = _descendants_or_self(index.tracks)
    for i, row in enumerate(rows.iter_rows(named=True)):
        lo, hi = index.tau_frames(row["experiment"])
        assert lo <= pt[i] - row["t"] <= hi
        assert (row["experiment"], row["fov_name"], row["track_id"], int(pk[i])) in lineage
    # Divisions exist in this data, so some positives are daughters.
    assert np.any(pk != k)


def test_positives_depend_on_seed_and_epoch_not_on_batching(index):
    ds = MultiExperimentTripletDataset(index, seed=0)
    positions = np.arange(len(ds))
    whole = ds.positive_rows(positions)
    halves = np.concatenate([ds.positive_rows(positions[::2]), ds.positive_rows(positions[1::2])])
    np.testing.assert_array_equal(np.sort(whole), np.sort(halves))
    np.testing.assert_array_equal(whole[::2], halves[: len(positions[::2])])
    ds.set_epoch(1)
    assert np.any(ds.positive_rows(positions) != whole)
    ds.set_epoch(0)
    np.testing.assert_array_equal(ds.positive_rows(positions), whole)
    other = MultiExperimentTripletDataset(index, seed=1)
    assert np.any(other.positive_rows(positions) != whole)


def test_tau_follows_decay_weights(index):
    """Over many epochs, short offsets are drawn more often than long ones."""
    ds = MultiExperimentTripletDataset(index, tau_decay_rate=2.0)
    positions = np.arange(len(ds))
    anchors_t = index.tracks["t"].to_numpy()[ds.rows]
    offsets = []
    for epoch in range(30):
        ds.set_epoch(epoch)
        offsets.append(index.tracks["t"].to_numpy()[ds.positive_rows(positions)] - anchors_t)
    offsets = np.concatenate(offsets)
    counts = np.bincount(offsets)
    nonzero = counts[counts > 0]
    assert nonzero[0] > nonzero[-1]


def test_predict_mode_covers_every_observation(index):
    ds = MultiExperimentTripletDataset(index, fit=False)
    assert len(ds) == index.tracks.height
    batch = ds.__getitems__(np.arange(len(ds)))
    assert "positive" not in batch
    ids = batch["index"]
    assert {"experiment", "fov_name", "track_id", "t"} <= set(ids)
    e, k, t = _decode(batch["anchor"])
    np.testing.assert_array_equal(k, ids["track_id"])
    np.testing.assert_array_equal(t, ids["t"])


def test_norm_meta_is_per_sample_and_rekeyed(index):
    ds = MultiExperimentTripletDataset(index)
    meta = ds.__getitems__([0, 5])["anchor_norm_meta"]
    assert set(meta) == set(range(index.registry.num_source_channels))
    stats = meta[1]["fov_statistics"]
    assert stats["mean"].shape == (2,) and torch.all(stats["std"] == 1)
    assert meta[0]["timepoint_statistics"]["mean"].shape == (2,)


def test_range_mismatch_and_missing_positive_are_errors(index):
    with pytest.raises(ValueError, match="tau_range_hours"):
        MultiExperimentTripletDataset(index, tau_range_hours=(0.5, 3.0))
    ds = MultiExperimentTripletDataset(index)
    ds.index = pickle.loads(pickle.dumps(index))
    ds.index.positive_candidates = lambda rows, taus: (np.zeros(0, int), np.zeros(0, int))
    with pytest.raises(RuntimeError, match=r"experiment 'identity\d'.*FOV 'A/\d/0'.*track \d+"):
        ds.__getitems__([0])
