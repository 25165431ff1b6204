"""Batched tensor transforms."""

from viscy_data.transforms.base import BatchCompose, BatchTransform, RandomBatchTransform
from viscy_data.transforms.channel_dropout import ChannelDropout
from viscy_data.transforms.intensity import (
    RandomContrast,
    RandomGaussianNoise,
    RandomGaussianSmooth,
    RandomIntensityScale,
)
from viscy_data.transforms.normalize import NORM_LEVELS, Normalize, ScaleIntensityPercentiles
from viscy_data.transforms.spatial import CenterCrop, RandomAffine

__all__ = [
    "NORM_LEVELS",
    "BatchCompose",
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
