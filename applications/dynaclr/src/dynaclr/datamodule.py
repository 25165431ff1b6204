"""Wiring only: experiments YAML -> registry -> index -> dataset -> sampler -> loader -> transforms.

``MultiExperimentDataModule`` builds steps 1-6 of the data flow from plain arguments (all
settable from a LightningCLI YAML): the registry (:mod:`dynaclr.registry`), one cell index
and triplet dataset per split (:mod:`dynaclr.cell_index`, :mod:`dynaclr.triplet_dataset`),
the batch sampler and thread loader (:mod:`viscy_data`, synced to the trainer by
:mod:`dynaclr.trainer_batches`) and the device-side
:class:`~viscy_data.transforms.BatchPipeline`, which it runs in ``on_after_batch_transfer``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info

from dynaclr.cell_index.fovs import filter_fovs
from dynaclr.cell_index.index import MultiExperimentIndex
from dynaclr.chunk_aware import GROUP_COLUMNS, chunk_cache_bytes
from dynaclr.nonfinite import describe_nonfinite
from dynaclr.registry import ExperimentRegistry
from dynaclr.splits import FOVSplit, split_experiments, split_fovs, validation_sampling
from dynaclr.trainer_batches import (
    AllRowsOnce,
    FixedEpochBatches,
    TrainerSyncedBatches,
    TrainLoader,
    trainer_topology,
)
from dynaclr.triplet_dataset import MultiExperimentTripletDataset
from viscy_data.loaders.collate import identity_collate
from viscy_data.loaders.thread import ThreadDataLoader
from viscy_data.readers import MISSING_CHUNKS
from viscy_data.samplers.batch import FlexibleBatchSampler
from viscy_data.samplers.sequential import ShardedSequentialBatchSampler
from viscy_data.transforms import BatchPipeline, BatchTransform, ChannelDropout

__all__ = ["MultiExperimentDataModule"]

_log = logging.getLogger(__name__)


class MultiExperimentDataModule(pl.LightningDataModule):
    """Train DynaCLR across experiments: sampling, reading, normalization, augmentation.

    Parameters
    ----------
    experiments_yaml : str or Path
        The experiments registry (see ``docs/data-layout.md``).
    z_range : tuple of int
        ``(start, stop)`` Z planes read for every patch.
    yx_patch_size : tuple of int
        Patch size read from the stores, in pixels (larger than the final size leaves room for
        rotation before the centre crop).
    final_yx_patch_size : tuple of int
        Patch size the model sees after the centre crop.
    val_experiments : list of str
        Experiments held out for validation (whole experiments). Empty: no validation unless
        ``val_fovs`` or ``val_fraction`` hold out FOVs.
    tau_range : tuple of float, default (0.5, 2.0)
        Anchor-positive offset range in hours.
    tau_decay_rate : float, default 2.0
        Decay of the offset weights (0: uniform).
    batch_size : int, default 128
        Anchors per batch (per rank).
    num_workers : int, default 2
        Loader threads (0 reads in the training thread).
    experiment_aware : bool, default True
        Each batch draws its rows from one experiment (chosen by anchor count or
        ``experiment_weights``), so negatives share imaging conditions.
    condition_balanced : bool, default True
        Conditions of the batch's experiment get equal shares (or ``condition_ratio``).
    leaky : float, default 0.0
        Fraction of each batch drawn from the other experiments, in [0, 1).
    temporal_enrichment : bool, default False
        Concentrate ``1 - temporal_global_fraction`` of each training batch within
        ``temporal_window_hours`` of a focal hours-post-infection value.
    temporal_window_hours : float, default 2.0
        Half-width of the focal window, in hours.
    temporal_global_fraction : float, default 0.3
        Fraction of a batch drawn outside the focal window.
    experiment_weights : dict of str to float, optional
        Relative weight of each experiment when choosing a batch's experiment (default: anchor
        counts).
    condition_ratio : dict of str to float, optional
        Relative share of each condition within a batch (default: equal).
        See ``docs/viscy-data/sampler.md`` for every sampling axis. Validation uses the same
        axes without temporal enrichment.
    channel_dropout_channels : tuple of int, default (1,)
        Model channel positions that :class:`viscy_data.ChannelDropout` may zero (training only).
    channel_dropout_prob : float, default 0.5
        Per-sample probability of zeroing each listed channel.
    normalizations : list of BatchTransform, default ()
        Applied to every batch (training, validation, prediction), e.g.
        :class:`viscy_data.transforms.Normalize`.
    augmentations : list of BatchTransform, default ()
        Applied to training batches only, after the normalizations.
    hcl_beta : float, default 0.5
        Hard-negative concentration of the loss; the ``dynaclr`` CLI links it to
        ``model.loss_function.init_args.beta``.
    cache_pool_bytes : int, default 0
        Shared tensorstore chunk cache (0: off).
    seed : int, default 0
        Seed of the sampler, positives and augmentations.
    include_wells : list of str, optional
        Only these wells (``"A/1"``) of every experiment.
    exclude_fovs : list of str, optional
        FOVs to leave out: ``"A/1/0"`` in every experiment, ``"experiment/A/1/0"`` in one.
    pin_memory : bool, default True
        Pin batches in page-locked memory when CUDA is available.
    prefetch : int, default 2
        Ready batches kept in the loader's queue beyond those being read.
    predict_experiments : list of str, optional
        Experiments embedded by ``predict`` (default: all).
    val_fovs : list of str, optional
        FOVs of the training experiments held out for validation: ``"experiment/A/1/0"``, or
        ``"A/1/0"`` in every training experiment that has it. Combines with
        ``val_experiments`` and ``val_fraction``; train and validation FOVs are disjoint.
    val_fraction : float, default 0.0
        Fraction in [0, 1) of each training experiment's FOVs held out for validation, per
        condition (``round_half_up(fraction * n)`` of a condition's ``n`` FOVs, counting those
        of ``val_fovs``; a condition with at least two FOVs keeps at least one on each side,
        one with a single FOV keeps it for training). Chosen from ``seed``; the chosen FOVs are
        printed at setup and saved as ``val_fovs`` in the run's config. 0: off.
    groups_per_batch : int, optional
        Chunk-aware batching: each batch draws its anchors from at most this many (experiment,
        FOV, frame) groups instead of from everywhere, so each image chunk is decoded for many
        patches (``FlexibleBatchSampler(group_by=...)``; every anchor is still drawn once
        before any twice). With ``cache_pool_bytes=0`` the chunk cache is then sized for the
        batches in flight (:func:`dynaclr.chunk_aware.chunk_cache_bytes`). Composes with
        every other sampling axis. None: off (random batches).
    tau_per_group : bool, default False
        Draw one tau per (batch, FOV, frame) instead of per anchor, so a group's positives
        come from one frame too (the epoch's taus still follow the same distribution).
    missing_chunks : {"warn", "error"}, default "warn"
        A patch that needs a chunk file missing from its store (zarr would read zeros):
        ``"warn"`` once per FOV, naming experiment, FOV, channels and frames, then read those
        chunks as zeros; ``"error"`` stops the run (exit status 1) with that message.
    """

    def __init__(
        self,
        experiments_yaml: str | Path,
        z_range: tuple[int, int],
        yx_patch_size: tuple[int, int],
        final_yx_patch_size: tuple[int, int],
        val_experiments: list[str] | None = None,
        tau_range: tuple[float, float] = (0.5, 2.0),
        tau_decay_rate: float = 2.0,
        batch_size: int = 128,
        num_workers: int = 2,
        experiment_aware: bool = True,
        condition_balanced: bool = True,
        leaky: float = 0.0,
        temporal_enrichment: bool = False,
        temporal_window_hours: float = 2.0,
        temporal_global_fraction: float = 0.3,
        experiment_weights: dict[str, float] | None = None,
        condition_ratio: dict[str, float] | None = None,
        channel_dropout_channels: Sequence[int] = (1,),
        channel_dropout_prob: float = 0.5,
        normalizations: Sequence[BatchTransform] = (),
        augmentations: Sequence[BatchTransform] = (),
        hcl_beta: float = 0.5,
        cache_pool_bytes: int = 0,
        seed: int = 0,
        include_wells: list[str] | None = None,
        exclude_fovs: list[str] | None = None,
        pin_memory: bool = True,
        prefetch: int = 2,
        predict_experiments: list[str] | None = None,
        val_fovs: list[str] | None = None,
        val_fraction: float = 0.0,
        groups_per_batch: int | None = None,
        tau_per_group: bool = False,
        missing_chunks: Literal["warn", "error"] = "warn",
    ) -> None:
        super().__init__()
        if missing_chunks not in MISSING_CHUNKS:
            raise ValueError(
                f"missing_chunks must be one of {list(MISSING_CHUNKS)}, got {missing_chunks!r}"
            )
        self.missing_chunks = missing_chunks
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
            ("prefetch", prefetch, 0),
            ("cache_pool_bytes", cache_pool_bytes, 0),
        ):
            if int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.experiments_yaml = experiments_yaml
        self.z_range = tuple(z_range)
        self.yx_patch_size = tuple(yx_patch_size)
        self.final_yx_patch_size = tuple(final_yx_patch_size)
        if any(f > p for f, p in zip(self.final_yx_patch_size, self.yx_patch_size)):
            raise ValueError(
                f"final_yx_patch_size={self.final_yx_patch_size} must not exceed "
                f"yx_patch_size={self.yx_patch_size}"
            )
        self.val_experiments = list(val_experiments or [])
        self.tau_range = tuple(tau_range)
        self.tau_decay_rate = tau_decay_rate
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.experiment_aware = experiment_aware
        self.condition_balanced = condition_balanced
        self.leaky = leaky
        self.temporal_enrichment = temporal_enrichment
        self.temporal_window_hours = temporal_window_hours
        self.temporal_global_fraction = temporal_global_fraction
        self.experiment_weights = experiment_weights
        self.condition_ratio = condition_ratio
        self.channel_dropout_channels = tuple(channel_dropout_channels)
        self.channel_dropout_prob = channel_dropout_prob
        self.normalizations = list(normalizations)
        self.augmentations = list(augmentations)
        self.hcl_beta = hcl_beta
        self.cache_pool_bytes = int(cache_pool_bytes)
        self.seed = int(seed)
        self.include_wells = include_wells
        self.exclude_fovs = exclude_fovs
        self.pin_memory = pin_memory
        self.prefetch = int(prefetch)
        self.predict_experiments = predict_experiments
        self.val_fovs = list(val_fovs) if val_fovs is not None else None
        self.val_fraction = float(val_fraction)
        if groups_per_batch is not None and (
            int(groups_per_batch) != groups_per_batch or groups_per_batch < 1
        ):
            raise ValueError(
                f"groups_per_batch must be an integer >= 1 or None, got {groups_per_batch!r}"
            )
        self.groups_per_batch = None if groups_per_batch is None else int(groups_per_batch)
        self.tau_per_group = bool(tau_per_group)
        self.fov_split: FOVSplit | None = None
        self.registry: ExperimentRegistry | None = None
        self.train_dataset: MultiExperimentTripletDataset | None = None
        self.val_dataset: MultiExperimentTripletDataset | None = None
        self.predict_dataset: MultiExperimentTripletDataset | None = None
        self.pipeline = BatchPipeline(
            self.normalizations,
            self.augmentations,
            self.final_yx_patch_size,
            channel_dropout=(
                ChannelDropout(self.channel_dropout_channels, p=channel_dropout_prob)
                if self.channel_dropout_channels and channel_dropout_prob > 0
                else None
            ),
            seed=self.seed,
        )
        self._train_loader: TrainLoader | None = None
        self._pending_state: dict[str, int] | None = None

    # ----------------------------------------------------------------- setup
    def setup(self, stage: str | None = None) -> None:
        """Load the registry, split by experiments and FOVs, build an index and dataset per split.

        Raises
        ------
        ValueError
            Unknown names in ``val_experiments`` / ``val_fovs`` / ``predict_experiments``, a
            split that leaves a side empty, or normalization statistics missing for some FOVs.
        """
        self.registry = ExperimentRegistry.from_yaml(self.experiments_yaml)
        names = [exp.name for exp in self.registry.experiments]
        where = f"{self.experiments_yaml}"
        splits = split_experiments(
            names, self.val_experiments, self.predict_experiments, stage, where
        )
        train, val, extra = splits.train, splits.val, {"train": [], "val": []}
        if stage in (None, "fit", "validate") and (self.val_fovs or self.val_fraction):
            kept, _ = filter_fovs(self.registry, self.include_wells, self.exclude_fovs, warn=False)
            self.fov_split = split_fovs(
                kept, self.val_experiments, self.val_fovs, self.val_fraction, self.seed, where
            )
            rank_zero_info(
                f"dynaclr: validation FOVs (val_experiments={self.val_experiments}, val_fovs="
                f"{self.val_fovs}, val_fraction={self.val_fraction}, seed={self.seed}):\n"
                f"{self.fov_split.summary()}"
            )
            train = self.fov_split.experiments_of("train") if train is not None else None
            val = self.fov_split.experiments_of("val")
            extra = {side: self.fov_split.excluded_from(side) for side in extra}
        if train is not None:
            self.train_dataset = self._dataset(train, fit=True, exclude=extra["train"])
            self._check_batch_fits(train)
        if stage in (None, "fit", "validate"):
            self.val_dataset = self._dataset(val, fit=True, exclude=extra["val"]) if val else None
            self._val_split = (list(val or []), list(extra["val"]))
        if splits.predict is not None:
            self.predict_dataset = self._dataset(splits.predict, fit=False)

    def _check_batch_fits(self, train: list[str]) -> None:
        world, _ = trainer_topology(self._trainer())
        anchors = len(self.train_dataset)
        if anchors < self.batch_size * world:
            raise ValueError(
                f"batch_size={self.batch_size} on {world} rank(s) needs at least "
                f"{self.batch_size * world} training anchors, but experiments {train} of "
                f"{self.experiments_yaml} have {anchors}; lower data.batch_size or add data."
            )

    def _dataset(
        self, names: Sequence[str], fit: bool, exclude: Sequence[str] = ()
    ) -> MultiExperimentTripletDataset:
        registry = self.registry.subset(names)
        exclude_fovs = [*(self.exclude_fovs or []), *exclude] if exclude else self.exclude_fovs
        index = MultiExperimentIndex(
            registry,
            z_range=self.z_range,
            yx_patch_size=self.yx_patch_size,
            tau_range_hours=self.tau_range,
            include_wells=self.include_wells,
            exclude_fovs=exclude_fovs,
            require_anchors=fit,
            tau_parameter="tau_range",
        )
        cache = self.cache_pool_bytes
        if fit and self.groups_per_batch is not None and cache == 0:
            in_flight = max(1, self.num_workers)
            cache = chunk_cache_bytes(index, self.groups_per_batch, self.tau_per_group, in_flight)
            rank_zero_info(
                f"dynaclr: chunk-aware batching ({self.groups_per_batch} groups per batch) over "
                f"{list(names)}: chunk cache {cache / 2**20:,.0f} MiB"
            )
        dataset = MultiExperimentTripletDataset(
            index,
            fit=fit,
            tau_decay_rate=self.tau_decay_rate,
            seed=self.seed,
            cache_pool_bytes=cache,
            tau_per_group=fit and self.tau_per_group,
            missing_chunks=self.missing_chunks,
        )
        try:
            dataset.check_normalization(self.normalizations)
        except ValueError as err:
            raise ValueError(f"{err} (experiments YAML {self.experiments_yaml})") from err
        _log.info("%s index:\n%s", "fit" if fit else "predict", index.summary())
        return dataset

    # ----------------------------------------------------------- trainer
    def _trainer(self):
        """The attached trainer, or None (Lightning's ``trainer`` property may be unset)."""
        return getattr(self, "trainer", None)

    def _loader(self, dataset, batch_sampler, cls: type = ThreadDataLoader) -> ThreadDataLoader:
        return cls(
            dataset,
            batch_sampler=batch_sampler,
            collate_fn=identity_collate,
            num_workers=self.num_workers,
            prefetch=self.prefetch,
            pin_memory=self.pin_memory,
        )

    def _sampler(self, dataset, temporal: bool, drop_last: bool) -> FlexibleBatchSampler:
        world, rank = trainer_topology(self._trainer())
        grouped = self.groups_per_batch is not None
        columns = ("experiment", "condition", "hours_post_infection")
        if grouped:
            columns += tuple(c for c in GROUP_COLUMNS if c not in columns)
        anchors = dataset.index.valid_anchor_columns(*columns)
        experiment_weights, condition_ratio = self.experiment_weights, self.condition_ratio
        if dataset is self.val_dataset:
            conditions = set(anchors["condition"].cast(str).unique())
            experiment_weights, condition_ratio = validation_sampling(
                experiment_weights, condition_ratio, conditions
            )
        return FlexibleBatchSampler(
            anchors,
            batch_size=self.batch_size,
            experiment_aware=self.experiment_aware,
            leaky=self.leaky,
            experiment_weights=experiment_weights,
            condition_balanced=self.condition_balanced,
            condition_ratio=condition_ratio,
            temporal_enrichment=temporal,
            temporal_window_hours=self.temporal_window_hours,
            temporal_global_fraction=self.temporal_global_fraction,
            num_replicas=world,
            rank=rank,
            seed=self.seed,
            drop_last=drop_last,
            group_by=GROUP_COLUMNS if grouped else None,
            groups_per_batch=self.groups_per_batch,
        )

    # --------------------------------------------------------- dataloaders
    def train_dataloader(self) -> ThreadDataLoader:
        """Batches from a self-sharding :class:`FlexibleBatchSampler`, epoch from the trainer."""
        if self.train_dataset is None:
            raise RuntimeError("call setup('fit') before train_dataloader()")
        sampler = self._sampler(self.train_dataset, self.temporal_enrichment, drop_last=True)
        batches = TrainerSyncedBatches(sampler, self.train_dataset, self)
        if self._pending_state is not None:
            batches.load_state_dict(self._pending_state)
            self._pending_state = None
        self._train_loader = self._loader(self.train_dataset, batches, TrainLoader)
        return self._train_loader

    def val_dataloader(self) -> ThreadDataLoader | list:
        """The same seeded validation batches every epoch, sharded across ranks.

        No batch holds a row twice; with fewer validation anchors than ``batch_size`` per
        rank, each rank validates one smaller batch of its share of every anchor.
        """
        if self.val_dataset is None:
            return []
        world, rank = trainer_topology(self._trainer())
        if len(self.val_dataset) < self.batch_size * world:
            batches = AllRowsOnce(self.val_dataset, world, rank, self.batch_size)
            return self._loader(self.val_dataset, batches)
        sampler = self._sampler(self.val_dataset, temporal=False, drop_last=False)
        return self._loader(self.val_dataset, FixedEpochBatches(sampler, self.val_dataset))

    def predict_dataloader(self) -> ThreadDataLoader:
        """Every observation once, in order, each rank a contiguous share."""
        if self.predict_dataset is None:
            raise RuntimeError("call setup('predict') before predict_dataloader()")
        world, rank = trainer_topology(self._trainer())
        sampler = ShardedSequentialBatchSampler(
            len(self.predict_dataset), self.batch_size, num_replicas=world, rank=rank
        )
        return self._loader(self.predict_dataset, sampler)

    # ------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, int]:
        """Sampler position: epoch and batches the training loop consumed in it.

        See :meth:`TrainLoader.resume_state` (read-ahead batches do not count).
        """
        return self._train_loader.resume_state() if self._train_loader is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the sampler position saved by :meth:`state_dict`."""
        if not state_dict:
            return
        if self._train_loader is None:
            self._pending_state = dict(state_dict)
        else:
            self._train_loader.batch_sampler.load_state_dict(state_dict)

    def validation_cells(
        self, max_cells: int = 20000, seed: int = 0
    ) -> MultiExperimentTripletDataset | None:
        """Every observation of the validation split, as a predict-mode dataset (or None).

        Used by :class:`dynaclr.evaluate.OnlineEvaluation`. With more than ``max_cells``
        observations, whole tracks are drawn (seeded) until ``max_cells`` is reached: the
        dataset's ``rows`` are then the chosen rows of ``index.tracks``.
        """
        names, excluded = getattr(self, "_val_split", ([], []))
        if not names:
            return None
        dataset = self._dataset(names, fit=False, exclude=excluded)
        track = dataset.index.tracks.get_column("global_track_id").to_numpy()
        if track.size > max_cells:
            ids, sizes = np.unique(track, return_counts=True)
            order = np.random.default_rng(seed).permutation(ids.size)
            chosen = ids[order[np.cumsum(sizes[order]) <= max_cells]]
            dataset.rows = np.flatnonzero(np.isin(track, chosen if chosen.size else ids[order[:1]]))
        return dataset

    def cells_dataloader(self, dataset: MultiExperimentTripletDataset) -> ThreadDataLoader:
        """Batches of ``dataset`` (a :meth:`validation_cells` dataset) in order, on this rank."""
        sampler = ShardedSequentialBatchSampler(len(dataset), self.batch_size)
        return self._loader(dataset, sampler)

    def describe_nonfinite(self, batch: dict, stage: str) -> str | None:
        """Experiments, FOVs, frames and channels of ``batch``'s non-finite pixels, or None.

        Called by the model when a ``stage`` (``"train"`` or ``"val"``) loss is not finite
        (:func:`dynaclr.nonfinite.describe_nonfinite`).
        """
        dataset = self.train_dataset if stage == "train" else self.val_dataset
        return describe_nonfinite(dataset, batch)

    # --------------------------------------------------------- transforms
    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Run :attr:`pipeline` on the batch: normalize, (training) augment, crop, drop channels.

        Training mode is the trainer's (``trainer.training``); with no trainer attached the
        batch is treated as a training batch. Random steps draw from
        ``pipeline.generator(epoch, step, rank, dataloader_idx)``. The ``*_norm_meta`` entries
        are consumed, so the model only sees tensors.
        """
        if not isinstance(batch, dict):  # e.g. the model summary's example input
            return batch
        trainer = self._trainer()
        epoch = step = 0
        if trainer is not None:
            epoch = trainer.current_epoch
            step = trainer.fit_loop.epoch_loop.batch_progress.current.ready
        _, rank = trainer_topology(trainer)
        training = trainer is None or bool(trainer.training)
        generator = self.pipeline.generator(epoch, step, rank, dataloader_idx)
        return self.pipeline(batch, training, generator)

    def transform_batch(
        self, batch: dict, training: bool, generator: torch.Generator | None = None
    ) -> dict:
        """Apply the device-side transforms (:attr:`pipeline`) to a batch of these loaders.

        Parameters
        ----------
        batch : dict
            ``anchor`` (and ``positive``/``negative``) tensors with their ``*_norm_meta``.
        training : bool
            True: normalizations, augmentations, crop, channel dropout. False:
            normalizations and crop only (what validation and prediction see).
        generator : torch.Generator, optional
            CPU generator of the random transforms (default: seeded from ``seed``).
        """
        return self.pipeline(batch, training, generator)
