"""How every benchmark prints repeated measurements: ``median (min/max)``."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

__all__ = ["spread"]


def spread(values: Sequence[float], fmt: str = ".1f", sep: str = "/") -> str:
    """``"median (min/max)"`` of ``values``, each number formatted with ``fmt``.

    Examples
    --------
    >>> spread([3.0, 1.0, 2.0]), spread([1200.0, 900.0, 1500.0], ",.0f", "-")
    ('2.0 (1.0/3.0)', '1,200 (900-1,500)')
    """
    median = statistics.median(values)
    return f"{median:{fmt}} ({min(values):{fmt}}{sep}{max(values):{fmt}})"
