"""The command line as written: the config files it names, the packaged configs, the demo.

One place reads ``-c FILE``, ``--config FILE`` and ``--config=FILE``, for every command that
needs to know (the default demo fit, error messages, ``dynaclr inspect``).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from dynaclr.demo.cache import DEMO_VERSION, cache_dir, ensure_demo_dataset

__all__ = [
    "config_arguments",
    "config_files",
    "demo_args",
    "demo_print_args",
    "packaged_config",
]

_FLAGS = ("-c", "--config")
_INLINE = "--config="


def config_arguments(argv: Sequence[str]) -> list[tuple[int, str, str]]:
    """Every config file on ``argv``: ``(position of its path, path, prefix)``.

    ``prefix`` is ``"--config="`` when the path shares its argument with the flag, else "";
    ``argv[position] == prefix + path`` either way, so a caller can swap in another file.

    Examples
    --------
    >>> config_arguments(["fit", "-c", "a.yml", "--config=b.yml", "--config", "c.yml"])
    [(2, 'a.yml', ''), (3, 'b.yml', '--config='), (5, 'c.yml', '')]
    """
    found = []
    for i, arg in enumerate(argv):
        if arg in _FLAGS and i + 1 < len(argv):
            found.append((i + 1, argv[i + 1], ""))
        elif arg.startswith(_INLINE):
            found.append((i, arg[len(_INLINE) :], _INLINE))
    return found


def config_files(argv: Sequence[str]) -> list[str]:
    """Paths of the config files ``argv`` names, in order."""
    return [path for _, path, _ in config_arguments(argv)]


def packaged_config(name: str) -> Path:
    """Path of a config file shipped with dynaclr (``dynaclr/configs/NAME``)."""
    path = Path(str(resources.files("dynaclr") / "configs" / name))
    if not path.is_file():
        raise FileNotFoundError(f"no packaged config {name!r} in {path.parent}")
    return path


def demo_args() -> list[str]:
    """Arguments that train on the built-in demo, written into the cache folder if absent."""
    experiments = ensure_demo_dataset()
    print(f"dynaclr: no --config given; training on the demo dataset at {experiments.parent}")
    return [
        "--config",
        str(packaged_config("demo_fit.yml")),
        f"--data.experiments_yaml={experiments}",
    ]


def demo_print_args() -> list[str]:
    """The arguments of :func:`demo_args` without writing the demo (for ``--print_config``)."""
    experiments = cache_dir() / DEMO_VERSION / "experiments.yml"
    return [
        "--config",
        str(packaged_config("demo_fit.yml")),
        f"--data.experiments_yaml={experiments}",
    ]
