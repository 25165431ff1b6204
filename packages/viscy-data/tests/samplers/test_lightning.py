"""Through a real Lightning Trainer that never calls set_epoch, epochs still differ."""

import lightning as L
import torch
from torch.utils.data import DataLoader

from viscy_data import FlexibleBatchSampler
from viscy_data.testing import quiet_trainer


class _Recorder(L.LightningModule):
    """Records the row positions of every training batch; learns nothing useful."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[int]] = []

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self.seen.append(batch.tolist())
        return (self.weight * batch.float().mean()).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


def test_trainer_without_set_epoch_gets_a_fresh_order_each_epoch(three_experiments, tmp_path):
    sampler = FlexibleBatchSampler(three_experiments, batch_size=16, seed=7)
    loader = DataLoader(list(range(three_experiments.height)), batch_sampler=sampler)
    model = _Recorder()
    # limit_train_batches: epochs are abandoned early, as in the upstream failure
    trainer = quiet_trainer(default_root_dir=tmp_path, max_epochs=3, limit_train_batches=2)
    trainer.fit(model, train_dataloaders=loader)
    epochs = [model.seen[i : i + 2] for i in (0, 2, 4)]
    assert len(model.seen) == 6
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2] and epochs[0] != epochs[2]
    reference = FlexibleBatchSampler(three_experiments, batch_size=16, seed=7)
    for epoch, batches in enumerate(epochs):
        reference.set_epoch(epoch)
        assert batches == list(reference)[:2]
