"""Where a copy may be written, and the manifest that lets an interrupted copy resume.

While a copy is unfinished, ``DST/.viscy-rechunk.json`` records the source, the settings
(NGFF version, compression, each FOV's shape, dtype, chunks and shards), whether the groups
and empty arrays are written, and the SHA-256 of every FOV already copied and verified. It is
replaced atomically after each FOV (:func:`viscy_data.atomic_write.write_text_atomic`) and
removed as the last step, after the copy is marked as ours (root attribute ``viscy_output``,
:data:`OUTPUT_KIND`). Before anything is written, :func:`destination_state` decides: a new
copy, the resumption of this very copy, or (with ``overwrite``) a replacement of an unfinished
or finished copy that rechunk wrote; anything else (a user's plate, other data) is refused and
left as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from viscy_data.atomic_write import write_text_atomic
from viscy_data.outputs import refuse_foreign, refuse_overlaps

__all__ = [
    "MANIFEST_NAME",
    "OUTPUT_KIND",
    "Manifest",
    "check_paths",
    "destination_state",
    "read_manifest",
    "write_manifest",
]

MANIFEST_NAME = ".viscy-rechunk.json"
_FORMAT = "viscy-rechunk/1"
COMMAND = "dynaclr rechunk"
OUTPUT_KIND = "rechunked plate"
"""Marker kind of a finished copy (:func:`viscy_data.outputs.mark_output`)."""


@dataclass
class Manifest:
    """What an unfinished copy is a copy of, and how far it got.

    Attributes
    ----------
    source : str
        The source plate, an absolute path (or a URL).
    settings : dict
        ``{"ngff_version", "compression", "fovs": {name: {"shape", "dtype", "chunks",
        "shards"}}}``: a copy resumes only with equal settings.
    layout_written : bool, default False
        Whether every group and empty array of the copy is written.
    checksums : dict, default {}
        SHA-256 (hex) of each FOV copied and verified, keyed by FOV name.
    """

    source: str
    settings: dict[str, Any]
    layout_written: bool = False
    checksums: dict[str, str] = field(default_factory=dict)

    def difference(self, other: Manifest) -> str:
        """How ``other`` (the copy asked for) differs from this one, or "" when it does not."""
        if self.source != other.source:
            return f"it copies {self.source!r}, this run copies {other.source!r}"
        for key in ("ngff_version", "compression"):
            if self.settings.get(key) != other.settings.get(key):
                return (
                    f"its {key} is {self.settings.get(key)!r}, this run's {other.settings[key]!r}"
                )
        ours, theirs = self.settings.get("fovs", {}), other.settings["fovs"]
        if set(ours) != set(theirs):
            return f"it holds FOVs {sorted(ours)}, the source now {sorted(theirs)}"
        for name, wanted in theirs.items():
            for key, value in wanted.items():
                if ours[name].get(key) != value:
                    return f"its {key} of FOV {name!r} is {ours[name].get(key)}, this run's {value}"
        return ""


def read_manifest(dst: str | os.PathLike) -> Manifest | None:
    """The manifest of an unfinished copy in ``dst``, or None when there is none.

    Raises
    ------
    ValueError
        When the manifest is not one this version wrote (naming the file).
    """
    path = Path(dst) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
        if document.pop("format") != _FORMAT:
            raise ValueError(f"format is not {_FORMAT!r}")
        return Manifest(**document)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{str(path)!r} is not a manifest of an unfinished rechunk ({err}); remove the "
            "destination, or pass --overwrite (overwrite=True) to replace it"
        ) from err


def write_manifest(dst: str | os.PathLike, manifest: Manifest) -> Path:
    """Replace ``dst``'s manifest atomically; returns its path."""
    text = json.dumps({"format": _FORMAT, **asdict(manifest)}, indent=2)
    path = Path(dst) / MANIFEST_NAME
    return write_text_atomic(path, text, where=f"rechunk destination {str(dst)!r}", mode=0o644)


def check_paths(src: str, dst: str | os.PathLike) -> Path:
    """Refuse a destination that is the source, lies inside it or holds it; returns it resolved.

    The shared rule of every writing command (:func:`viscy_data.outputs.refuse_overlaps`).

    Raises
    ------
    ValueError
        When ``dst`` is a URL, or ``dst`` and a local ``src`` overlap (naming both).

    Examples
    --------
    >>> check_paths("/data/plate.zarr", "/data/plate.zarr/copy.zarr")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: dynaclr rechunk: output '/data/plate.zarr/copy.zarr' lies inside the source ...
    """
    return refuse_overlaps([dst], [("source plate", src)], command=COMMAND)[0]


def destination_state(
    dst: Path, wanted: Manifest, overwrite: bool
) -> tuple[Literal["new", "resume", "replace"], Manifest | None]:
    """Decide what to do with ``dst``, without changing it.

    Returns
    -------
    tuple
        ``("new", None)``: nothing there (or an empty folder); ``("resume", found)``: an
        unfinished copy with the same source and settings; ``("replace", None)``: with
        ``overwrite``, a finished or unfinished copy that rechunk wrote, to be replaced.

    Raises
    ------
    FileExistsError
        Without ``overwrite``: ``dst`` exists and is not this unfinished copy (a finished
        copy, another copy, other data), naming it and what differs; with ``overwrite``:
        ``dst`` is not a copy rechunk wrote (it is never removed then).
    ValueError
        A damaged manifest, without ``overwrite``.
    """
    if not dst.exists() and not dst.is_symlink():
        return "new", None
    if dst.is_dir() and not dst.is_symlink() and not any(dst.iterdir()):
        return "new", None
    ours = dst.is_dir() and not dst.is_symlink() and (dst / MANIFEST_NAME).is_file()
    if overwrite:
        if not ours:
            refuse_foreign(dst, OUTPUT_KIND, command=COMMAND)
        return "replace", None
    found = read_manifest(dst) if ours else None
    if found is None:
        raise FileExistsError(
            f"destination {str(dst)!r} already exists (a finished copy or other data); choose "
            "another destination, or pass --overwrite (overwrite=True) to replace it"
        )
    difference = found.difference(wanted)
    if difference:
        raise FileExistsError(
            f"destination {str(dst)!r} holds an unfinished copy that this run cannot resume: "
            f"{difference}. Run again with its source and options to finish it, or pass "
            "--overwrite (overwrite=True) to replace it"
        )
    return "resume", found
