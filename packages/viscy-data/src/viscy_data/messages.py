"""Error-message helpers shared by every package: one wording for "unknown name".

A user who mistypes a name (an experiment, a well, a config key, a condition) should read the
bad name, the nearest valid one and the valid ones, whichever check caught it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["unknown_names_message"]


def unknown_names_message(
    subject: str,
    unknown: Iterable[str],
    known: Iterable[str],
    *,
    known_label: str = "known",
    sep: str = "; ",
    limit: int = 20,
) -> str:
    """Say what is unknown, list what is known, and suggest the nearest known names.

    Parameters
    ----------
    subject : str
        What is wrong, naming where and the bad value(s), e.g.
        ``"val_experiments names ['exp_c'], not in experiments.yml"``.
    unknown : iterable of str
        The unknown names; each with a close known name gets a "did you mean" hint.
    known : iterable of str
        The valid names, listed after ``known_label`` (the first ``limit`` of them).
    known_label : str, default "known"
        Words before the list of valid names, e.g. ``"known experiments"``.
    sep : str, default "; "
        Between ``subject`` and the list.
    limit : int, default 20
        Most valid names listed; more are shown as a count.

    Returns
    -------
    str
        ``"{subject}{sep}{known_label}: [...]"``, then ``". 'x': did you mean 'y'?"`` for
        every unknown name with a close match.

    Examples
    --------
    >>> unknown_names_message("no experiment named 'ex_a'", ["ex_a"], ["exp_a", "b"])
    "no experiment named 'ex_a'; known: ['exp_a', 'b']. 'ex_a': did you mean 'exp_a'?"
    """
    known = [str(k) for k in known]
    shown = repr(known[:limit])
    if len(known) > limit:
        shown = f"{shown[:-1]}, ... ({len(known)} in all)]"
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), known, n=1)
        if close:
            hints.append(f"{str(name)!r}: did you mean {close[0]!r}?")
    hint = f". {'; '.join(hints)}" if hints else ""
    return f"{subject}{sep}{known_label}: {shown}{hint}"
