"""viscy-data: generic data machinery for time-lapse microscopy.

The data flow it serves, step by step::

    anchors table --(3) samplers.FlexibleBatchSampler--> batches of row positions
                  --(4) readers (OME-Zarr metadata, tensorstore patches)--> arrays
                  --(5) loaders.ThreadDataLoader--> ready batches, in order
                  --(6) transforms.BatchPipeline (normalize, augment, crop, ChannelDropout)
                  --> model input
    normalization: per-FOV statistics (names, computation, table, divisor rule)

The names below load on first use, so ``import viscy_data`` imports neither torch nor kornia.
"""

import lazy_loader

_getattr, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "loaders.thread": ["ThreadDataLoader"],
        "normalization": ["NormTable"],
        "readers": ["PatchReader", "read_plate"],
        "samplers.batch": ["FlexibleBatchSampler"],
        "transforms.channel_dropout": ["ChannelDropout"],
        "transforms.pipeline": ["BatchPipeline"],
    },
)


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _getattr(name)
