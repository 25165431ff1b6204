"""viscy-data: generic data machinery for time-lapse microscopy.

The data flow it serves, step by step::

    anchors table --(3) samplers.FlexibleBatchSampler--> batches of row positions
                  --(4) readers (OME-Zarr metadata, tensorstore patches)--> arrays
                  --(5) loaders.ThreadDataLoader--> ready batches, in order
                  --(6) transforms (normalize, augment, ChannelDropout)--> model input
"""

from viscy_data.loaders.thread import ThreadDataLoader
from viscy_data.samplers.batch import FlexibleBatchSampler
from viscy_data.transforms.channel_dropout import ChannelDropout

__all__ = ["ChannelDropout", "FlexibleBatchSampler", "ThreadDataLoader"]
