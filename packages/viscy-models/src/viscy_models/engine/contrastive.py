"""LightningModule for contrastive training."""

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from viscy_models.engine._images import (
    image_grid,
    log_image_grid,
    middle_z_slices,
    save_image_grid,
)
from viscy_models.engine.finite import check_finite_loss, check_finite_state
from viscy_models.losses.ntxent_hcl import NTXentHCL

_TRIPLET_LOSSES = (nn.TripletMarginLoss, nn.TripletMarginWithDistanceLoss)


def _list_keys(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return f"{len(keys)} [{shown}{', ...' if len(keys) > limit else ''}]"


class ContrastiveModule(LightningModule):
    """Train an encoder on anchor/positive pairs with a contrastive loss.

    Batch contract: a dict with ``"anchor"`` and ``"positive"`` tensors of shape
    ``(B, C, Z, Y, X)``, plus ``"negative"`` (same shape) when the loss is a triplet loss
    (`torch.nn.TripletMarginLoss` or `TripletMarginWithDistanceLoss`), and optionally
    ``"index"`` (passed through by `predict_step`). Other keys are ignored. The encoder
    maps ``(B, C, Z, Y, X)`` to ``(features, projections)``; the loss sees projections.

    Logged metrics (every rank makes the same calls, with ``sync_dist=True`` and an
    explicit ``batch_size=B``): ``loss/train`` (step and epoch, as ``loss/train_step``
    and ``loss/train_epoch``) and ``loss/val`` (epoch); per stage, epoch means of the
    positive-pair cosine similarity ``similarity/positive/{stage}``, the mean negative
    cosine similarity ``similarity/negative/{stage}`` and their difference
    ``similarity/margin/{stage}`` (computed on the projections); and, for losses that
    report it (`NTXentHCL`), ``negatives_per_anchor/{stage}``. Grids of middle-Z slices
    (a row per sample: anchor channels, then positive channels) go to ``images/{stage}``
    every epoch through loggers with an image API (TensorBoard, W&B); when no logger takes
    images (only the CSV logger), they are written as ``<log_dir>/images/{stage}_epochNNN.png``
    (tiles enlarged to at least 96 pixels).

    Parameters
    ----------
    encoder : nn.Module
        Maps ``(B, C, Z, Y, X)`` to ``(features, projections)``, e.g. `ContrastiveEncoder`.
    loss_function : nn.Module or None
        Called as ``loss(projections, labels)`` (metric-learning convention), or as
        ``loss(anchor, positive, negative)`` for triplet losses. None (default) builds
        ``NTXentHCL()``.
    lr : float
        AdamW learning rate, default 1e-3. With LightningCLI, ``optimizer:`` and
        ``lr_scheduler:`` entries replace `configure_optimizers` instead.
    log_batches_per_epoch : int
        Batches per epoch and stage whose samples go into the image grid, default 8.
    log_samples_per_batch : int
        Samples taken from each of those batches, default 1. 0 disables images.
    example_input_array_shape : sequence of int or None
        Shape of the zeros tensor set as ``example_input_array`` (used by Lightning's
        model summary), default ``(1, 2, 15, 256, 256)``; None sets none.
    ckpt_path : str, os.PathLike or None
        Lightning checkpoint to load encoder weights from (keys ``encoder.*`` of its
        ``state_dict``, or a plain encoder state dict), default None.
    check_finite : bool, default True
        Stop at the first non-finite training or validation loss, before it changes the
        weights (:mod:`viscy_models.engine.finite`; one device sync per step). False only to
        measure what the check costs. Checkpoints with non-finite weights are refused either way.

    Raises
    ------
    ValueError
        For a non-positive ``lr``, negative logging counts, an example shape that is not
        5-D or does not match the encoder's ``in_channels``/``in_stack_depth``, or
        checkpoint weights that do not match the encoder (missing/unexpected keys listed).
    FileNotFoundError
        If ``ckpt_path`` does not exist.
    """

    def __init__(
        self,
        encoder: nn.Module,
        loss_function: nn.Module | None = None,
        lr: float = 1e-3,
        log_batches_per_epoch: int = 8,
        log_samples_per_batch: int = 1,
        example_input_array_shape: Sequence[int] | None = (1, 2, 15, 256, 256),
        ckpt_path: str | os.PathLike | None = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        for name, value in [
            ("log_batches_per_epoch", log_batches_per_epoch),
            ("log_samples_per_batch", log_samples_per_batch),
        ]:
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if example_input_array_shape is not None:
            example_input_array_shape = tuple(int(s) for s in example_input_array_shape)
            _check_example_shape(example_input_array_shape, encoder)
        ckpt_path = None if ckpt_path is None else str(ckpt_path)
        self.save_hyperparameters(ignore=["encoder", "loss_function"])

        self.encoder = encoder
        self.loss_function = NTXentHCL() if loss_function is None else loss_function
        self.lr = lr
        self.log_batches_per_epoch = log_batches_per_epoch
        self.log_samples_per_batch = log_samples_per_batch
        self.check_finite = bool(check_finite)
        if example_input_array_shape is not None:
            self.example_input_array = torch.zeros(example_input_array_shape)
        self._image_samples: dict[str, list[tuple[Tensor, Tensor]]] = {"train": [], "val": []}
        if ckpt_path is not None:
            self.load_encoder_weights(ckpt_path)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return the encoder's ``(features, projections)`` for ``x`` of shape (B, C, Z, Y, X)."""
        return self.encoder(x)

    def load_encoder_weights(self, ckpt_path: str | os.PathLike) -> None:
        """Load encoder weights from a Lightning checkpoint or an encoder state dict.

        Raises
        ------
        FileNotFoundError
            If ``ckpt_path`` does not exist.
        ValueError
            If the file cannot be read safely, or its keys or shapes do not match.
        """
        path = Path(ckpt_path)
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={str(ckpt_path)!r} does not exist")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise ValueError(
                f"{path}: cannot be loaded with torch.load(weights_only=True): {err}. Save the "
                "encoder alone with torch.save(module.encoder.state_dict(), path) and pass that."
            ) from err
        state = checkpoint.get("state_dict", checkpoint)
        if any(key.startswith("encoder.") for key in state):
            state = {
                k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")
            }
        own = self.encoder.state_dict()
        missing = sorted(own.keys() - state.keys())
        unexpected = sorted(state.keys() - own.keys())
        reshaped = sorted(
            f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
            for k in own.keys() & state.keys()
            if tuple(state[k].shape) != tuple(own[k].shape)
        )
        if missing or unexpected or reshaped:
            raise ValueError(
                f"{path}: encoder weights do not match the encoder. Missing keys: "
                f"{_list_keys(missing)}; unexpected keys: {_list_keys(unexpected)}; "
                f"shape mismatches (checkpoint vs encoder): {_list_keys(reshaped)}."
            )
        self.encoder.load_state_dict(state)

    def _step(self, batch: dict, batch_idx: int, stage: str) -> Tensor:
        anchor, positive = batch["anchor"], batch["positive"]
        batch_size = anchor.shape[0]
        if isinstance(self.loss_function, _TRIPLET_LOSSES):
            if "negative" not in batch:
                raise ValueError(
                    f"loss_function is {type(self.loss_function).__name__}, which needs "
                    f"batch['negative']; the batch has keys {sorted(batch)}. Use NTXentHCL "
                    "for anchor/positive batches."
                )
            negative = batch["negative"]
            _, projections = self.encoder(torch.cat([anchor, positive, negative]))
            emb_a, emb_p, emb_n = projections.split([batch_size, batch_size, negative.shape[0]])
            loss = self.loss_function(emb_a, emb_p, emb_n)
            with torch.no_grad():
                pos = nn.functional.cosine_similarity(emb_a, emb_p).mean()
                neg = nn.functional.cosine_similarity(emb_a, emb_n).mean()
        else:
            _, projections = self.encoder(torch.cat([anchor, positive]))
            labels = torch.arange(batch_size, device=projections.device).repeat(2)
            loss = self.loss_function(projections, labels)
            with torch.no_grad():
                pos, neg = _pair_similarities(projections.float(), batch_size)

        if self.check_finite:
            check_finite_loss(self, loss, batch, batch_idx, stage)
        self.log(
            f"loss/{stage}", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
            sync_dist=True, batch_size=batch_size,
        )  # fmt: skip
        metrics = {
            f"similarity/positive/{stage}": pos,
            f"similarity/negative/{stage}": neg,
            f"similarity/margin/{stage}": pos - neg,
        }
        negatives = getattr(self.loss_function, "last_negatives_per_anchor", None)
        if isinstance(negatives, Tensor):
            metrics[f"negatives_per_anchor/{stage}"] = negatives
        self.log_dict(metrics, on_step=False, on_epoch=True, sync_dist=True, batch_size=batch_size)
        self._keep_samples(anchor, positive, batch_idx, stage)
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        """Encode anchor and positive in one pass and return the loss."""
        return self._step(batch, batch_idx, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> Tensor:
        """Same as `training_step`, logged under ``val``."""
        return self._step(batch, batch_idx, "val")

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict:
        """Return ``{"features", "projections", "index"}`` for ``batch["anchor"]``."""
        features, projections = self.encoder(batch["anchor"])
        return {"features": features, "projections": projections, "index": batch.get("index")}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW over all parameters at ``lr``."""
        return torch.optim.AdamW(self.parameters(), lr=self.lr)

    def _keep_samples(self, anchor: Tensor, positive: Tensor, batch_idx: int, stage: str) -> None:
        if batch_idx >= self.log_batches_per_epoch or self.log_samples_per_batch == 0:
            return
        if self._trainer is not None and self.trainer.sanity_checking:
            return
        n = self.log_samples_per_batch
        self._image_samples[stage].append(
            (middle_z_slices(anchor, n), middle_z_slices(positive, n))
        )

    def _log_samples(self, stage: str) -> None:
        samples, self._image_samples[stage] = self._image_samples[stage], []
        if samples:
            anchors, positives = (torch.cat(parts) for parts in zip(*samples))
            grid = image_grid(anchors, positives)
            taken = log_image_grid(self.loggers, f"images/{stage}", grid, self.global_step)
            if not taken:  # e.g. only the CSV logger: PNG files in the run folder instead
                self._save_grid(grid, stage, tile=anchors.shape[-1])

    def setup(self, stage: str) -> None:
        """Find where image grids go as PNG files (``<log_dir>/images``).

        Every rank asks here: ``trainer.log_dir`` is a collective under DDP, so asking it on
        rank 0 alone (when a grid is written) would wait forever for the other ranks.
        """
        trainer = self._trainer
        log_dir = trainer.log_dir if trainer is not None else None
        self._image_dir = Path(log_dir) / "images" if log_dir else None

    def _save_grid(self, grid: Tensor, stage: str, tile: int) -> None:
        trainer = self._trainer
        image_dir = getattr(self, "_image_dir", None)
        if trainer is None or not trainer.is_global_zero or image_dir is None:
            return
        name = f"{stage}_epoch{self.current_epoch:03d}.png"
        save_image_grid(grid, image_dir / name, tile=tile)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Refuse to write a checkpoint whose weights hold NaN or infinite values."""
        check_finite_state(
            checkpoint.get("state_dict", {}), f"checkpoint at global step {self.global_step}"
        )

    def on_train_epoch_end(self) -> None:
        self._log_samples("train")

    def on_validation_epoch_end(self) -> None:
        self._log_samples("val")


def _pair_similarities(projections: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """Mean cosine similarity of positive pairs and of all other pairs, in O(N D).

    ``projections`` is ``cat([anchor, positive])``; the negatives of each sample are the
    other ``2B - 2`` samples, as in the loss.
    """
    z = nn.functional.normalize(projections, dim=1)
    pos_sum = (z[:batch_size] * z[batch_size:]).sum()
    total = z.sum(dim=0).square().sum() - z.square().sum()  # all ordered pairs i != j
    n_neg_pairs = max(2 * batch_size * (2 * batch_size - 2), 1)
    return pos_sum / batch_size, (total - 2 * pos_sum) / n_neg_pairs


def _check_example_shape(shape: tuple[int, ...], encoder: nn.Module) -> None:
    if len(shape) != 5:
        raise ValueError(
            f"example_input_array_shape must be (B, C, Z, Y, X), got {shape!r}; "
            "use None for no example input"
        )
    channels = getattr(encoder, "in_channels", shape[1])
    depth = getattr(encoder, "in_stack_depth", shape[2])
    if (shape[1], shape[2]) != (channels, depth):
        fixed = (shape[0], channels, depth, *shape[3:])
        raise ValueError(
            f"example_input_array_shape={shape!r} does not match the encoder, which takes "
            f"in_channels={channels} and in_stack_depth={depth}: use {fixed!r} or None"
        )
