"""ThreadDataLoader under a real lightning.Trainer: fit two epochs, predict, re-instantiation."""

import lightning
import pytest
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import DistributedSampler, Sampler

from viscy_data import ThreadDataLoader
from viscy_data.testing import quiet_trainer

from .conftest import BatchDataset, StatefulBatches, assert_loader_threads_stopped

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::lightning.fabric.utilities.warnings.PossibleUserWarning"),
    pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
]


class ListBatches(Sampler[list[int]]):
    """A custom batch sampler (not a torch BatchSampler), like FlexibleBatchSampler."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        yield from self.batches


BATCHES = [[5, 1, 7], [0, 2, 9], [23, 11, 4], [8, 3, 6], [10, 12, 13]]


def build_loaders(mode: str) -> tuple[ThreadDataLoader, ThreadDataLoader]:
    """(train, predict) loaders for one of the two ways of giving batches."""
    if mode == "batch_sampler":
        train = ThreadDataLoader(
            BatchDataset(24), batch_sampler=ListBatches(BATCHES), num_workers=2, prefetch=1
        )
        predict = ThreadDataLoader(
            BatchDataset(24), batch_sampler=ListBatches(BATCHES), num_workers=2
        )
        return train, predict
    train = ThreadDataLoader(
        BatchDataset(24),
        batch_size=5,
        shuffle=True,
        num_workers=2,
        prefetch=1,
        generator=torch.Generator().manual_seed(0),
    )
    return train, ThreadDataLoader(BatchDataset(24), batch_size=5, num_workers=2, prefetch=1)


class RecordingModule(lightning.LightningModule):
    """Records the sample ids of every training batch; predicts the ids back."""

    def __init__(self, mode: str = "batch_sampler", build_in_hooks: bool = False) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.mode, self.build_in_hooks = mode, build_in_hooks
        self.seen: list[list[int]] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.seen.append(batch["idx"].tolist())
        return (self.weight * batch["x"]).mean()

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return batch["idx"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class HookModule(RecordingModule):
    """Builds its loaders inside the dataloader hooks, where Lightning records init arguments."""

    def train_dataloader(self) -> ThreadDataLoader:
        return build_loaders(self.mode)[0]

    def predict_dataloader(self) -> ThreadDataLoader:
        return build_loaders(self.mode)[1]


class IndexWriter(BasePredictionWriter):
    """Keeps the sample indices Lightning attributes to each predicted batch."""

    def __init__(self) -> None:
        super().__init__(write_interval="batch")
        self.batch_indices: list[list[int]] = []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, *args) -> None:
        self.batch_indices.append(list(batch_indices))


@pytest.mark.parametrize("where", ["argument", "hook"])
@pytest.mark.parametrize("mode", ["batch_sampler", "batch_size"])
def test_fit_two_epochs_and_predict_with_a_real_trainer(tmp_path, mode, where):
    if where == "hook":
        model = HookModule(mode)
        fit_kwargs, predict_kwargs = {}, {}
    else:
        model = RecordingModule(mode)
        train, predict = build_loaders(mode)
        fit_kwargs, predict_kwargs = {"train_dataloaders": train}, {"dataloaders": predict}
    writer = IndexWriter()
    trainer = quiet_trainer(default_root_dir=tmp_path, max_epochs=2, callbacks=[writer])
    trainer.fit(model, **fit_kwargs)
    predictions = trainer.predict(model, **predict_kwargs)
    # Lightning's record of each batch's indices stays right although the loader reads ahead.
    assert writer.batch_indices == [p.tolist() for p in predictions]

    assert trainer.current_epoch == 2
    if mode == "batch_sampler":
        assert model.seen == BATCHES + BATCHES
        assert [p.tolist() for p in predictions] == BATCHES
    else:
        epochs = [sum(model.seen[:5], []), sum(model.seen[5:], [])]
        assert len(model.seen) == 10
        assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(24))
        assert epochs[0] != epochs[1]
        assert torch.cat(predictions).tolist() == list(range(24))
    # predict re-created the loader around Lightning's wrapped batch sampler: our settings survive.
    loader = trainer.predict_dataloaders
    assert isinstance(loader, ThreadDataLoader)
    assert type(loader.batch_sampler).__name__ == "_IndexBatchSamplerWrapper"
    assert loader.num_workers == 2 and loader.prefetch == (2 if mode == "batch_sampler" else 1)
    assert_loader_threads_stopped()


def test_lightning_can_inject_a_distributed_sampler():
    loader = ThreadDataLoader(BatchDataset(n=20), batch_size=3, shuffle=False, num_workers=2)
    sampler = DistributedSampler(loader.dataset, num_replicas=2, rank=1, shuffle=False)
    sharded = _update_dataloader(loader, sampler)
    assert isinstance(sharded, ThreadDataLoader)
    assert (sharded.num_workers, sharded.prefetch) == (2, 2)
    assert sharded.collate_fn is loader.collate_fn
    assert [b["idx"].tolist() for b in sharded] == [[1, 3, 5], [7, 9, 11], [13, 15, 17], [19]]


def test_mid_epoch_resume_from_a_checkpoint_continues_with_the_unseen_batches(tmp_path):
    def fit(root, ckpt_path=None, **trainer_kwargs) -> list[list[int]]:
        model = RecordingModule()
        loader = ThreadDataLoader(
            BatchDataset(24), batch_sampler=StatefulBatches(24), num_workers=2
        )
        trainer = quiet_trainer(default_root_dir=root, max_epochs=2, **trainer_kwargs)
        trainer.fit(model, loader, ckpt_path=ckpt_path)
        return model.seen

    uninterrupted = fit(tmp_path / "full")
    every_9 = lightning.pytorch.callbacks.ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_train_steps=9, save_top_k=-1
    )
    interrupted = fit(tmp_path / "cut", max_steps=9, enable_checkpointing=True, callbacks=[every_9])
    (checkpoint,) = (tmp_path / "ckpt").glob("*step=9*.ckpt")
    resumed = fit(tmp_path / "resumed", ckpt_path=checkpoint)
    assert len(uninterrupted) == 12 and len(interrupted) == 9  # stopped in the second epoch
    assert interrupted + resumed == uninterrupted


def test_limit_train_batches_abandons_each_pass_without_leaking_threads(tmp_path):
    model = RecordingModule()
    loader = ThreadDataLoader(BatchDataset(24), batch_sampler=ListBatches(BATCHES), num_workers=2)
    quiet_trainer(default_root_dir=tmp_path, max_epochs=3, limit_train_batches=2).fit(model, loader)
    assert model.seen == BATCHES[:2] * 3
    assert_loader_threads_stopped()
