"""LightningModule for contrastive training."""


class ContrastiveModule:
    """Placeholder: being implemented."""
