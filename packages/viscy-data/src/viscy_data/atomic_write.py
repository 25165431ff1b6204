"""One way to replace a small file so that a reader, or a crash, never sees half of it.

Used for every metadata or bookkeeping file viscy writes in place: a FOV's attributes
(:func:`viscy_data.readers.write_fov_attribute`) and the manifest of an unfinished
:func:`viscy_data.rechunk.rechunk_plate` copy.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(
    path: str | os.PathLike, text: str, *, where: str, mode: int | None = None
) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    The text goes to ``.<name>.<random>.tmp`` beside ``path``, is flushed to disk
    (``fsync``) and moved over ``path`` with :func:`os.replace`, so ``path`` holds either its
    old content or all of the new one; the temporary file is removed on any failure.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace; its folder must exist.
    text : str
        The new content.
    where : str
        Names the thing being written, first in the error message (e.g. ``"p.zarr: FOV
        'A/1/0'"``).
    mode : int, optional
        Permission bits of the new file (e.g. the old file's); default ``0o600`` as
        :func:`tempfile.mkstemp` creates it.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    PermissionError
        When the folder cannot be written (read-only or no permission); the message names
        ``where`` and the folder.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "state.json"
    >>> write_text_atomic(target, '{"done": 1}', where="demo").read_text()
    '{"done": 1}'
    """
    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise PermissionError(
            f"{where}: cannot write to {str(path.parent)!r} (read-only plate?): {err.strerror}"
        ) from err
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
