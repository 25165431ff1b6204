"""DynaCLR: contrastive learning of cell dynamics across time-lapse experiments.

experiments.yml --(1) registry--> ExperimentRegistry
                --(2) cell_index--> MultiExperimentIndex (observations, valid anchors)
                --(3-6) viscy_data sampler, dataset, loader, transforms
                --(7-8) viscy_models encoder and loss
"""

from dynaclr.cell_index.build import MultiExperimentIndex
from dynaclr.cell_index.tau import sample_tau
from dynaclr.registry import ExperimentConfig, ExperimentRegistry

__all__ = ["ExperimentConfig", "ExperimentRegistry", "MultiExperimentIndex", "sample_tau"]
