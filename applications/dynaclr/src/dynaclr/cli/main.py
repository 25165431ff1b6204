"""``dynaclr``: the entry point; one error boundary for every command.

``dynaclr fit`` with no ``--config`` trains on the built-in demo (written into a cache folder
on first use); ``dynaclr inspect`` shows what the model would see, without training;
``dynaclr import-ctc`` turns Cell Tracking Challenge sequences into a plate, tracks and an
experiments YAML; ``dynaclr preprocess`` writes the plates' normalization statistics;
``dynaclr rechunk`` writes a training copy of a plate with small chunks;
``fit``, ``validate`` and ``predict`` are the LightningCLI (:mod:`dynaclr.cli.lightning_cli`).
A configuration or data problem prints one paragraph and exits 2; ``DYNACLR_DEBUG=1`` shows
the traceback instead.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

from jsonargparse import ArgumentError
from lightning.pytorch.utilities.exceptions import SIGTERMException

from dynaclr.cli.argv import config_arguments, config_files, demo_args, demo_print_args
from dynaclr.cli.errors import USER_ERRORS, report_error, report_usage_error
from dynaclr.cli.evaluate import evaluate_main
from dynaclr.cli.import_ctc import import_ctc_main
from dynaclr.cli.inspect import inspect_main
from dynaclr.cli.interrupts import report_interrupt
from dynaclr.cli.lightning_cli import DynaCLRCLI
from dynaclr.cli.preprocess import preprocess_main
from dynaclr.cli.rechunk import rechunk_main
from dynaclr.evaluate.online import OnlineEvaluation
from viscy_data.readers import PatchReadError
from viscy_models.engine.finite import NonFiniteLossError

__all__ = ["main"]

_SUBCOMMANDS = ("fit", "validate", "predict")
_COMMANDS = {
    "inspect": inspect_main,
    "evaluate": evaluate_main,
    "import-ctc": import_ctc_main,
    "preprocess": preprocess_main,
    "rechunk": rechunk_main,
}
"""Commands of their own (argparse), beside the LightningCLI's subcommands."""
_PARSER_KWARGS = {
    "exit_on_error": False,
    **{name: {"exit_on_error": False} for name in _SUBCOMMANDS},
}


_USAGE = """usage: dynaclr COMMAND [options]     ('dynaclr COMMAND --help' lists every option)

commands:
  fit         train an encoder (with no --config: on the built-in demo)
  validate    the validation loss of a checkpoint
  predict     embed every cell with a checkpoint into an AnnData store
  evaluate    metrics, a report and pictures of a predict store
  inspect     the batches a config would train on, as a PNG, without training
  import-ctc  Cell Tracking Challenge sequences -> a plate, tracks and an experiments YAML
  preprocess  write normalization statistics into plates
  rechunk     a training copy of a plate with small chunks

Docs: README.md and docs/tutorial.md. Set DYNACLR_DEBUG=1 to see tracebacks.
"""
"""What ``dynaclr``, ``dynaclr --help`` and an unknown command print: every command that works."""


def _wants_demo(argv: list[str]) -> bool:
    """``dynaclr fit`` with no config and no help or print request: train on the demo."""
    if not argv or argv[0] != "fit" or config_arguments(argv[1:]):
        return False
    return not any(a in ("-h", "--help") or a.startswith("--print_config") for a in argv)


def _prints_demo_config(argv: list[str]) -> bool:
    """``dynaclr fit --print_config`` with no config: print what a bare ``dynaclr fit`` runs."""
    return (
        bool(argv)
        and argv[0] == "fit"
        and not config_arguments(argv[1:])
        and any(a.startswith("--print_config") for a in argv)
    )


_DEMO_NEXT = {
    "predict": "--data.predict_experiments [demo1_TOMM20]",
    "evaluate": "--label infected",
}
"""What the demo's closing advice adds: embed the held-out experiment, probe its infection."""


def _report_outputs(cli: DynaCLRCLI, demo: bool = False) -> None:
    """The end of ``dynaclr fit``: where everything is, what the validation cells show, and
    the commands that embed and evaluate."""
    trainer = cli.trainer
    checkpoint = getattr(trainer, "checkpoint_callback", None)
    lines = ["dynaclr: done."]
    best = None
    if checkpoint is not None:
        best = checkpoint.best_model_path or checkpoint.last_model_path
        if best:
            lines.append(f"  checkpoint: {Path(best).resolve()}")
    config = None
    if trainer.log_dir:
        log_dir = Path(trainer.log_dir).resolve()
        lines.append(f"  logs:       {log_dir}")
        config = log_dir / "config.yaml"
        if config.exists():
            lines.append(f"  config:     {config}")
        for name, what in (("metrics.csv", "losses and similarities per step and epoch"),
                           ("images", "anchor | positive grids, one PNG per epoch")):  # fmt: skip
            if (log_dir / name).exists():
                lines.append(f"  {name.split('.')[0] + ':':<11} {log_dir / name} ({what})")
    for callback in trainer.callbacks:
        if isinstance(callback, OnlineEvaluation) and callback.latest:
            lines += _validation_lines(callback.latest)
    if best and config is not None and config.exists():
        root = Path(trainer.default_root_dir).resolve()
        predict = f"dynaclr predict --config {config} --ckpt_path {Path(best).resolve()}"
        evaluate = f"dynaclr evaluate {root / 'embeddings.zarr'}"
        if demo:
            predict, evaluate = (
                f"{predict} {_DEMO_NEXT['predict']}",
                f"{evaluate} {_DEMO_NEXT['evaluate']}",
            )
        lines += ["  next:       embed the cells, then measure and draw the embeddings:",
                  f"    {predict}", f"    {evaluate}"]  # fmt: skip
    if trainer.is_global_zero:  # every rank builds it: trainer.log_dir is a DDP collective
        print("\n".join(lines))


