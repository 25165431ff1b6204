"""Randomly zero whole channels per sample."""


class ChannelDropout:
    """Placeholder: being implemented."""
