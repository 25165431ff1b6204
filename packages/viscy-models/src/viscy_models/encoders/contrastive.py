"""3D stem + timm 2D backbone + projection head."""


class ContrastiveEncoder:
    """Placeholder: being implemented."""
