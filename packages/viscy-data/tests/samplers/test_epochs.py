"""Epochs, DDP sharding, determinism, resume, pickling and DataLoader use."""

import pickle
import time

import pandas as pd
import pytest
from torch.utils.data import DataLoader

from viscy_data import FlexibleBatchSampler
from viscy_data.testing import RESUME_POINTS, check_resume

KINDS = {
    "queues": {},
    "temporal": {"temporal_enrichment": True, "leaky": 0.2},
    # groups of about 10 anchors (hours 0-9, 10-19, ...), read by 3 lanes, with leaky rows
    "grouped": {
        "group_by": ("experiment", "hour_block"),
        "groups_per_batch": 3,
        "leaky": 0.2,
    },
}


@pytest.fixture(params=sorted(KINDS))
def options(request):
    return KINDS[request.param]


def test_len_is_what_iteration_yields_on_every_rank(three_experiments, options):
    total = 1000 // 16  # 62 batches, not a multiple of 4
    for replicas in (1, 3, 4, 7):
        lengths = [
            len(
                list(
                    FlexibleBatchSampler(
                        three_experiments,
                        batch_size=16,
                        num_replicas=replicas,
                        rank=rank,
                        **options,
                    )
                )
            )
            for rank in range(replicas)
        ]
        assert lengths == [total // replicas] * replicas


def test_ranks_split_the_single_rank_stream_without_overlap(three_experiments, options):
    whole = list(FlexibleBatchSampler(three_experiments, batch_size=16, seed=5, **options))
    shards = [
        list(
            FlexibleBatchSampler(
                three_experiments, batch_size=16, seed=5, num_replicas=3, rank=r, **options
            )
        )
        for r in range(3)
    ]
    interleaved = [shards[r][i] for i in range(len(shards[0])) for r in range(3)]
    assert interleaved == whole[: len(interleaved)]
    as_sets = [{tuple(b) for b in shard} for shard in shards]
    assert not (as_sets[0] & as_sets[1]) and not (as_sets[1] & as_sets[2])


def test_same_inputs_same_batches_and_seed_or_epoch_change_them(three_experiments, options):
    def draw(seed=0, epoch=0):
        sampler = FlexibleBatchSampler(three_experiments, batch_size=16, seed=seed, **options)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert draw() == draw()
    assert draw(seed=1) != draw()
    assert draw(epoch=1) != draw()


def test_iterating_again_advances_the_epoch_unless_set(three_experiments, options):
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16, **options)
    first, second = list(sampler), list(sampler)
    assert sampler.epoch == 1 and first != second
    sampler.set_epoch(0)
    assert list(sampler) == first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_an_abandoned_epoch_also_advances(three_experiments):
    epoch_zero = list(FlexibleBatchSampler(three_experiments, batch_size=16))
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16)
    assert next(iter(sampler)) == epoch_zero[0]  # e.g. limit_train_batches stops early
    rest = list(sampler)
    assert sampler.epoch == 1 and rest[0] != epoch_zero[0]


def test_an_iterator_that_never_started_does_not_count(three_experiments):
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16)
    iter(sampler)  # the multi-worker DataLoader creates one iterator it never reads
    assert list(sampler) == list(FlexibleBatchSampler(three_experiments, batch_size=16))
    assert sampler.epoch == 0


def test_dataloader_with_workers_sees_each_epoch_once(three_experiments):
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16)
    loader = DataLoader(list(range(1000)), batch_sampler=sampler, num_workers=1)
    epochs = [[b.tolist() for b in loader] for _ in range(2)]
    reference = FlexibleBatchSampler(three_experiments, batch_size=16)
    assert epochs[0] == list(reference)
    assert epochs[1] == list(reference)  # the reference auto-advanced to epoch 1 too
    assert sampler.epoch == 1


@pytest.mark.parametrize("done", [0, 1, 17, 20])
def test_resume_yields_exactly_the_rest_of_the_epoch(three_experiments, options, done):
    kwargs = dict(batch_size=16, num_replicas=3, rank=1, seed=2, **options)
    reference = FlexibleBatchSampler(three_experiments, **kwargs)
    reference.set_epoch(4)
    whole = list(reference)

    run = FlexibleBatchSampler(three_experiments, **kwargs)
    run.set_epoch(4)
    stream = iter(run)
    head = [next(stream) for _ in range(done)]
    state = run.state_dict()
    assert state == {"epoch": 4, "batches_done": done, "seed": 2, "num_replicas": 3}

    restored = FlexibleBatchSampler(three_experiments, **kwargs)
    restored.load_state_dict(pickle.loads(pickle.dumps(state)))
    restored.set_epoch(4)  # what a trainer hook does before the epoch: keeps the resume point
    assert head + list(restored) == whole
    assert list(restored) != whole  # the following iteration is the next epoch
    assert restored.epoch == 5


@pytest.mark.parametrize("stop", RESUME_POINTS)
@pytest.mark.parametrize(("num_replicas", "rank"), [(1, 0), (2, 0), (2, 1)])
def test_resume_contract(three_experiments, options, num_replicas, rank, stop):
    run = check_resume(
        lambda: FlexibleBatchSampler(
            three_experiments, batch_size=16, num_replicas=num_replicas, rank=rank, seed=2,
            **options,
        ),
        stop_after=stop,
    )  # fmt: skip
    assert len(run) == 2 * (1000 // 16 // num_replicas)


def test_set_start_batch_and_a_new_epoch_drop_the_resume_point(three_experiments):
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16)
    whole = list(sampler)
    sampler.set_epoch(0)
    sampler.set_start_batch(60)
    assert list(sampler) == whole[60:]
    sampler.set_start_batch(len(sampler))
    assert list(sampler) == []
    sampler.load_state_dict({"epoch": 0, "batches_done": 5})
    sampler.set_epoch(1)
    assert len(list(sampler)) == len(sampler)


def test_resume_on_a_different_world_size_skips_what_was_done(three_experiments):
    whole = list(FlexibleBatchSampler(three_experiments, batch_size=16))
    old = [
        FlexibleBatchSampler(three_experiments, batch_size=16, num_replicas=2, rank=r)
        for r in range(2)
    ]
    done = [b for s in old for b in list(s)[:5]]  # 5 batches each: global batches 0..9
    new = FlexibleBatchSampler(three_experiments, batch_size=16)
    new.load_state_dict(old[0].state_dict() | {"batches_done": 5})
    rest = list(new)
    assert rest == whole[10:]
    assert not {tuple(b) for b in rest} & {tuple(b) for b in done}


def test_pickled_sampler_yields_the_same_batches(three_experiments, options):
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16, **options)
    sampler.set_epoch(3)
    clone = pickle.loads(pickle.dumps(sampler))
    assert list(clone) == list(sampler)


def test_pandas_input_gives_the_same_batches(three_experiments, options):
    frame = pd.DataFrame(three_experiments.to_dict(as_series=False))
    frame["experiment"] = frame["experiment"].astype("category")
    frame.index = frame.index[::-1]  # labels are ignored: positions count
    from_pandas = FlexibleBatchSampler(frame, batch_size=16, **options)
    assert list(from_pandas) == list(
        FlexibleBatchSampler(three_experiments, batch_size=16, **options)
    )


def test_first_batch_does_not_wait_for_the_epoch(make_anchors):
    table = make_anchors({("a", "x"): 100_000, ("b", "x"): 100_000})
    sampler = FlexibleBatchSampler(table, batch_size=4)
    start = time.perf_counter()
    next(iter(sampler))
    assert time.perf_counter() - start < 0.5  # a whole epoch (50k batches) takes seconds
    assert len(sampler) == 50_000
