"""The progress bar of dynaclr's own commands: bytes on stderr, on when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

__all__ = ["byte_progress"]


def byte_progress(description: str, show: bool | None) -> tuple[tqdm, Callable[[int, int], None]]:
    """A bytes bar on stderr and the ``update(nbytes, total)`` callback that drives it.

    Parameters
    ----------
    description : str
        Shown before the bar, e.g. the plate's folder name.
    show : bool or None
        True or False force the bar on or off (``--progress`` / ``--no-progress``); None
        shows it when stderr is a terminal.

    Returns
    -------
    tuple
        The bar (use it as a context manager) and ``update(nbytes, total)``, which sets the
        total when it changes and advances the bar by ``nbytes``.
    """
    bar = tqdm(
        desc=description, unit="B", unit_scale=True, file=sys.stderr,
        disable=not sys.stderr.isatty() if show is None else not show,
    )  # fmt: skip

    def update(nbytes: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(nbytes)

    return bar, update
