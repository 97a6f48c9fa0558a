"""A tiny model and data set registered in mmengine's registries, for Runner tests."""
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS
from torch.utils.data import Dataset


@MODELS.register_module()
class ToyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, x, y, mode='loss'):
        out = self.layers(x)
        if mode == 'loss':
            return dict(loss=((out - y)**2).mean())
        return [dict(pred=o) for o in out]


@DATASETS.register_module()
class ToyPairs(Dataset):

    def __init__(self, size=32):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(size, 4, generator=gen)
        self.y = self.x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(size, 1, generator=gen)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(x=self.x[i], y=self.y[i])


from mmengine.hooks import Hook  # noqa: E402
from mmengine.registry import HOOKS  # noqa: E402


@HOOKS.register_module()
class InterruptAfterEpoch(Hook):
    """Simulates a killed job: exits right after the checkpoint of ``epoch`` is written."""
    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:  # runner.epoch is 0-based until the loop increments it
            raise SystemExit(0)
