"""viscy-models: encoders, contrastive losses and the Lightning engine.

(B, C, Z, Y, X) batch --(7) encoders.ContrastiveEncoder--> features, projections
                      --(8) losses.NTXentHCL--> scalar loss
engine.ContrastiveModule wires both into a LightningModule.

The names below are imported on first use, so ``from viscy_models import NTXentHCL`` loads
torch only, not Lightning or timm.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from viscy_models.encoders.contrastive import ContrastiveEncoder
    from viscy_models.engine.contrastive import ContrastiveModule
    from viscy_models.losses.ntxent_hcl import NTXentHCL

_HOMES = {
    "ContrastiveEncoder": "viscy_models.encoders.contrastive",
    "ContrastiveModule": "viscy_models.engine.contrastive",
    "NTXentHCL": "viscy_models.losses.ntxent_hcl",
}
__all__ = ["ContrastiveEncoder", "ContrastiveModule", "NTXentHCL"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'viscy_models' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
