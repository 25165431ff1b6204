"""Step 4: index rows -> batch dicts of anchor (and positive) patches, through one reader.

A batch of anchor positions becomes, in a few vectorised steps::

    positions -> tracks rows -> keyed uniforms (seed, epoch, position)
              -> positive rows (the index's rule and draw, ``MultiExperimentIndex.draw_positives``)
              -> one concurrent tensorstore read of all anchor and positive patches
              -> {"anchor", "positive", "anchor_norm_meta", "positive_norm_meta"}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dynaclr.cell_index.borders import patch_corner
from dynaclr.cell_index.index import MultiExperimentIndex
from viscy_data.keyed_random import keyed_uniform
from viscy_data.normalization import NormTable
from viscy_data.readers import PatchReader, PatchRequest, PendingPatches, tensorstore_spec

__all__ = ["INDEX_COLUMNS", "MultiExperimentTripletDataset", "PendingBatch"]

INDEX_COLUMNS = ("experiment", "fov_name", "track_id", "t", "id", "parent_track_id", "y", "x")
_TAU_STREAM, _PICK_STREAM = 0, 1


class MultiExperimentTripletDataset(Dataset):
    """Anchor/positive patch pairs across experiments, read in whole batches.

    Contract of ``__getitems__(positions)`` (positions are rows of ``index.valid_anchors`` in
    fit mode, rows of ``index.tracks`` in predict mode):

    - ``anchor``: float32 tensor ``(B, C, Z, Y, X)``; C = source channels in registry order
      (remapped per experiment through ``registry.channel_maps``), Z = ``index.z_range``,
      (Y, X) = ``index.yx_patch_size``.
    - ``anchor_norm_meta``: ``{channel position: {level: {stat: (B,) tensor}}}`` or None when
      no FOV of the batch has statistics.
    - fit mode: ``positive`` (same shape) and ``positive_norm_meta``.
    - predict mode: ``index``, a dict of per-sample identifiers (lists), columns
      ``experiment, fov_name, track_id, t, id, parent_track_id, y, x`` as present, and
      ``row`` (the observation's row in ``index.tracks``).

    The positive of an anchor follows the index's rule: a tau is drawn per sample with the
    decaying weights of :func:`dynaclr.sample_tau`; when the anchor has no positive at that
    offset the nearest offset in range that has one is used; among several candidates (two
    daughters) one is picked at random. Every draw is keyed on ``(seed, epoch, position)``, so
    the same (seed, epoch) gives the same positives whatever the thread timing or batch
    composition. With ``tau_per_group`` the anchors of one FOV and frame in a batch share one
    tau draw (keyed on the first of their positions in the batch), so their positives come
    from one frame too; each group's tau still follows :func:`dynaclr.sample_tau`.

    Parameters
    ----------
    index : MultiExperimentIndex
        The cell index; available as ``dataset.index``.
    fit : bool, default True
        True: anchors with positives (training/validation). False: every observation, no
        positives (prediction).
    tau_range_hours : tuple of float or None, default None
        Must equal the index's range when given (None takes it).
    tau_decay_rate : float, default 2.0
        Decay of the tau weights (0 = uniform).
    seed : int, default 0
        Seed of every random draw.
    cache_pool_bytes : int, default 0
        Shared tensorstore chunk cache; 0 disables it.
    tau_per_group : bool, default False
        One tau per (batch, FOV, frame) instead of one per anchor (chunk-aware batching).
    missing_chunks : {"warn", "error"}, default "warn"
        A patch needing a chunk file its store lacks: warn once per FOV (naming experiment,
        FOV, channels and frames) and read zeros, or raise
        :class:`viscy_data.readers.MissingChunksError` (see :class:`PatchReader`).

    Raises
    ------
    ValueError
        When ``tau_range_hours`` differs from the index's range.
    """

    def __init__(
        self,
        index: MultiExperimentIndex,
        fit: bool = True,
        tau_range_hours: Sequence[float] | None = None,
        tau_decay_rate: float = 2.0,
        seed: int = 0,
        cache_pool_bytes: int = 0,
        tau_per_group: bool = False,
        missing_chunks: str = "warn",
    ) -> None:
        index_range = tuple(float(h) for h in index.tau_range_hours)
        if tau_range_hours is not None and tuple(float(h) for h in tau_range_hours) != index_range:
            raise ValueError(
                f"tau_range_hours={tuple(tau_range_hours)!r} differs from the range the index "
                f"computed its valid anchors for ({index_range!r}); build the index with the "
                "same range or pass tau_range_hours=None."
            )
        self.index = index
        self.fit = fit
        self.tau_range_hours = index_range
        self.tau_decay_rate = float(tau_decay_rate)
        self.seed = int(seed)
        self.cache_pool_bytes = int(cache_pool_bytes)
        self.tau_per_group = bool(tau_per_group)
        self.epoch = 0

        tracks = index.tracks
        if fit:
            self.rows = index.anchor_rows.astype(np.int64)
        else:
            self.rows = np.arange(tracks.height, dtype=np.int64)
        fov_keys = tracks.select("experiment", "fov_name")
        fov_table = fov_keys.unique(maintain_order=True).with_row_index("fov_code")
        self._fov_code = (
            fov_keys.join(
                fov_table, on=["experiment", "fov_name"], how="left", maintain_order="left"
            )
            .get_column("fov_code")
            .to_numpy()
            .astype(np.int64)
        )
        experiments = fov_table.get_column("experiment").to_list()
        fov_names = fov_table.get_column("fov_name").to_list()
        fovs = [index.fovs[(e, f)] for e, f in zip(experiments, fov_names)]
        registry = index.registry
        self._keys = [(fov.store_path, fov.fov_name) for fov in fovs]
        self._channels = [
            tuple(registry.channel_maps[e][p] for p in range(registry.num_source_channels))
            for e in experiments
        ]
        self.reader = PatchReader(
            {key: tensorstore_spec(fov) for key, fov in zip(self._keys, fovs)},
            cache_pool_bytes=self.cache_pool_bytes,
            missing_chunks=missing_chunks,
            labels={
                key: f"experiment {e!r}, FOV {f!r} of {fov.store_path}"
                for key, e, f, fov in zip(self._keys, experiments, fov_names, fovs)
            },
            channel_names={key: fov.channel_names for key, fov in zip(self._keys, fovs)},
        )
        self.norm = NormTable(
            [fov.normalization for fov in fovs],
            [registry.get_experiment(e).source_channel for e in experiments],
            n_frames=max(fov.shape[0] for fov in fovs),
            fov_labels=[
                f"{e}:{f} in {fov.store_path}" for e, f, fov in zip(experiments, fov_names, fovs)
            ],
        )
        self._t = tracks.get_column("t").to_numpy().astype(np.int64)
        self._frame_span = int(self._t.max(initial=0)) + 1  # (FOV, frame) codes for tau_per_group
        height, width = index.yx_patch_size
        self._y0 = patch_corner(tracks.get_column("y_clamp").to_numpy(), height)
        self._x0 = patch_corner(tracks.get_column("x_clamp").to_numpy(), width)
        present = [c for c in INDEX_COLUMNS if c in tracks.columns]
        self._identifiers = tracks.select(present) if not fit else None

    def check_normalization(self, transforms: Sequence[Any]) -> None:
        """Fail before training when a transform needs statistics some observation lacks.

        Every transform with a ``level`` attribute (e.g. :class:`viscy_data.transforms.Normalize`)
        is checked with :meth:`NormTable.require` over every observation this dataset may read:
        its ``required_stats`` must exist and its ``divisor`` must be usable given its ``eps``.

        Raises
        ------
        ValueError
            Naming the FOV and store, channel, level, statistic and frame.
        """
        for transform in transforms:
            level = getattr(transform, "level", None)
            if level is None:
                continue
            self.norm.require(
                level,
                tuple(getattr(transform, "required_stats", ())),
                divisor=getattr(transform, "divisor", None),
                eps=float(getattr(transform, "eps", 0.0)),
                fov_codes=self._fov_code,
                frames=self._t,
            )

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch that keys every random draw (validation keeps epoch 0)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, position: int) -> dict[str, Any]:
        """One sample, unbatched (a batch of one with the batch axis removed)."""
        batch = self.__getitems__([position])
        return {key: _unbatch(value) for key, value in batch.items()}

    def __getitems__(self, positions: Sequence[int]) -> dict[str, Any]:
        return self.start_batch(positions).result()

    def start_batch(self, positions: Sequence[int]) -> PendingBatch:
        """Start reading the batch at ``positions``; ``.result()`` returns ``__getitems__``'s dict.

        Positives, windows and normalization metadata are worked out here, and every patch
        of the batch (anchors and positives) goes to tensorstore in one read that runs on its
        threads; :class:`viscy_data.ThreadDataLoader` uses this to keep several batches in
        flight from one thread.

        Raises
        ------
        IndexError
            When a position is outside ``[0, len(self))``.
        """
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= len(self)):
            raise IndexError(f"positions must lie in [0, {len(self)}), got {positions.tolist()}")
        anchors = self.rows[positions]
        positives = self.positive_rows(positions) if self.fit else anchors[:0]
        # One read for anchors and positives, so every chunk the batch needs is decoded at once.
        pending = self._read_async(np.concatenate([anchors, positives]))
        fields: dict[str, Any] = {"anchor_norm_meta": self._norm_meta(anchors)}
        if self.fit:
            fields["positive_norm_meta"] = self._norm_meta(positives)
            # index rows, so a non-finite loss can name its cells (dynaclr.nonfinite)
            fields["rows"] = {
                "anchor": torch.from_numpy(anchors),
                "positive": torch.from_numpy(positives),
            }
        else:
            fields["index"] = self._identifiers[anchors].to_dict(as_series=False)
            fields["index"]["row"] = anchors.tolist()
        return PendingBatch(pending, anchors.size, fields, fit=self.fit)

    def _norm_meta(self, rows: np.ndarray):
        return self.norm.gather(self._fov_code[rows], self._t[rows])

    def positive_rows(self, positions: np.ndarray) -> np.ndarray:
        """Rows of ``index.tracks`` used as positives for the anchors at ``positions``.

        The draw is keyed on ``(seed, epoch, position)`` and made by the index
        (:meth:`MultiExperimentIndex.draw_positives`).

        Raises
        ------
        RuntimeError
            When an anchor has no positive at any offset in range (the data changed under the
            index); names the experiment, FOV, track and frame.
        """
        positions = np.asarray(positions, dtype=np.int64)
        tau_keys = self._group_first_positions(positions) if self.tau_per_group else positions
        u_tau = keyed_uniform(self.seed, _TAU_STREAM, tau_keys, self.epoch)
        u_pick = keyed_uniform(self.seed, _PICK_STREAM, positions, self.epoch)
        return self.index.draw_positives(self.rows[positions], u_tau, u_pick, self.tau_decay_rate)

    def _group_first_positions(self, positions: np.ndarray) -> np.ndarray:
        """For each position, the smallest position of the batch in its (FOV, frame) group."""
        rows = self.rows[positions]
        group = self._fov_code[rows] * self._frame_span + self._t[rows]
        _, which = np.unique(group, return_inverse=True)
        first = np.full(which.max(initial=-1) + 1, np.iinfo(np.int64).max)
        np.minimum.at(first, which, positions)
        return first[which]

    def _read_async(self, rows: np.ndarray) -> PendingPatches:
        return self.reader.read_async(*self.patch_request(rows))

    def patch_request(self, rows: np.ndarray) -> PatchRequest:
        """What to read for the patches of ``rows`` (rows of ``index.tracks``), unread.

        ``dataset.reader.read(*request)`` reads them; ``dataset.reader.view(request)`` gives
        the tensorstore view (benchmarks use it to time tensorstore alone).
        """
        codes = self._fov_code[rows].tolist()
        return PatchRequest(
            [self._keys[c] for c in codes],
            self._t[rows],
            [self._channels[c] for c in codes],
            self.index.z_range,
            self._y0[rows],
            self._x0[rows],
            tuple(self.index.yx_patch_size),
        )


class PendingBatch:
    """A batch being read (see :meth:`MultiExperimentTripletDataset.start_batch`)."""

    def __init__(
        self, patches: PendingPatches, n_anchors: int, fields: dict[str, Any], fit: bool
    ) -> None:
        self._patches, self._n_anchors, self._fields, self._fit = patches, n_anchors, fields, fit

    def result(self) -> dict[str, Any]:
        """Wait for the patches; the batch dict (``anchor`` first, then ``positive`` in fit mode).

        Raises
        ------
        viscy_data.readers.PatchReadError
            When a patch could not be read; names the array, frame and corner.
        """
        patches = torch.from_numpy(self._patches.result())
        batch = {"anchor": patches[: self._n_anchors], **self._fields}
        if self._fit:
            batch["positive"] = patches[self._n_anchors :]
        return batch


def _unbatch(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value[0]
    if isinstance(value, dict):
        return {key: _unbatch(item) for key, item in value.items()}
    if isinstance(value, list):
        return value[0]
    return value
