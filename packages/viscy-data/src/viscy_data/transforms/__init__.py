"""Step 6: batched ``(B, C, Z, Y, X)`` transforms, run on the batch's device.

Each transform is one :class:`BatchTransform` (one file per family: intensity, normalize,
spatial, channel dropout); :class:`BatchPipeline` runs them in the order training needs.
"""

from viscy_data.transforms.base import BatchCompose, BatchTransform, RandomBatchTransform
from viscy_data.transforms.channel_dropout import ChannelDropout
from viscy_data.transforms.intensity import (
    RandomContrast,
    RandomGaussianNoise,
    RandomGaussianSmooth,
    RandomIntensityScale,
)
from viscy_data.transforms.normalize import NORM_LEVELS, Normalize, ScaleIntensityPercentiles
from viscy_data.transforms.pipeline import BatchPipeline
from viscy_data.transforms.spatial import CenterCrop, RandomAffine

__all__ = [
    "NORM_LEVELS",
    "BatchCompose",
    "BatchPipeline",
    "BatchTransform",
    "CenterCrop",
    "ChannelDropout",
    "Normalize",
    "RandomAffine",
    "RandomBatchTransform",
    "RandomContrast",
    "RandomGaussianNoise",
    "RandomGaussianSmooth",
    "RandomIntensityScale",
    "ScaleIntensityPercentiles",
]
