"""viscy-models: encoders, contrastive losses and the Lightning engine.

(B, C, Z, Y, X) batch --(7) encoders.ContrastiveEncoder--> features, projections
                      --(8) losses.NTXentHCL--> scalar loss
engine.ContrastiveModule wires both into a LightningModule.

The names below load on first use, so ``import viscy_models`` imports nothing heavy and
``from viscy_models import NTXentHCL`` loads torch only, not Lightning or timm.
"""

import lazy_loader

_getattr, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "encoders.contrastive": ["ContrastiveEncoder"],
        "engine.contrastive": ["ContrastiveModule"],
        "engine.finite": ["NonFiniteInputError", "NonFiniteLossError"],
        "losses.ntxent_hcl": ["NTXentHCL"],
    },
)


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _getattr(name)
