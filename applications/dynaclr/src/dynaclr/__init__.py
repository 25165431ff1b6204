"""DynaCLR: contrastive learning of cell dynamics across time-lapse experiments.

A training sample's path, one module per step::

    experiments.yml --(1) registry.py--> ExperimentRegistry
                    --(2) cell_index/--> MultiExperimentIndex (observations, valid anchors)
                    --    splits.py--> experiments per split
                    --(3) viscy_data FlexibleBatchSampler (trainer_batches.py: trainer epochs)
                    --(4) triplet_dataset.py--> anchor + positive patches
                    --(5) viscy_data ThreadDataLoader
                    --(6) viscy_data BatchPipeline (on the device)
                    --(7-8) viscy_models ContrastiveEncoder, NTXentHCL in ContrastiveModule
    datamodule.py wires steps 1-6; cli/ runs it all; demo/ writes synthetic experiments.

The names below load on first use, so ``import dynaclr`` imports neither torch nor Lightning.
"""

import importlib

import lazy_loader

_getattr, _, _own = lazy_loader.attach(
    __name__,
    submod_attrs={
        "cell_index.index": ["MultiExperimentIndex"],
        "cell_index.tau": ["sample_tau"],
        "datamodule": ["MultiExperimentDataModule"],
        "experiment_config": ["ConfigError", "ExperimentConfig"],
        "registry": ["ExperimentRegistry"],
        "triplet_dataset": ["MultiExperimentTripletDataset"],
    },
)
# Upstream's dynaclr exported the engine and the loss, which live in viscy_models.
_ELSEWHERE = {"ContrastiveModule": "viscy_models", "NTXentHCL": "viscy_models"}
__all__ = sorted([*_own, *_ELSEWHERE])


def __getattr__(name: str):
    if name in _ELSEWHERE:
        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _getattr(name)


def __dir__() -> list[str]:
    return list(__all__)