def _validation_lines(latest: dict) -> list[str]:
    lines = [
        f"  validation cells (never trained on), after epoch {latest['epoch']}, "
        f"{latest['n_cells']:,} observations:"
    ]
    for label, (accuracy, chance) in latest["probe"].items():
        lines.append(
            f"    linear probe of {label}: {accuracy:.3f} balanced accuracy (chance {chance:.3f})"
        )
    lines.append(
        f"    temporal smoothness: {latest['temporal_smoothness']:.3f} (lower is smoother)"
    )
    lines.append(f"    effective rank: {latest['effective_rank']:.1f}")
    for label, why in latest["skipped"].items():
        lines.append(f"    {label}: not probed ({why})")
    return lines


_PREDICT_FLAGS = {"overwrite": ("--overwrite",), "random_init": ("--random_init", "--random-init")}
"""``dynaclr predict`` flags of our own, beside the LightningCLI's options."""


def _predict_flags(argv: list[str]) -> tuple[list[str], dict[str, bool]]:
    """``argv`` without :data:`_PREDICT_FLAGS`, and which of them were given."""
    flags = {name: any(a in spellings for a in argv) for name, spellings in _PREDICT_FLAGS.items()}
    spelled = {a for spellings in _PREDICT_FLAGS.values() for a in spellings}
    return [a for a in argv if a not in spelled], flags


def _cli_class(**flags: bool) -> type[DynaCLRCLI]:
    """:class:`DynaCLRCLI`, with the predict flags set on a subclass when given."""
    if not any(flags.values()):
        return DynaCLRCLI
    return type("DynaCLRPredictCLI", (DynaCLRCLI,), dict(flags))


class _InfoHandler(logging.StreamHandler):
    """dynaclr's own INFO messages on stderr, as ``dynaclr: <message>``."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("dynaclr: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # the stderr of now (tests capture it per call)
        super().emit(record)


def show_info_messages() -> None:
    """Let the ``dynaclr`` loggers' INFO messages (index summary, splits) reach the user.

    Libraries leave logging to applications; the ``dynaclr`` command is the application, so it
    adds one handler (once) to the ``dynaclr`` logger at INFO.
    """
    logger = logging.getLogger("dynaclr")
    if not any(isinstance(h, _InfoHandler) for h in logger.handlers):
        logger.addHandler(_InfoHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dynaclr`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    show_info_messages()
    if not argv:
        print(_USAGE, file=sys.stderr, end="")
        return 2
    if argv[0] in ("-h", "--help"):
        print(_USAGE, end="")
        return 0
    if argv[0] in _COMMANDS:
        return _COMMANDS[argv[0]](argv[1:])
    if argv[0] not in _SUBCOMMANDS:
        print(f"dynaclr: unknown command {argv[0]!r}\n\n{_USAGE}", file=sys.stderr, end="")
        return 2
    demo = _wants_demo(argv)
    if demo:
        argv = [argv[0], *demo_args(), *argv[1:]]
    elif _prints_demo_config(argv):
        argv = [argv[0], *demo_print_args(), *argv[1:]]
    command = argv[0] if argv else ""
    files = ", ".join(config_files(argv))
    flags = {}
    if command == "predict":
        argv, flags = _predict_flags(argv)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*args parameter is intended to run")
            # Our predict sampler is sequential and keeps every row; Lightning cannot tell.
            warnings.filterwarnings("ignore", message=".*custom batch sampler.*for prediction")
            cli = _cli_class(**flags)(args=argv, parser_kwargs=_PARSER_KWARGS)
    except ArgumentError as err:  # or a value a link refused (hcl_beta)
        return report_usage_error(command, err, config=files)
    except SIGTERMException:
        return report_interrupt(command, "SIGTERM")
    except KeyboardInterrupt:
        return report_interrupt(command, "SIGINT")
    except SystemExit as err:
        if isinstance(err.__context__, KeyboardInterrupt):  # Lightning's exit(1) after Ctrl-C
            return report_interrupt(command, "SIGINT")
        raise
    except USER_ERRORS as err:
        return report_error(command, err, config=files)
    except (NonFiniteLossError, PatchReadError) as err:  # a failure while running
        return report_error(command, err, config=files, status=1)
    if cli.subcommand == "fit":
        _report_outputs(cli, demo)
    return 0
