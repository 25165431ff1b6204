"""What a folder holds, file by file, to prove that a command left it untouched."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["tree_digest"]


def tree_digest(root: str | os.PathLike) -> dict[str, tuple]:
    """``relative path -> (size, mtime_ns, sha256)`` of every file under ``root``; folders ().

    Compare the digests taken before and after a command: equal digests mean no file or
    folder was added, removed, rewritten or touched. A missing ``root`` gives ``{}``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_text("a")
    >>> digest = tree_digest(folder)
    >>> list(digest), digest["a.txt"][0]
    (['a.txt'], 1)
    """
    root = Path(root)
    digest: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_dir():
            digest[relative] = ()
        else:
            stat = path.stat()
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            digest[relative] = (stat.st_size, stat.st_mtime_ns, sha)
    return digest
