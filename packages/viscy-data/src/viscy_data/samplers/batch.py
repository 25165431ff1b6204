"""Step 3: batches of anchor row positions."""


class FlexibleBatchSampler:
    """Placeholder: being implemented."""
