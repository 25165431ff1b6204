"""check_resume passes a correct resume at every stop point and catches each way to get it wrong."""

import pytest
import torch

from viscy_data import ThreadDataLoader
from viscy_data.testing import RESUME_POINTS, check_resume


class Counting:
    """Epoch ``e`` yields ``[e, 0], [e, 1], ...``: a resumable source, right or wrong on purpose.

    ``load_shift`` is added to the loaded position (+1 skips a batch, -1 repeats one);
    ``forget`` ignores the loaded state altogether.
    """

    def __init__(self, n: int = 6, load_shift: int = 0, forget: bool = False) -> None:
        self.n, self.load_shift, self.forget = n, load_shift, forget
        self.epoch, self.done = 0, 0

    def __iter__(self):
        while self.done < self.n:
            self.done += 1
            yield [self.epoch, self.done - 1]
        self.epoch, self.done = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "done": self.done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if not self.forget:
            self.epoch, self.done = state["epoch"], max(0, state["done"] + self.load_shift)


@pytest.mark.parametrize("stop", [*RESUME_POINTS, 0, 5, 11, 12])
def test_a_correct_resume_passes_and_the_run_is_returned(stop):
    run = check_resume(Counting, stop_after=stop)
    assert run == [[e, i] for e in (0, 1) for i in range(6)]


def test_named_points_are_batch_counts_in_the_uninterrupted_run():
    drawn = {}

    class Recorded(Counting):
        def state_dict(self):
            drawn[stop] = (self.epoch, self.done)
            return super().state_dict()

    for stop in RESUME_POINTS:
        check_resume(Recorded, stop_after=stop, epochs=3)
    assert drawn == {
        "start": (0, 0),
        "first": (0, 1),
        "middle": (0, 3),
        "last": (0, 6),
        "next-epoch": (1, 3),
    }


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (lambda: Counting(load_shift=1), r"skipped a batch: at position 3 .* drew \[0, 4\] "),
        (lambda: Counting(load_shift=-1), r"repeats a batch drawn before: at position 3"),
        (lambda: Counting(forget=True), r"repeats a batch drawn before: at position 3 "),
    ],
)
def test_a_skipped_or_repeated_batch_fails(source, match):
    with pytest.raises(AssertionError, match=match):
        check_resume(source, stop_after="middle")


def test_a_resume_that_runs_dry_fails():
    class Dry(Counting):
        def load_state_dict(self, state):
            super().load_state_dict(state)
            self.n = 0  # the resumed source yields nothing more

    with pytest.raises(AssertionError, match=r"short of the uninterrupted run's 12"):
        check_resume(Dry, stop_after="last")


def test_saving_the_sampler_state_instead_of_the_loader_state_fails():
    """The loader's sampler runs ahead of the batches handed out: its own state skips those."""

    class SamplerStateLoader(ThreadDataLoader):
        def state_dict(self):
            return {"batches_yielded": 0, "sampler_state": self.batch_sampler.state_dict()}

    def make():
        data = torch.arange(24)
        return SamplerStateLoader(data, batch_sampler=_Stateful(), num_workers=2)

    with pytest.raises(AssertionError, match="skipped a batch"):
        check_resume(make, stop_after="middle", view=lambda batch: batch.tolist())


class _Stateful(Counting):
    """Index lists ``4 i + e, ..., 4 i + e + 3`` (mod 24) in epoch ``e``, resumable."""

    def __init__(self) -> None:
        super().__init__(n=6)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for e, i in super().__iter__():
            yield [(4 * i + e + k) % 24 for k in range(4)]


def test_a_make_that_is_not_reproducible_fails():
    seeds = iter(range(100))

    class Reseeded(Counting):
        def __init__(self):
            super().__init__()
            self.epoch = next(seeds)

    with pytest.raises(AssertionError, match="a second make"):
        check_resume(Reseeded, stop_after="middle")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stop_after": "halfway"}, r"stop_after='halfway' is not one of \('start'"),
        ({"stop_after": 13}, r"stop_after=13 must lie in \[0, 12\]"),
        ({"stop_after": -1}, r"stop_after=-1 must lie in"),
        ({"stop_after": "next-epoch", "epochs": 1}, r"needs epochs >= 2, got 1"),
        ({"stop_after": 0, "epochs": 0}, r"epochs must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_resume(Counting, **kwargs)


def test_an_empty_first_epoch_is_refused():
    with pytest.raises(ValueError, match="first epoch of make\\(\\) yields no batch"):
        check_resume(lambda: Counting(n=0), stop_after=0)
