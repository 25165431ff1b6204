"""NT-Xent with hard-negative concentration."""


class NTXentHCL:
    """Placeholder: being implemented."""
