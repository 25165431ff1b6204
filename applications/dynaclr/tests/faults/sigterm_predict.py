"""Run by test_sigterm_predict.py: ``dynaclr predict`` with a callback that marks the first
batch and slows every batch down, so a signal lands mid-prediction.

Usage: python sigterm_predict.py READY_FILE DYNACLR_PREDICT_ARGS...
"""

import sys
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class SlowBatches(Callback):
    """Touch ``ready`` after the first predict batch; sleep after every batch."""

    def __init__(self, ready: str, seconds: float = 0.5) -> None:
        self.ready, self.seconds = Path(ready), seconds

    def on_predict_batch_end(self, trainer, *args) -> None:
        self.ready.touch()
        time.sleep(self.seconds)


if __name__ == "__main__":
    import signal

    from dynaclr.cli import main

    # Ctrl-C in a terminal reaches Python's default handler; a process started in the
    # background by a non-interactive shell (some CI runners) inherits SIGINT ignored instead.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    ready, args = sys.argv[1], sys.argv[2:]
    sys.exit(main([*args, "--trainer.callbacks+=sigterm_predict.SlowBatches",
                   f"--trainer.callbacks.ready={ready}"]))  # fmt: skip
