"""viscy-models: encoders, contrastive losses and the Lightning engine.

(B, C, Z, Y, X) batch --(7) encoders.ContrastiveEncoder--> features, projections
                      --(8) losses.NTXentHCL--> scalar loss
engine.ContrastiveModule wires both into a LightningModule.
"""

from viscy_models.encoders.contrastive import ContrastiveEncoder
from viscy_models.engine.contrastive import ContrastiveModule
from viscy_models.losses.ntxent_hcl import NTXentHCL

__all__ = ["ContrastiveEncoder", "ContrastiveModule", "NTXentHCL"]
