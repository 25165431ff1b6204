"""A folder made read-only for the length of a test, for every user the test may run as."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["read_only_tree"]


def _chattr(flag: str, paths: list[Path]) -> bool:
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    done = subprocess.run([chattr, flag, *map(str, paths)], capture_output=True, check=False)
    return done.returncode == 0


@contextmanager
def read_only_tree(root: str | os.PathLike) -> Iterator[bool]:
    """Make ``root`` and everything under it unwritable; restore it on exit.

    Write bits are cleared first. A user who writes regardless (root, in containers and CI)
    gets the Linux immutable attribute (``chattr +i``) too, where the tool and the permission
    to set it exist.

    Yields
    ------
    bool
        True when the tree is now unwritable for this process (the test can rely on it),
        False when neither way worked (the test should skip).

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with read_only_tree(folder) as read_only:
    ...     read_only == (not os.access(folder, os.W_OK))  # skip a test when False
    True
    >>> os.access(folder, os.W_OK)  # restored
    True
    >>> shutil.rmtree(folder)
    """
    root = Path(root)
    paths = [root, *sorted(root.rglob("*"))]
    modes = {p: stat.S_IMODE(p.lstat().st_mode) for p in paths}
    immutable: list[Path] = []
    try:
        for p in reversed(paths):
            p.chmod(modes[p] & ~0o222)
        if os.access(root, os.W_OK) and _chattr("+i", paths):
            immutable = paths
        yield not os.access(root, os.W_OK)
    finally:
        if immutable:
            _chattr("-i", immutable)
        for p in paths:
            p.chmod(modes[p])
