"""Chunk-aware batching in the datamodule: few (FOV, frame) groups per batch, tau per group."""

import numpy as np
import polars as pl
import pytest
import tensorstore as ts

from dynaclr.cell_index.tau import tau_probabilities
from dynaclr.chunk_aware import GROUP_COLUMNS, chunk_cache_bytes, frame_chunk_bytes
from dynaclr.datamodule import MultiExperimentDataModule
from dynaclr.demo import decode_identity, write_identity_dataset
from viscy_data import FlexibleBatchSampler

ARGS = dict(
    z_range=(0, 2), yx_patch_size=(16, 16), final_yx_patch_size=(16, 16), val_experiments=[],
    tau_range=(0.5, 2.0), batch_size=16, num_workers=1, channel_dropout_prob=0.0, seed=3,
    pin_memory=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def crowded_yaml(tmp_path_factory):
    """One experiment (30 min frames), 2 wells x 2 FOVs, 16 cells each, 24 frames."""
    return write_identity_dataset(
        tmp_path_factory.mktemp("crowded"), n_experiments=1, n_frames=24, image_size=96,
        fovs_per_well=2, cells_per_fov=16, cell_radius=3, divisions=False,
    )  # fmt: skip


def _ids(tensor) -> tuple[np.ndarray, np.ndarray]:
    centre = tensor[:, 0, 0, tensor.shape[-2] // 2, tensor.shape[-1] // 2].numpy()
    _, track, t = decode_identity(centre)
    return track, t


def _epoch(dm):
    loader = dm.train_dataloader()
    return [(_ids(b["anchor"]), _ids(b["positive"])) for b in loader]


def _fov_of_track(dm) -> dict[int, str]:
    tracks = dm.train_dataset.index.tracks.select("track_id", "fov_name").unique()
    return dict(zip(tracks["track_id"].to_list(), tracks["fov_name"].to_list()))


def test_grouped_batches_read_few_frames_and_share_a_tau_per_group(crowded_yaml):
    dm = MultiExperimentDataModule(crowded_yaml, groups_per_batch=2, tau_per_group=True, **ARGS)
    dm.setup("fit")
    fov = _fov_of_track(dm)
    batches = _epoch(dm)
    shared = total = 0
    for (a_track, a_t), (p_track, p_t) in batches:
        groups = {(fov[k], t) for k, t in zip(a_track.tolist(), a_t.tolist())}
        assert len(groups) <= 4  # 2 lanes, each may move to its next group once
        assert (p_track == a_track).all()  # no divisions: the positive is the cell itself
        for group in groups:
            taus = (p_t - a_t)[[(fov[k], t) == group for k, t in zip(a_track, a_t)]]
            shared += np.count_nonzero(taus == np.bincount(taus).argmax())
            total += taus.size
    assert shared / total > 0.9  # only anchors near a track's end fall back to another tau

    random = MultiExperimentDataModule(crowded_yaml, **ARGS)
    random.setup("fit")
    frames = [len(set(zip(a_t.tolist(), a_track.tolist()))) for (a_track, a_t), _ in _epoch(random)]
    assert np.median(frames) > 8  # the default batch is spread over many cells and frames


def test_tau_per_group_keeps_the_tau_distribution(crowded_yaml):
    dm = MultiExperimentDataModule(crowded_yaml, groups_per_batch=2, tau_per_group=True, **ARGS)
    dm.setup("fit")
    dataset, index = dm.train_dataset, dm.train_dataset.index
    anchors = index.valid_anchor_columns("experiment", "condition", *GROUP_COLUMNS[1:])
    sampler = FlexibleBatchSampler(anchors, 16, group_by=GROUP_COLUMNS, groups_per_batch=2)
    t = index.tracks.get_column("t").to_numpy()
    taus = []
    for epoch in range(40):  # positives only: no pixels are read
        sampler.set_epoch(epoch)
        dataset.epoch = epoch
        for positions in sampler:
            positives = dataset.positive_rows(np.asarray(positions))
            taus.append(t[positives] - t[dataset.rows[positions]])
    taus = np.concatenate(taus)
    lo, hi = index.tau_frames(index.registry.experiments[0].name)
    expected = tau_probabilities(lo, hi, dm.tau_decay_rate)
    observed = np.bincount(taus - lo, minlength=expected.size) / taus.size
    # groups of about 8 anchors share one draw: ~2,000 independent draws over 40 epochs
    assert np.abs(observed - expected).max() < 0.04, (observed, expected)


def test_chunk_cache_is_sized_for_the_groups_in_flight(crowded_yaml):
    dm = MultiExperimentDataModule(crowded_yaml, groups_per_batch=3, tau_per_group=True, **ARGS)
    dm.setup("fit")
    index = dm.train_dataset.index
    fov = next(iter(index.fovs.values()))
    plane = fov.shape[1] * 2 * fov.shape[3] * fov.shape[4] * 4  # channels x z(0:2) x y x x x 4
    assert frame_chunk_bytes(index) == plane
    assert dm.train_dataset.cache_pool_bytes == (3 + 1) * 2 * plane * (1 + 1)
    assert chunk_cache_bytes(index, 3, tau_per_group=False, batches_in_flight=1) > plane * 16
    explicit = MultiExperimentDataModule(
        crowded_yaml, groups_per_batch=3, **{**ARGS, "cache_pool_bytes": 12345}
    )
    explicit.setup("fit")
    assert explicit.train_dataset.cache_pool_bytes == 12345


def test_bad_grouping_option(crowded_yaml):
    with pytest.raises(
        ValueError, match=r"groups_per_batch must be an integer >= 1 or None, got 0"
    ):
        MultiExperimentDataModule(crowded_yaml, **{**ARGS, "groups_per_batch": 0})


def test_grouped_temporal_enrichment_trains_a_batch(crowded_yaml):
    dm = MultiExperimentDataModule(
        crowded_yaml, groups_per_batch=2, temporal_enrichment=True, **ARGS
    )
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["anchor"].shape[0] == 16


def test_default_batches_do_not_change(crowded_yaml):
    plain = MultiExperimentDataModule(crowded_yaml, **ARGS)
    plain.setup("fit")
    off = MultiExperimentDataModule(
        crowded_yaml, groups_per_batch=None, tau_per_group=False, **ARGS
    )
    off.setup("fit")
    assert [tuple(map(tuple, b[0])) for b in _epoch(plain)] == [
        tuple(map(tuple, b[0])) for b in _epoch(off)
    ]
    assert pl.Series(plain.train_dataset.positive_rows(np.arange(16))).to_list() == (
        pl.Series(off.train_dataset.positive_rows(np.arange(16))).to_list()
    )


def _file_reads() -> int:
    metric = ts.experimental_collect_matching_metrics("/tensorstore/kvstore/file/read")
    return int(metric[0]["values"][0]["value"]) if metric else 0


def test_a_chunk_is_decoded_once_for_two_consecutive_batches(crowded_yaml):
    dm = MultiExperimentDataModule(
        crowded_yaml, groups_per_batch=2, tau_per_group=True, **{**ARGS, "num_workers": 0}
    )
    dm.setup("fit")
    dataset, index = dm.train_dataset, dm.train_dataset.index
    anchors = index.valid_anchor_columns("experiment", "condition", *GROUP_COLUMNS[1:])
    sampler = FlexibleBatchSampler(anchors, 16, group_by=GROUP_COLUMNS, groups_per_batch=2)
    batches = [np.asarray(b) for b in sampler][:5]
    dataset.__getitems__(batches[0])  # opens every store (metadata reads)
    n_channels = len(dataset._channels[0])

    def chunks(positions):  # one chunk per (FOV, frame, channel) on whole-plane chunks
        rows = np.concatenate([dataset.rows[positions], dataset.positive_rows(positions)])
        return {(int(f), int(t)) for f, t in zip(dataset._fov_code[rows], dataset._t[rows])}

    for first, second in zip(batches[1:], batches[2:]):
        before = _file_reads()
        dataset.__getitems__(first)
        one = _file_reads() - before
        dataset.__getitems__(second)
        two = _file_reads() - before
        assert one <= len(chunks(first)) * n_channels  # no chunk read twice within a batch
        assert two <= len(chunks(first) | chunks(second)) * n_channels  # nor in the next one
        assert one < 2 * first.size  # far fewer reads than patches
