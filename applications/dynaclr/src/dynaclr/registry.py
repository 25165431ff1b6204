"""Step 1: experiments YAML -> ExperimentRegistry."""


class ExperimentRegistry:
    """Placeholder: being implemented."""
class ExperimentConfig:
    """Placeholder."""
