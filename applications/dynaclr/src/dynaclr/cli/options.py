"""The argument parser of dynaclr's own commands: ``--num_workers`` and ``--num-workers`` alike.

``fit``, ``validate`` and ``predict`` (LightningCLI) spell options with underscores
(``--ckpt_path``); many tools spell them with hyphens. Every multi-word option of
``inspect``, ``import-ctc``, ``preprocess`` and ``rechunk`` accepts both, so neither habit is
an error.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["CommandParser", "five_integers"]


def five_integers(text: str) -> tuple[int, ...] | None:
    """``"1,1,1,128,128"`` -> ``(1, 1, 1, 128, 128)``: a T,C,Z,Y,X shape on the command line.

    None when ``text`` is not five comma-separated integers; each command checks the values
    and words its own message.

    Examples
    --------
    >>> five_integers("1,1,-1,256,256"), five_integers("1,1,256")
    ((1, 1, -1, 256, 256), None)
    """
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        return None
    return values if len(values) == 5 else None


def _both_spellings(option_strings: tuple[str, ...]) -> list[str]:
    names = list(option_strings)
    for name in option_strings:
        if not name.startswith("--"):
            continue
        for other in (name.replace("_", "-"), "--" + name[2:].replace("-", "_")):
            if other not in names:
                names.append(other)
    return names


class CommandParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose long options take ``_`` and ``-`` alike.

    Examples
    --------
    >>> parser = CommandParser(prog="demo")
    >>> _ = parser.add_argument("--num_workers", type=int)
    >>> parser.parse_args(["--num-workers", "3"]).num_workers
    3
    """

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:
        """As :meth:`argparse.ArgumentParser.add_argument`, long options in both spellings."""
        return super().add_argument(*_both_spellings(names), **kwargs)
