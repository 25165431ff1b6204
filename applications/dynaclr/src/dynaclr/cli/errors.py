"""How every ``dynaclr`` command reports a problem: one paragraph, status 2, no traceback.

A configuration or data problem (a ``ValueError``, ``FileNotFoundError``, ``FileExistsError``,
``KeyError`` or ``PermissionError`` raised before or during a command) is printed as one
paragraph on stderr, naming the command and, where given, the config file; the command then
exits with status 2.
``DYNACLR_DEBUG=1`` re-raises the exception instead, with its traceback.
"""

from __future__ import annotations

import os
import sys

__all__ = ["USER_ERRORS", "configuration_error", "report_error", "report_usage_error"]

USER_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    KeyError,
    PermissionError,
)
"""Exceptions that describe a problem with the user's inputs, reported without a traceback."""


def report_error(
    command: str,
    err: Exception,
    *,
    config: str = "",
    wrapper: Exception | None = None,
    status: int = 2,
) -> int:
    """Print ``err`` as one paragraph on stderr and return ``status`` (2: usage, config or
    data; 1: a failure while running); re-raise instead with ``DYNACLR_DEBUG``.

    Parameters
    ----------
    command : str
        The subcommand, e.g. ``"fit"`` or ``"preprocess"``.
    err : Exception
        The problem; its message already names what is wrong and where.
    config : str, optional
        The config file(s) of the run, named in the message.
    wrapper : Exception, optional
        The exception ``err`` was found inside (kept as the cause when re-raised).
    """
    if os.environ.get("DYNACLR_DEBUG"):
        raise err from wrapper
    where = f" (config: {config})" if config else ""
    message = str(err.args[0] if isinstance(err, KeyError) and err.args else err)
    message = message.removeprefix(f"dynaclr {command}: ")  # said once, in front
    print(
        f"dynaclr {command}: error{where}: {message}\n(set DYNACLR_DEBUG=1 for the traceback)",
        file=sys.stderr,
    )
    return status


def configuration_error(err: BaseException) -> Exception | None:
    """Our own ``ConfigError`` behind a jsonargparse error (e.g. a value a link refused)."""
    from dynaclr.experiment_config import ConfigError

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, ConfigError):
            return err
        err = err.__cause__ or err.__context__
    return None


def report_usage_error(command: str, err: Exception, *, config: str = "") -> int:
    """Print a parser error (unknown key, bad value, a config path that is no file) in one
    paragraph, naming the config files, and return 2; the same for every LightningCLI-based
    command (``fit``, ``validate``, ``predict``, ``inspect``)."""
    cause = configuration_error(err)
    if cause is not None:
        return report_error(command, cause, config=config, wrapper=err)
    print(
        f"dynaclr {command}: configuration error in {config or 'the command line'}: {err}\n"
        f"Run 'dynaclr {command} --help' for every option and its documentation.",
        file=sys.stderr,
    )
    return 2
