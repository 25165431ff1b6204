"""Step 5: a DataLoader whose workers are threads."""


class ThreadDataLoader:
    """Placeholder: being implemented."""
