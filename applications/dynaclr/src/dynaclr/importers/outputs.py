"""Outputs of an import: never over or inside an input, complete or absent.

:func:`check_outputs` refuses an output that exists (unless overwriting), lies inside an
input folder or holds one. :class:`StagedOutputs` writes each output into a temporary sibling
(``.<name>.partial-<random>``) and renames it into place only when everything was written;
an error or interruption before that removes the partial copies and leaves existing outputs
as they were.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["StagedOutputs", "check_outputs"]


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_outputs(outputs: Sequence[Path], inputs: Sequence[Path], *, overwrite: bool) -> None:
    """Refuse outputs that exist, overlap each other or an input.

    Parameters
    ----------
    outputs : sequence of Path
        Paths about to be written (files or folders).
    inputs : sequence of Path
        Folders read from; no output may be one of them, inside one, or hold one.
    overwrite : bool
        Allow replacing existing outputs.

    Raises
    ------
    ValueError
        An output inside (or holding) an input folder, or two outputs nested in each other.
    FileExistsError
        An existing output without ``overwrite``.
    """
    resolved = [Path(p).resolve() for p in outputs]
    for out, path in zip(resolved, outputs):
        for folder in inputs:
            source = Path(folder).resolve()
            if _within(out, source) or _within(source, out):
                where = "is inside" if _within(out, source) else "would replace"
                raise ValueError(
                    f"output {str(path)!r} {where} the input folder {str(folder)!r}; write "
                    "outputs elsewhere, e.g. beside the sequence folders."
                )
    for i, out in enumerate(resolved):
        for other in resolved[i + 1 :]:
            if _within(out, other) or _within(other, out):
                raise ValueError(
                    f"outputs {str(out)!r} and {str(other)!r} overlap; give distinct paths."
                )
    existing = [str(p) for p in outputs if Path(p).exists() or Path(p).is_symlink()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{existing} already exist(s); choose other output paths, or pass --overwrite "
            "(overwrite=True) to replace them once the new import is complete."
        )


class StagedOutputs:
    """Temporary siblings of the final outputs, renamed into place by :meth:`publish`.

    Use as a context manager; leaving it without :meth:`publish` (an error) removes every
    temporary path.

    Parameters
    ----------
    finals : sequence of Path
        The outputs' final paths; their parent folders are created.

    Examples
    --------
    >>> import tempfile
    >>> final = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with StagedOutputs([final]) as staged:
    ...     _ = staged[final].write_text("done")
    ...     staged.publish()
    >>> final.read_text()
    'done'
    """

    def __init__(self, finals: Sequence[Path]) -> None:
        token = uuid.uuid4().hex[:8]
        self._paths = {
            Path(f): Path(f).with_name(f".{Path(f).name}.partial-{token}") for f in finals
        }

    def __getitem__(self, final: Path) -> Path:
        """The temporary path to write instead of ``final``."""
        return self._paths[Path(final)]

    def __enter__(self) -> StagedOutputs:
        for final in self._paths:
            final.parent.mkdir(parents=True, exist_ok=True)
        return self

    def publish(self) -> None:
        """Rename every temporary path onto its final path, replacing what was there."""
        for final, tmp in self._paths.items():
            old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            if final.exists() or final.is_symlink():
                final.rename(old)
            tmp.rename(final)
            _remove(old)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for tmp in self._paths.values():
            _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
