"""The resume contract: stopped after any batch and resumed, a run sees every batch once.

:func:`check_resume` applies it to anything that yields batches epoch after epoch (one
iteration, one epoch) and has ``state_dict()`` / ``load_state_dict(state)``: a batch sampler
such as :class:`~viscy_data.FlexibleBatchSampler`, a :class:`~viscy_data.ThreadDataLoader`, or
a datamodule with its training loader. Stop points are batch counts or the names in
:data:`RESUME_POINTS`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

__all__ = ["RESUME_POINTS", "Resumable", "check_resume"]

RESUME_POINTS: tuple[str, ...] = ("start", "first", "middle", "last", "next-epoch")
"""Named stop points of :func:`check_resume`, in batches drawn before the state is saved:
``"start"`` 0; ``"first"`` 1; ``"middle"`` half of the first epoch; ``"last"`` the whole first
epoch (the state is saved right after its last batch); ``"next-epoch"`` the first epoch and
half of the second."""


class Resumable(Protocol):
    """What :func:`check_resume` needs of the object under test."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


S = TypeVar("S", bound=Resumable)


def _same(batch: Any) -> Any:
    return batch


def _close(iterator: Iterator[Any] | None) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


def _draw(
    source: Any, epoch: Callable[[Any], Iterable[Any]], n: int, view: Callable[[Any], Any]
) -> tuple[list[Any], Iterator[Any] | None]:
    """Up to ``n`` batches (as ``view`` shows them), epoch after epoch, and the open iterator.

    One empty epoch is allowed (the rest of an epoch resumed after its last batch); two in a
    row end the draw early.
    """
    drawn: list[Any] = []
    iterator, empty = None, 0
    while len(drawn) < n and empty < 2:
        _close(iterator)
        iterator = iter(epoch(source))
        before = len(drawn)
        for batch in iterator:
            drawn.append(view(batch))
            if len(drawn) == n:
                break
        empty = empty + 1 if len(drawn) == before else 0
    return drawn, iterator


def _stop_index(stop_after: int | str, epochs: list[list[Any]]) -> int:
    total = sum(len(e) for e in epochs)
    named = {
        "start": 0,
        "first": 1,
        "middle": len(epochs[0]) // 2,
        "last": len(epochs[0]),
        "next-epoch": len(epochs[0]) + len(epochs[1]) // 2 if len(epochs) > 1 else None,
    }
    if isinstance(stop_after, str):
        if stop_after not in named:
            raise ValueError(f"stop_after={stop_after!r} is not one of {RESUME_POINTS} or an int")
        k = named[stop_after]
        if k is None:
            raise ValueError(f"stop_after={stop_after!r} needs epochs >= 2, got {len(epochs)}")
    else:
        k = stop_after
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= total:
        raise ValueError(
            f"stop_after={stop_after!r} must lie in [0, {total}], the batches of {len(epochs)} "
            f"epoch(s) of {[len(e) for e in epochs]} batches"
        )
    return k


def _mismatch(stop: int, state: Any, expected: list[Any], got: list[Any]) -> str:
    """Say where the resumed run first leaves the uninterrupted one, and how."""
    where = f"stopped after {stop} batch(es) with state {state!r}, the run"
    i = next((j for j, (a, b) in enumerate(zip(got, expected)) if a != b), len(got))
    if i == len(got):
        return (
            f"{where} ended {len(expected) - len(got)} batch(es) short of the uninterrupted "
            f"run's {len(expected)}: batches were skipped"
        )
    if got[i] in expected[:i]:
        how = "repeats a batch drawn before"
    elif expected[i] in got[i:]:
        how = "comes to the expected batch later (a repeat or a new order)"
    else:
        how = "skipped a batch"
    return (
        f"{where} {how}: at position {i} (batch {i - stop} after resuming) it drew "
        f"{got[i]!r} where the uninterrupted run drew {expected[i]!r}"
    )


def check_resume(
    make: Callable[[], S],
    epoch: Callable[[S], Iterable[Any]] = iter,
    *,
    stop_after: int | str,
    epochs: int = 2,
    view: Callable[[Any], Any] = _same,
) -> list[Any]:
    """Check that stopping after ``stop_after`` batches and resuming repeats and skips nothing.

    1. ``make()`` a fresh object and draw ``epochs`` epochs: the uninterrupted run.
    2. ``make()`` another, draw ``stop_after`` batches (epoch after epoch), save
       ``state_dict()`` while its iterator is still open (as a checkpoint during a step
       would), round-trip the state through pickle, then close the iterator.
    3. ``make()`` a third, ``load_state_dict(saved)``, and draw epoch after epoch until the
       uninterrupted run's length is reached (one empty epoch is allowed: the rest of an epoch
       that was stopped after its last batch).

    The batches drawn in 2 and 3 together must equal those of 1, in order.

    Parameters
    ----------
    make : callable returning the object under test
        Builds a fresh object each call, always the same way (same data and seed).
    epoch : callable, default ``iter``
        ``epoch(obj)`` is one epoch's batches, e.g. ``iter`` for a sampler or a loader. An
        iterator it returns is closed (``close()``) when the check is done with it.
    stop_after : int or str
        Batches drawn before the state is saved, or one of :data:`RESUME_POINTS`.
    epochs : int, default 2
        Epochs of the uninterrupted run (>= 1).
    view : callable, default identity
        Turns a batch into a value compared with ``==``, e.g.
        ``lambda batch: batch["idx"].tolist()`` for a dict of tensors.

    Returns
    -------
    list
        The uninterrupted run, one ``view(batch)`` per batch.

    Raises
    ------
    AssertionError
        When a second fresh object draws other batches than the first (``make`` is not
        reproducible), or the resumed run repeats, skips or reorders batches; the message
        names the first batch that differs.
    ValueError
        When the first epoch is empty, ``epochs < 1`` or ``stop_after`` lies outside the run.

    Examples
    --------
    >>> import polars as pl
    >>> from viscy_data import FlexibleBatchSampler
    >>> anchors = pl.DataFrame({"experiment": ["a"] * 20, "condition": ["x", "y"] * 10})
    >>> run = check_resume(lambda: FlexibleBatchSampler(anchors, batch_size=4, seed=3),
    ...                    stop_after="middle")
    >>> len(run)  # 2 epochs of 5 batches
    10
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    reference = make()
    passes = [[view(batch) for batch in epoch(reference)] for _ in range(epochs)]
    if not passes[0]:
        raise ValueError("the first epoch of make() yields no batch; nothing to resume")
    expected = [batch for one in passes for batch in one]
    stop = _stop_index(stop_after, passes)

    interrupted = make()
    head, iterator = _draw(interrupted, epoch, stop, view)
    try:
        state = interrupted.state_dict()
    finally:
        _close(iterator)
    assert head == expected[:stop], (
        f"a second make() drew other batches than the first before the stop ({stop}): "
        f"make() must build the same object each time"
    )
    saved = pickle.loads(pickle.dumps(state))

    resumed = make()
    resumed.load_state_dict(saved)
    tail, iterator = _draw(resumed, epoch, len(expected) - stop, view)
    _close(iterator)
    if head + tail != expected:
        raise AssertionError(_mismatch(stop, state, expected, head + tail))
    return expected
