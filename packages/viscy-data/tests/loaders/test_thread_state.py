"""ThreadDataLoader.state_dict / load_state_dict: a resumed pass yields only the unseen batches."""

import pickle
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from viscy_data import ThreadDataLoader
from viscy_data.testing import RESUME_POINTS, check_resume

from .conftest import BatchDataset, StatefulBatches, assert_loader_threads_stopped

pytestmark = pytest.mark.timeout(60)


class StartBatchDataset(BatchDataset):
    """A :class:`BatchDataset` that starts its reads on a pool: the loader's reader-thread path."""

    pool = ThreadPoolExecutor(4, thread_name_prefix="storage")  # shared by every instance

    def start_batch(self, indices: list[int]) -> Future:
        return self.pool.submit(self.__getitems__, list(indices))


def _loader(dataset: str, sampler: str, num_workers: int) -> ThreadDataLoader:
    data = BatchDataset(n=24) if dataset == "getitems" else StartBatchDataset(n=24)
    if sampler == "stateful":
        return ThreadDataLoader(data, batch_sampler=StatefulBatches(24), num_workers=num_workers)
    return ThreadDataLoader(data, batch_size=4, num_workers=num_workers)  # sequential order


@pytest.mark.parametrize("stop", RESUME_POINTS)
@pytest.mark.parametrize("sampler", ["stateful", "stateless"])
@pytest.mark.parametrize("dataset", ["getitems", "start_batch"])
@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_contract(num_workers, dataset, sampler, stop):
    loader = _loader(dataset, sampler, num_workers)
    assert loader.batches_start_async == (dataset == "start_batch")
    run = check_resume(
        lambda: _loader(dataset, sampler, num_workers),
        stop_after=stop,
        view=lambda batch: batch["idx"].tolist(),
    )
    assert len(run) == 2 * 6
    assert_loader_threads_stopped()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_with_a_stateful_sampler_yields_exactly_the_unseen_batches(num_workers):
    reference = [
        b["idx"].tolist() for b in ThreadDataLoader(BatchDataset(), batch_sampler=StatefulBatches())
    ]
    sampler = StatefulBatches()
    loader = ThreadDataLoader(BatchDataset(), batch_sampler=sampler, num_workers=num_workers)
    it = iter(loader)
    seen = [next(it)["idx"].tolist() for _ in range(3)]
    state = pickle.loads(pickle.dumps(loader.state_dict()))
    assert state == {"batches_yielded": 3, "sampler_state": {"epoch": 0, "batches_done": 3}}
    assert sampler.batches_done == 3 + loader.max_batches_in_flight  # the sampler runs ahead
    it.close()
    resumed = ThreadDataLoader(BatchDataset(), batch_sampler=StatefulBatches(), num_workers=2)
    resumed.load_state_dict(state)
    rest = iter(resumed)
    seen.append(next(rest)["idx"].tolist())
    assert resumed.state_dict() == {
        "batches_yielded": 4,
        "sampler_state": {"epoch": 0, "batches_done": 4},
    }
    assert seen + [b["idx"].tolist() for b in rest] == reference


def test_resume_with_a_stateless_sampler_skips_the_seen_batches():
    loader = ThreadDataLoader(BatchDataset(n=20), batch_size=4, num_workers=2)
    it = iter(loader)
    next(it), next(it)
    state = loader.state_dict()
    assert state == {"batches_yielded": 2, "sampler_state": None}
    it.close()
    resumed = ThreadDataLoader(BatchDataset(n=20), batch_size=4, num_workers=2)
    resumed.load_state_dict(state)
    iter(resumed)  # made and dropped without taking a batch: the resume is still pending
    assert [b["idx"][0].item() for b in resumed] == [8, 12, 16]
    assert [b["idx"][0].item() for b in resumed] == [0, 4, 8, 12, 16]  # next epoch is whole
    assert resumed.state_dict()["batches_yielded"] == 5
    finished = ThreadDataLoader(BatchDataset(n=20), batch_size=4)
    finished.load_state_dict(resumed.state_dict())  # an epoch that ended resumes with a new one
    assert len(list(finished)) == 5


def test_load_state_dict_rejects_foreign_states():
    loader = ThreadDataLoader(BatchDataset(), batch_size=4)
    with pytest.raises(ValueError, match="expects the dict of state_dict"):
        loader.load_state_dict({"epoch": 1})
    with pytest.raises(ValueError, match=r"state\['batches_yielded'\] must be an integer >= 0"):
        loader.load_state_dict({"batches_yielded": -1, "sampler_state": None})
    with pytest.raises(ValueError, match="has no load_state_dict"):
        loader.load_state_dict({"batches_yielded": 1, "sampler_state": {"epoch": 0}})
