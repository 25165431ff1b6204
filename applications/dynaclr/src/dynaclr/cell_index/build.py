"""Step 2: tracks -> polars cell index."""


class MultiExperimentIndex:
    """Placeholder: being implemented."""
