"""Where ``dynaclr fit`` keeps its built-in demo dataset, and writing it there once."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from dynaclr.demo.dataset import write_demo_dataset

__all__ = ["DEMO_VERSION", "cache_dir", "ensure_demo_dataset"]

DEMO_VERSION = "demo-v2"
"""Folder name of the current demo; bump it when the demo's content changes."""


def cache_dir() -> Path:
    """``$DYNACLR_CACHE``, else ``$XDG_CACHE_HOME/dynaclr``, else ``~/.cache/dynaclr``."""
    if os.environ.get("DYNACLR_CACHE"):
        return Path(os.environ["DYNACLR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "dynaclr"


def ensure_demo_dataset(root: str | os.PathLike | None = None) -> Path:
    """Return the demo's ``experiments.yml``, writing the demo first if it is absent.

    The demo is written into a temporary sibling folder and renamed into place, so an
    interrupted write never leaves a half-written demo that later runs would trust.

    Parameters
    ----------
    root : path, optional
        Folder holding the demo (default ``cache_dir() / DEMO_VERSION``).
    """
    root = Path(root) if root is not None else cache_dir() / DEMO_VERSION
    experiments = root / "experiments.yml"
    if experiments.is_file():
        return experiments
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        written = write_demo_dataset(staging, progress=sys.stderr.isatty())
        if written != staging / "experiments.yml":
            raise RuntimeError(f"demo writer returned {written}, expected it in {staging}")
        try:
            staging.rename(root)
        except OSError:
            if not experiments.is_file():  # another process did not win the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return experiments
