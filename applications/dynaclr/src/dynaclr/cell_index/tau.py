"""Frame offsets between an anchor and its positive."""


def sample_tau(*args, **kwargs):
    """Placeholder."""
    raise NotImplementedError
