"""Step 5: a DataLoader whose workers are threads, yielding batches in sampler order.

tensorstore, zarr codecs and numpy release the GIL while they read and decode, so threads overlap
I/O as well as worker processes do, without forking open store handles (tensorstore does not
survive ``fork``) and without pickling the dataset.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    Sampler,
    Subset,
    default_collate,
    default_convert,
)

from viscy_data.loaders.collate import identity_collate
from viscy_data.loaders.thread_iterator import ThreadBatchIterator

__all__ = ["ThreadDataLoader"]


def _has_batch_getitems(dataset: Dataset) -> bool:
    """Whether ``dataset`` builds whole batches itself (``Subset`` only forwards the inner one)."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return callable(getattr(dataset, "__getitems__", None))


class ThreadDataLoader(DataLoader):
    """A ``torch.utils.data.DataLoader`` whose ``num_workers`` workers are threads.

    Each batch of indices from ``batch_sampler`` (or from ``batch_size``/``shuffle``/``sampler``)
    is fetched as ``dataset.__getitems__(indices)`` when the dataset has it, else as
    ``[dataset[i] for i in indices]``, then passed to ``collate_fn``. Batches come out strictly in
    sampler order whatever the thread timing. The sampler is only iterated in the consuming thread;
    ``dataset`` and ``collate_fn`` run concurrently in the worker threads, so they must be
    thread-safe (draw randomness in the sampler or on the GPU, not in shared RNGs).

    Memory is bounded: while you hold one batch, at most ``num_workers + prefetch`` more are being
    fetched or wait ready (:attr:`max_batches_in_flight`), so host memory per rank is about
    ``(num_workers + prefetch + 1) x bytes per batch``.

    **Asynchronous datasets.** A dataset whose reads run on its own threads (tensorstore's, say)
    can define ``start_batch(indices)``, which starts reading a whole batch and returns at once a
    handle whose ``result()`` waits and returns what ``__getitems__(indices)`` would. With
    ``num_workers=N >= 1`` and a batch sampler, one reader thread then keeps ``N`` batches
    started, finishing them oldest first, instead of ``N`` threads each waiting on one batch:
    the same reads in flight with one Python thread (as fast as ``N`` worker threads in
    ``benchmarks/bench_reader_modes.py``). ``num_workers=0`` reads synchronously as ever.

    An exception raised while fetching is re-raised in the consuming thread as the same object,
    with its traceback and a note naming the batch; the threads are stopped first. Breaking out of
    the loop, deleting or closing the iterator, or reaching the end stops the threads too.

    ``state_dict()`` / ``load_state_dict()`` record how many batches the consumer has received
    this epoch and the sampler's state right after drawing the last of them (samplers run ahead by
    the batches in flight, so save this rather than the sampler's own state). Lightning saves
    them in checkpoints and restores them on resume.

    Every ``__init__`` argument is stored as an attribute of the same name, so Lightning can
    re-create the loader with a wrapped or distributed sampler.

    Parameters
    ----------
    dataset : Dataset
        Map-style dataset; iterable-style datasets are rejected.
    batch_size : int or None
        Samples per batch when no ``batch_sampler`` is given (default 1). None yields single
        samples (``collate_fn`` then defaults to ``default_convert``).
    shuffle : bool, optional
        Shuffle indices each epoch when no ``sampler`` or ``batch_sampler`` is given.
    sampler : Sampler, optional
        Sampler of single indices, batched by ``batch_size``.
    batch_sampler : Sampler[list[int]], optional
        Yields whole lists of indices; excludes ``batch_size``, ``shuffle``, ``sampler``,
        ``drop_last``.
    num_workers : int
        Worker threads (default 0: batches are fetched in the consuming thread, no threads).
        For a dataset with ``start_batch``: batches in flight at once, driven by one thread.
    collate_fn : callable, optional
        Turns what the dataset returned for one batch into the batch. Default:
        :func:`~viscy_data.loaders.collate.identity_collate` when the dataset has
        ``__getitems__``, else ``torch.utils.data.default_collate``. Use module-level functions,
        not lambdas, so the loader pickles.
    pin_memory : bool
        Copy batch tensors to pinned memory in the worker threads, for faster ``.to("cuda",
        non_blocking=True)``; silently does nothing when CUDA is not available (default False).
    drop_last : bool
        With ``batch_size``, drop a last incomplete batch (default False).
    timeout : float
        Seconds to wait for a batch from the threads before raising ``TimeoutError`` (default 0:
        wait forever). Not used with ``num_workers=0``.
    prefetch : int
        Batches fetched ahead beyond one per thread (default 2), >= 0.
    generator : torch.Generator, optional
        Generator of the ``RandomSampler`` built for ``shuffle=True``.

    Raises
    ------
    ValueError
        For an iterable-style dataset, negative ``num_workers``/``prefetch``/``timeout``, a
        ``collate_fn`` that is not callable, or arguments that torch's DataLoader rejects.

    Examples
    --------
    >>> import torch
    >>> data = torch.arange(10.0)
    >>> loader = ThreadDataLoader(data, batch_size=4, num_workers=2)
    >>> [batch.tolist() for batch in loader]
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0]]
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable | None = None,
        batch_sampler: Sampler[list[int]] | Iterable[list[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0.0,
        *,
        prefetch: int = 2,
        generator: torch.Generator | None = None,
    ) -> None:
        if isinstance(dataset, IterableDataset):
            raise ValueError(
                f"ThreadDataLoader needs a map-style dataset (with __getitem__ or __getitems__), "
                f"got the iterable-style {type(dataset).__name__}; use torch's DataLoader for it."
            )
        for name, value in (("num_workers", num_workers), ("prefetch", prefetch)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout >= 0:
            raise ValueError(
                f"timeout must be a number of seconds >= 0 (0: none), got {timeout!r}."
            )
        if collate_fn is not None and not callable(collate_fn):
            raise ValueError(
                f"collate_fn must be a callable or None (default collation), got {collate_fn!r}."
            )
        if collate_fn is None:
            if batch_size is None and batch_sampler is None:
                collate_fn = default_convert
            elif _has_batch_getitems(dataset):
                collate_fn = identity_collate
            else:
                collate_fn = default_collate
        super().__init__(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            batch_sampler=batch_sampler,
            num_workers=0,
            collate_fn=collate_fn,
            pin_memory=pin_memory,
            drop_last=drop_last,
            timeout=timeout,
            generator=generator,
        )
        self.num_workers = int(num_workers)
        self.shuffle = shuffle
        self.prefetch = int(prefetch)
        self._batches_yielded = 0
        self._sampler_state: Any = None
        self._resume = (0, False)  # (batches already handed out this epoch, skip them?)

    @property
    def index_sampler(self) -> Sampler | Iterable:
        """What the loader iterates: the batch sampler, or the sampler when ``batch_size=None``."""
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    @property
    def max_batches_in_flight(self) -> int:
        """Batches being fetched or waiting while the consumer holds one (0 without threads)."""
        return self.num_workers + self.prefetch if self.num_workers else 0

    @property
    def batches_start_async(self) -> bool:
        """Whether batches are read through ``dataset.start_batch`` by one reader thread."""
        return self.batch_sampler is not None and callable(
            getattr(self.dataset, "start_batch", None)
        )

    def start_batch(self, indices: Any) -> Any:
        """Start reading the batch for ``indices`` (``dataset.start_batch``); returns at once."""
        return self.dataset.start_batch(indices)

    def finish_batch(self, handle: Any) -> Any:
        """Wait for a batch started by :meth:`start_batch` and collate it."""
        return self.collate_fn(handle.result())

    def fetch(self, indices: Any) -> Any:
        """Read and collate the batch for one item of :attr:`index_sampler`, in this thread."""
        if self.batch_sampler is None:
            return self.collate_fn(self.dataset[indices])
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            samples = getitems(indices)
        else:
            samples = [self.dataset[i] for i in indices]
        return self.collate_fn(samples)

    def __iter__(self) -> ThreadBatchIterator:
        return ThreadBatchIterator(self)

    def _pop_resume(self) -> tuple[int, bool]:
        """(batches already handed out this epoch, skip them?) for the iterator that starts."""
        resume, self._resume = self._resume, (0, False)
        return resume

    def _record(self, batches_yielded: int, sampler_state: Any) -> None:
        self._batches_yielded = batches_yielded
        self._sampler_state = sampler_state

    def state_dict(self) -> dict[str, Any]:
        """Progress of the latest pass: batches handed out and the sampler state that goes with it.

        Returns
        -------
        dict
            ``{"batches_yielded": int, "sampler_state": dict or None}``; ``sampler_state`` is None
            when the index sampler has no ``state_dict``.
        """
        return {"batches_yielded": self._batches_yielded, "sampler_state": self._sampler_state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume: the next pass yields exactly the batches the saved pass had not yet handed out.

        A saved sampler state is loaded into the index sampler. Without one, the next pass skips
        ``batches_yielded`` index lists, which reproduces the interrupted pass only when the
        sampler's order is reproducible (sequential, or seeded and restored elsewhere). A pass
        that had handed out all its batches resumes with a fresh one.

        Parameters
        ----------
        state : Mapping
            A dict returned by :meth:`state_dict`.
        """
        if not isinstance(state, Mapping) or set(state) != {"batches_yielded", "sampler_state"}:
            raise ValueError(
                "ThreadDataLoader.load_state_dict expects the dict of state_dict() with keys "
                f"'batches_yielded' and 'sampler_state', got {state!r}."
            )
        done, sampler_state = state["batches_yielded"], state["sampler_state"]
        if isinstance(done, bool) or not isinstance(done, numbers.Integral) or done < 0:
            raise ValueError(f"state['batches_yielded'] must be an integer >= 0, got {done!r}.")
        if sampler_state is not None:
            load = getattr(self.index_sampler, "load_state_dict", None)
            if not callable(load):
                raise ValueError(
                    f"state['sampler_state'] is set but this loader's sampler "
                    f"{type(self.index_sampler).__name__} has no load_state_dict; build the loader "
                    "with the same sampler type as the run that saved the state."
                )
            load(sampler_state)
        try:
            finished = int(done) >= len(self)
        except TypeError:  # a sampler without len: trust the count
            finished = False
        self._resume = (0, False) if finished else (int(done), sampler_state is None)
        self._record(int(done), sampler_state)
