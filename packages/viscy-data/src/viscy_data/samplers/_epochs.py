"""Which epoch a sampler draws and where in it to start: ``set_epoch``, resume state."""

from collections.abc import Mapping

from viscy_data.samplers._checks import check_int

__all__ = ["EpochCursor"]


class EpochCursor:
    """Epoch, resume point and ``state_dict`` of a batch sampler (mixed into it).

    The sampler sets ``seed``, ``num_replicas``, ``_len`` (batches per rank and epoch),
    ``_epoch = 0``, ``_batches_done = 0``, ``_pending_start = None`` and ``_advance = False``;
    its ``__iter__`` consumes ``_pending_start`` and counts ``_batches_done``.
    """

    seed: int
    num_replicas: int
    _len: int
    _epoch: int
    _batches_done: int
    _pending_start: int | None
    _advance: bool

    @property
    def epoch(self) -> int:
        """Epoch of the current (or next, when set explicitly) iteration."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch the next iteration draws.

        A resume point set by :meth:`load_state_dict` or :meth:`set_start_batch` survives
        when ``epoch`` equals its epoch, so ``load_state_dict`` followed by
        ``set_epoch(trainer.current_epoch)`` resumes mid-epoch.
        """
        epoch = check_int("epoch", epoch, 0)
        if epoch != self._epoch:
            self._pending_start = None
        self._epoch, self._advance = epoch, False
        self._batches_done = self._pending_start or 0

    def set_start_batch(self, batches_done: int) -> None:
        """Make the next iteration of the current epoch skip its first ``batches_done`` batches.

        ``batches_done`` counts this rank's batches, in ``[0, len(self)]``.
        """
        start = check_int(f"batches_done (len={self._len})", batches_done, 0, self._len + 1)
        self._pending_start, self._batches_done, self._advance = start, start, False

    def state_dict(self) -> dict[str, int]:
        """Epoch and batches this rank has yielded in it, plus the seed and world size."""
        return {
            "epoch": self._epoch,
            "batches_done": self._batches_done,
            "seed": self.seed,
            "num_replicas": self.num_replicas,
        }

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Resume: the next iteration yields the batches of ``state["epoch"]`` not yet done.

        Only ``epoch`` and ``batches_done`` are required. A saved ``seed`` must match this
        sampler's; a saved ``num_replicas`` different from this one is converted through
        the global batch count (``ceil(done * saved / current)``), never repeating a batch.
        """
        missing = [k for k in ("epoch", "batches_done") if k not in state]
        if missing:
            raise ValueError(f"state is missing {missing}; got keys {sorted(state)}.")
        if "seed" in state and state["seed"] != self.seed:
            raise ValueError(
                f"state was saved with seed={state['seed']!r} but this sampler has "
                f"seed={self.seed}; build the sampler with the saved seed to resume."
            )
        done = check_int("state['batches_done']", state["batches_done"], 0)
        saved_replicas = check_int("state['num_replicas']", state.get("num_replicas", 1), 1)
        if "num_replicas" in state and saved_replicas != self.num_replicas:
            done = -(-done * saved_replicas // self.num_replicas)
        self._epoch = check_int("state['epoch']", state["epoch"], 0)
        self.set_start_batch(min(done, self._len))
