"""ThreadDataLoader.state_dict / load_state_dict: a resumed pass yields only the unseen batches."""

import pickle

import pytest
import torch
from torch.utils.data import Dataset, Sampler

from viscy_data import ThreadDataLoader

pytestmark = pytest.mark.timeout(60)


class BatchDataset(Dataset):
    """Builds whole batches of sample indices in ``__getitems__``."""

    def __init__(self, n: int = 40) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return {"idx": torch.tensor(indices)}


class StatefulBatches(Sampler[list[int]]):
    """Seeded shuffled batches per epoch, with state ``{"epoch", "batches_done"}``."""

    def __init__(self, n: int = 40, batch_size: int = 4, seed: int = 0) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.epoch, self.batches_done = 0, 0

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self):
        order = torch.randperm(
            self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch)
        )
        batches = order[: len(self) * self.batch_size].view(len(self), self.batch_size).tolist()
        while self.batches_done < len(self):
            self.batches_done += 1
            yield batches[self.batches_done - 1]
        self.epoch, self.batches_done = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.batches_done = state["epoch"], state["batches_done"]


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
