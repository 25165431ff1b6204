"""The one rule for every path a command writes: never an input, replaced only when ours.

Every writing command (``dynaclr predict``, ``import-ctc``, ``rechunk``, ``evaluate``, ...)
calls :func:`check_outputs` before it starts any work:

- an output never equals, contains or lies inside an input of the run (a plate, a tracks
  file or folder, the experiments YAML, a checkpoint): refused, naming both paths;
- an existing output is refused unless ``overwrite``, and even then unless it carries the
  marker of the same kind of output (:func:`mark_output`, written with every output), so an
  unrelated file or folder, or a user's plate, is never replaced;
- outputs are written to a temporary sibling and renamed into place only when complete
  (:class:`StagedOutputs`), so an old output stays intact until its replacement is whole.

The marker: a zarr store's root attribute ``viscy_output``; a ``.viscy-output.json`` file in
any other folder; a first line ``# viscy-output: <kind>`` in a text file.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from viscy_data.atomic_write import write_text_atomic

__all__ = [
    "MARKER_ATTRIBUTE",
    "MARKER_FILE",
    "StagedOutputs",
    "check_outputs",
    "mark_output",
    "marker_line",
    "output_kind",
    "refuse_foreign",
    "refuse_overlaps",
]

MARKER_ATTRIBUTE = "viscy_output"
"""Root attribute of a zarr store that one of our commands wrote: ``{"kind": ..., ...}``."""
MARKER_FILE = ".viscy-output.json"
"""Marker file in a folder (not a zarr store) that one of our commands wrote."""
_TEXT_PREFIX = "# viscy-output: "
_ZARR_ROOTS = ("zarr.json", ".zgroup", ".zarray")

Input = tuple[str, "str | os.PathLike"]
"""``(what it is, path)``, e.g. ``("plate of experiment 'demo0'", "/data/demo0.zarr")``."""


def _is_url(path: str) -> bool:
    return "://" in path


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def check_outputs(
    outputs: Sequence[tuple[str | os.PathLike, str]],
    inputs: Sequence[Input],
    *,
    overwrite: bool,
    command: str,
) -> list[bool]:
    """Refuse outputs that touch an input, overlap each other, or replace what is not ours.

    Nothing is created or changed. Call it before any work starts.

    Parameters
    ----------
    outputs : sequence of (path, kind)
        Paths about to be written and the kind each is (the marker it will carry, e.g.
        ``"dynaclr embeddings"``).
    inputs : sequence of (description, path)
        What the run reads; URLs are skipped (a remote store cannot be a local output).
    overwrite : bool
        Allow replacing an existing output of the same kind.
    command : str
        Named in the advice, e.g. ``"dynaclr predict"``.

    Returns
    -------
    list of bool
        For each output, whether it exists (and will be replaced).

    Raises
    ------
    ValueError
        An output that is, holds or lies inside an input; two outputs nested in each other.
    FileExistsError
        An existing output without ``overwrite``; with ``overwrite``, one that is not
        recognisably the same kind of output written by this project.

    Examples
    --------
    >>> check_outputs([("/data/a.zarr/out.zarr", "x")], [("plate", "/data/a.zarr")],
    ...               overwrite=False, command="demo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: demo: output '/data/a.zarr/out.zarr' lies inside the plate '/data/a.zarr'...
    """
    resolved = refuse_overlaps([path for path, _ in outputs], inputs, command=command)
    existing = []
    for out, (path, kind) in zip(resolved, outputs):
        if not _exists(out):
            existing.append(False)
            continue
        if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
            existing.append(False)  # an empty folder holds nothing to lose
            continue
        if not overwrite:
            raise FileExistsError(
                f"{command}: {os.fspath(path)!r} already exists; choose another output, or "
                "pass --overwrite to replace it once the new one is complete."
            )
        refuse_foreign(out, kind, command=command, shown=os.fspath(path))
        existing.append(True)
    return existing


def refuse_foreign(path: Path, kind: str, *, command: str, shown: str | None = None) -> None:
    """Raise FileExistsError unless ``path`` holds an output of ``kind`` that viscy wrote."""
    found = output_kind(path)
    if found != kind:
        what = "nothing written by viscy" if found is None else f"a {found!r} output"
        raise FileExistsError(
            f"{command}: {shown or str(path)!r} exists and holds {what}, not a {kind!r} "
            "output; --overwrite only replaces outputs of the same kind that viscy wrote. "
            "Remove it yourself or choose another output."
        )


def refuse_overlaps(
    outputs: Sequence[str | os.PathLike],
    inputs: Sequence[Input],
    *,
    command: str,
    parent_folder: bool = False,
) -> list[Path]:
    """The outputs resolved, after refusing URLs, outputs touching an input or each other.

    ``parent_folder=True`` is for a folder the run only adds new entries to (a run folder,
    ``default_root_dir``): it may hold inputs, but may not be one or lie inside one.

    Raises
    ------
    ValueError
        Naming the output, how it overlaps (is, lies inside, would replace) and the input.
    """
    resolved = []
    for path in outputs:
        text = os.fspath(path)
        if _is_url(text):
            raise ValueError(f"{command}: output {text!r} is a URL; give a local path.")
        resolved.append(Path(text).resolve())
    for out, path in zip(resolved, outputs):
        for what, source in inputs:
            source_text = os.fspath(source)
            if _is_url(source_text):
                continue
            src = Path(source_text).resolve()
            holds = _within(src, out) and not (parent_folder and src != out)
            if _within(out, src) or holds:
                relation = (
                    "is"
                    if out == src
                    else ("lies inside" if _within(out, src) else "would replace")
                )
                raise ValueError(
                    f"{command}: output {os.fspath(path)!r} {relation} the {what} "
                    f"{source_text!r}; inputs are never written: choose an output outside "
                    "every input, e.g. beside it."
                )
    for i, out in enumerate(resolved):
        for other in resolved[i + 1 :]:
            if _within(out, other) or _within(other, out):
                raise ValueError(
                    f"{command}: outputs {str(out)!r} and {str(other)!r} overlap; give distinct "
                    "paths."
                )
    return resolved


def mark_output(path: str | os.PathLike, kind: str, **details: object) -> None:
    """Mark ``path`` (a folder or zarr store we just wrote) as an output of ``kind``.

    ``details`` (JSON-serialisable) are stored beside the kind and the UTC time.
    """
    path = Path(path)
    marker = {
        "kind": kind,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **details,
    }
    if _zarr_root(path):
        import zarr

        zarr.open_group(str(path), mode="r+").attrs[MARKER_ATTRIBUTE] = marker
    elif path.is_dir():
        write_text_atomic(
            path / MARKER_FILE, json.dumps(marker, indent=2), where=str(path), mode=0o644
        )
    else:
        raise ValueError(
            f"{path}: only folders are marked here; give text files marker_line({kind!r})"
        )


def marker_line(kind: str) -> str:
    """First line of a text output (YAML, CSV with comments) of ``kind``."""
    return f"{_TEXT_PREFIX}{kind}\n"


def output_kind(path: str | os.PathLike) -> str | None:
    """The kind of output ``path`` holds when one of our commands wrote it, else None."""
    path = Path(path)
    try:
        if _zarr_root(path):
            import zarr

            marker = zarr.open_group(str(path), mode="r").attrs.get(MARKER_ATTRIBUTE)
            return marker.get("kind") if isinstance(marker, dict) else None
        if path.is_dir():
            marker_file = path / MARKER_FILE
            if not marker_file.is_file():
                return None
            return json.loads(marker_file.read_text()).get("kind")
        if path.is_file():
            with path.open("r", errors="replace") as file:
                first = file.readline()
            return first[len(_TEXT_PREFIX) :].strip() if first.startswith(_TEXT_PREFIX) else None
    except (OSError, ValueError, KeyError, AttributeError):
        return None  # unreadable: not recognisably ours
    return None


def _zarr_root(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in _ZARR_ROOTS)


class StagedOutputs:
    """Temporary siblings of the final outputs, renamed into place by :meth:`publish`.

    Use as a context manager; leaving it without :meth:`publish` (an error, an interruption)
    removes every temporary path and leaves the final paths as they were.

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

    def __init__(self, finals: Sequence[str | os.PathLike]) -> None:
        token = uuid.uuid4().hex[:8]
        self._paths = {
            Path(f): Path(f).with_name(f".{Path(f).name}.partial-{token}") for f in finals
        }

    def __getitem__(self, final: str | os.PathLike) -> Path:
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
            if _exists(final):
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
    elif _exists(path):
        path.unlink()
