"""What ``dynaclr fit / validate / predict`` say and return when a signal stops them.

SIGTERM (a scheduler's preemption, ``kill``): Lightning finishes the running step and raises
``SIGTERMException``; ``predict`` stops at the next batch too
(:class:`~dynaclr.cli.embeddings_writer.EmbeddingWriter`). The command exits with status
143 (128 + 15). SIGINT (Ctrl-C): Lightning stops at once and exits; the command exits with
status 130 (128 + 2). Either way ``fit`` saves a checkpoint only when a ``ModelCheckpoint``
with ``save_on_exception=True`` asks for it, and ``predict`` writes no store (an existing
one is left as it was: the store is written only once every batch is embedded).
"""

from __future__ import annotations

import sys

__all__ = ["SIGNAL_STATUS", "report_interrupt"]

SIGNAL_STATUS = {"SIGTERM": 143, "SIGINT": 130}
"""Exit status of a command stopped by each signal: 128 + the signal's number."""

_AFTER = {
    "fit": "resume with --ckpt_path <checkpoint> (ModelCheckpoint(save_last=True, "
    "save_on_exception=True) saves one on the way out).",
    "validate": "nothing was written; run it again.",
    "predict": "no embeddings were written (an existing store is left as it was); run it again.",
}


def report_interrupt(command: str, signal_name: str) -> int:
    """Print what a stop by ``signal_name`` left behind; return the exit status.

    Parameters
    ----------
    command : str
        ``"fit"``, ``"validate"`` or ``"predict"``.
    signal_name : str
        ``"SIGTERM"`` or ``"SIGINT"``.
    """
    when = "after the current step" if signal_name == "SIGTERM" else "(Ctrl-C)"
    print(
        f"dynaclr {command}: stopped by {signal_name} {when}; {_AFTER.get(command, '')}".rstrip(),
        file=sys.stderr,
    )
    return SIGNAL_STATUS[signal_name]
