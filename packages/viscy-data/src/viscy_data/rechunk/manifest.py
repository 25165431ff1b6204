"""Where a copy may be written, and the manifest that lets an interrupted copy resume.

While a copy is unfinished, ``DST/.viscy-rechunk.json`` records the source, the settings
(NGFF version, compression, each FOV's shape, dtype, chunks and shards), whether the groups
and empty arrays are written, and the SHA-256 of every FOV already copied and verified. It is
replaced atomically after each FOV (:func:`viscy_data.atomic_write.write_text_atomic`) and
removed as the last step, so a finished copy holds no trace of it. Before anything is
written, :func:`destination_state` decides: a new copy, the resumption of this very copy, or
(with ``overwrite``) a replacement; anything else is refused and left as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from viscy_data.atomic_write import write_text_atomic
from viscy_data.readers.ome_zarr import is_url

__all__ = [
    "MANIFEST_NAME",
    "Manifest",
    "check_paths",
    "destination_state",
    "read_manifest",
    "write_manifest",
]

MANIFEST_NAME = ".viscy-rechunk.json"
_FORMAT = "viscy-rechunk/1"
_ZARR_FILES = ("zarr.json", ".zgroup", ".zarray")


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

    Raises
    ------
    ValueError
        When ``dst`` is a URL, or ``dst`` and a local ``src`` overlap (naming both).

    Examples
    --------
    >>> check_paths("/data/plate.zarr", "/data/plate.zarr/copy.zarr")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: destination '/data/plate.zarr/copy.zarr' lies inside the source ...
    """
    if is_url(os.fspath(dst)):
        raise ValueError(f"destination {os.fspath(dst)!r} is a URL; give a local folder")
    target = Path(dst).resolve()
    if is_url(src):
        return target
    source = Path(src).resolve()
    names = f"destination {os.fspath(dst)!r}", f"the source {src!r}"
    if target == source:
        raise ValueError(f"{names[0]} is {names[1]}; the source is never written: choose another")
    if target.is_relative_to(source):
        raise ValueError(
            f"{names[0]} lies inside {names[1]}; the source is never written: choose a "
            "destination outside it, e.g. beside it"
        )
    if source.is_relative_to(target):
        raise ValueError(
            f"{names[0]} holds {names[1]}; writing it would replace the source: choose a "
            "destination outside it"
        )
    return target


def destination_state(
    dst: Path, wanted: Manifest, overwrite: bool
) -> tuple[Literal["new", "resume", "replace"], Manifest | None]:
    """Decide what to do with ``dst``, without changing it.

    Returns
    -------
    tuple
        ``("new", None)``: nothing there (or an empty folder); ``("resume", found)``: an
        unfinished copy with the same source and settings; ``("replace", None)``: with
        ``overwrite``, a zarr store or an unfinished copy to remove first.

    Raises
    ------
    FileExistsError
        Without ``overwrite``: ``dst`` exists and is not this unfinished copy (a finished
        copy, another copy, other data), naming it and what differs; with ``overwrite``:
        ``dst`` is not a zarr store (it is never removed then).
    ValueError
        A damaged manifest, without ``overwrite``.
    """
    if not dst.exists() and not dst.is_symlink():
        return "new", None
    if dst.is_dir() and not dst.is_symlink() and not any(dst.iterdir()):
        return "new", None
    ours = dst.is_dir() and (dst / MANIFEST_NAME).is_file()
    if overwrite:
        if not dst.is_dir() or dst.is_symlink() or not (ours or _is_zarr(dst)):
            raise FileExistsError(
                f"destination {str(dst)!r} exists and is not a zarr store; overwrite only "
                "replaces a zarr store or an unfinished copy: remove it yourself or choose "
                "another destination"
            )
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


def _is_zarr(path: Path) -> bool:
    return any((path / name).is_file() for name in _ZARR_FILES)
