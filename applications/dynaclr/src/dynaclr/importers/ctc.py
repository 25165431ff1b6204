"""Cell Tracking Challenge sequences -> an HCS plate, tracks in our CSV layout, experiments.yml.

:func:`import_ctc` reads one or more CTC sequences (:mod:`.ctc_sequence` for the files and
centroids, :mod:`.ctc_lineage` for the lineage) and writes, all or nothing
(:mod:`.outputs`):

- ``OUT.zarr``: an OME-Zarr HCS plate, one FOV per sequence, channel = the image only (masks
  are read for centroids, not stored); one well per condition (``A/1``, ``A/2``, ... in order
  of first appearance), FOVs ``0, 1, ...`` in sequence order; 2-D images become Z = 1; the
  dtype is kept; the T axis scale is the frame interval in seconds;
- ``OUT_tracks/row/col/fov/tracks.csv``: ``track_id`` (the CTC label), ``t``, (``z``), ``y``,
  ``x`` (mask centroids in pixels of the full-resolution array), ``parent_track_id`` (P, or -1)
  and ``mask_pixels`` (the label's pixel or voxel count);
- ``OUT.yml``: one experiment that ``dynaclr fit`` reads as it is.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from dynaclr.importers.ctc_frames import copy_frames, first_frame
from dynaclr.importers.ctc_lineage import read_lineage_file, reconcile_tracks
from dynaclr.importers.ctc_sequence import (
    TrackingSource,
    find_ctc_sequence,
)
from dynaclr.importers.ctc_summary import CTCCounts, CTCImportSummary
from dynaclr.registry import write_experiments
from viscy_data.outputs import StagedOutputs, check_outputs, mark_output
from viscy_data.testing import create_hcs_plate

__all__ = ["import_ctc"]

PLATE_KIND = "dynaclr import-ctc plate"
TRACKS_KIND = "dynaclr import-ctc tracks"
EXPERIMENTS_KIND = "dynaclr import-ctc experiments"
"""Output kinds (:func:`viscy_data.outputs.mark_output`): ``--overwrite`` replaces only these."""


def _wells(conditions: list[str]) -> list[str]:
    """FOV name per sequence: one well per condition, FOVs numbered in sequence order."""
    wells = list(dict.fromkeys(conditions))
    used: dict[str, int] = {}
    names = []
    for condition in conditions:
        well = f"A/{wells.index(condition) + 1}"
        names.append(f"{well}/{used.get(well, 0)}")
        used[well] = used.get(well, 0) + 1
    return names


def _check_arguments(interval_minutes, name, channel_name, conditions, chunks, n) -> list[str]:
    number = isinstance(interval_minutes, numbers.Real) and not isinstance(interval_minutes, bool)
    if not (number and math.isfinite(interval_minutes)):
        raise ValueError(f"interval_minutes must be a finite number, got {interval_minutes!r}")
    if interval_minutes <= 0:
        raise ValueError(f"interval_minutes must be > 0, got {interval_minutes!r}")
    if not name or not channel_name:
        raise ValueError(
            f"the experiment and channel names must not be empty; got {name!r} and {channel_name!r}"
        )
    conditions = [conditions] if isinstance(conditions, str) else list(conditions)
    if len(conditions) not in (1, n) or not all(conditions):
        raise ValueError(
            f"give one condition for every sequence or one for all; got {conditions!r} for "
            f"{n} sequence(s)."
        )
    if chunks is not None and (len(chunks) != 5 or any(int(c) < 1 for c in chunks)):
        raise ValueError(f"chunks must be 5 positive integers (T, C, Z, Y, X), got {chunks!r}")
    return conditions * n if len(conditions) == 1 else conditions


def import_ctc(
    sequences: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    interval_minutes: float,
    tracking_dirs: Sequence[str | Path] | None = None,
    source: TrackingSource = "auto",
    conditions: str | Sequence[str] = "control",
    channel_name: str = "image",
    name: str | None = None,
    ngff_version: Literal["0.4", "0.5"] = "0.5",
    chunks: tuple[int, int, int, int, int] | None = None,
    tracks_out: str | Path | None = None,
    experiments_out: str | Path | None = None,
    overwrite: bool = False,
    drop_unlisted: bool = False,
) -> CTCImportSummary:
    """Import Cell Tracking Challenge sequences as one dynaclr experiment.

    Parameters
    ----------
    sequences : path or sequence of paths
        Sequence folders ``<root>/<seq>`` holding ``tTTT.tif`` (2-D or 3-D, one channel).
    out : str or Path
        The plate to write, e.g. ``data/ctc.zarr``; must not exist unless ``overwrite``.
    interval_minutes : float
        Time between frames in minutes (the CTC layout does not store it).
    tracking_dirs : sequence of paths, optional
        Mask + lineage folder per sequence; default from ``source``.
    source : {"auto", "gt", "res"}, default "auto"
        Default tracking folder: ``<seq>_GT/TRA`` (``man_trackTTT.tif``, ``man_track.txt``),
        ``<seq>_RES`` (``maskTTT.tif``, ``res_track.txt``), or the first that exists.
    conditions : str or sequence of str, default "control"
        One condition for all sequences, or one per sequence; one well per condition.
    channel_name : str, default "image"
        Name of the plate's one channel.
    name : str, optional
        Experiment name; default the stem of ``out``.
    ngff_version : {"0.4", "0.5"}, default "0.5"
        OME-NGFF 0.4 (zarr v2) or 0.5 (zarr v3).
    chunks : tuple of 5 int, optional
        Chunk shape (T, C, Z, Y, X); default one frame, ``(1, 1, Z, Y, X)``.
    tracks_out, experiments_out : str or Path, optional
        Default ``<out stem>_tracks`` and ``<out stem>.yml`` beside ``out``.
    overwrite : bool, default False
        Replace existing outputs, once the new ones are complete.
    drop_unlisted : bool, default False
        Drop labels absent from the lineage file instead of keeping them as root tracks.

    Returns
    -------
    CTCImportSummary

    Raises
    ------
    FileNotFoundError
        Missing sequence, tracking folder, images, masks or lineage file.
    FileExistsError
        An existing output without ``overwrite``.
    ValueError
        Bad arguments, outputs inside an input, malformed lineage lines (with line number),
        image or mask shapes that differ, unreadable TIFFs, sequences of different dtypes.
    """
    paths = [sequences] if isinstance(sequences, str | os.PathLike) else list(sequences)
    if not paths:
        raise ValueError("give at least one CTC sequence folder")
    out = Path(out)
    name = out.stem if name is None else name
    conditions = _check_arguments(
        interval_minutes, name, channel_name, conditions, chunks, len(paths)
    )
    if tracking_dirs is not None and len(tracking_dirs) != len(paths):
        raise ValueError(
            f"give one tracking folder per sequence: {len(tracking_dirs)} for {len(paths)}."
        )
    found = [
        find_ctc_sequence(p, None if tracking_dirs is None else tracking_dirs[i], source)
        for i, p in enumerate(paths)
    ]
    tracks_out = Path(tracks_out) if tracks_out else out.with_name(f"{out.stem}_tracks")
    yaml_out = Path(experiments_out) if experiments_out else out.with_name(f"{out.stem}.yml")
    inputs = [
        (what, folder)
        for seq in found
        for what, folder in (
            ("sequence folder", seq.image_dir),
            ("tracking folder", seq.tracking_dir),
        )
    ]
    outputs = [(out, PLATE_KIND), (tracks_out, TRACKS_KIND), (yaml_out, EXPERIMENTS_KIND)]
    check_outputs(outputs, inputs, overwrite=overwrite, command="dynaclr import-ctc")
    lineages = [read_lineage_file(seq.lineage_file) for seq in found]
    probes = [first_frame(seq) for seq in found]
    dtypes = {str(dtype) for _, dtype in probes}
    if len(dtypes) > 1:
        shown = {str(s.image_dir): str(d) for s, (_, d) in zip(found, probes)}
        raise ValueError(
            f"sequences have different image dtypes {shown}; one plate holds one "
            "dtype, so import them into separate plates."
        )
    fov_names = _wells(conditions)
    shapes = {
        fov: (seq.n_frames, 1, *((1, *shape) if len(shape) == 2 else shape))
        for fov, seq, (shape, _) in zip(fov_names, found, probes)
    }
    entry = _experiment_entry(
        yaml_out,
        out,
        tracks_out,
        name,
        channel_name,
        interval_minutes,
        dict(zip(fov_names, conditions)),
    )
    per_fov: dict[str, CTCCounts] = {}
    with StagedOutputs([out, tracks_out, yaml_out]) as staged:
        arrays = create_hcs_plate(
            staged[out],
            shapes,
            [channel_name],
            dtype=probes[0][1],
            version=ngff_version,
            chunks=chunks,
            scale=(interval_minutes * 60.0, 1.0, 1.0, 1.0, 1.0),
        )
        for fov, seq, lineage, (shape, _) in zip(fov_names, found, lineages, probes):
            observations = copy_frames(seq, arrays[fov], shape, probes[0][1])
            tracks, counts = reconcile_tracks(observations, lineage, drop_unlisted=drop_unlisted)
            folder = staged[tracks_out] / fov
            folder.mkdir(parents=True)
            tracks.write_csv(folder / "tracks.csv")
            per_fov[fov] = counts + CTCCounts(
                sequences=1,
                frames=seq.n_frames,
                frames_without_mask=len(seq.frames_without_mask),
            )
        sources = [
            f"  {fov} <- {seq.image_dir.resolve()} (lineage {seq.lineage_file.resolve()})"
            for fov, seq in zip(fov_names, found)
        ]
        write_experiments(
            staged[yaml_out],
            [entry],
            ["Written by dynaclr import-ctc from Cell Tracking Challenge sequences:", *sources],
            kind=EXPERIMENTS_KIND,
        )
        mark_output(staged[out], PLATE_KIND)
        mark_output(staged[tracks_out], TRACKS_KIND)
        staged.publish()
    total = sum(per_fov.values(), CTCCounts())
    return CTCImportSummary(
        name,
        out,
        tracks_out,
        yaml_out,
        dict(zip(fov_names, found)),
        per_fov,
        total,
        drop_unlisted,
    )


def _experiment_entry(
    yaml_path: Path,
    plate: Path,
    tracks: Path,
    name: str,
    channel: str,
    interval_minutes: float,
    conditions: dict[str, str],
) -> dict:
    """The experiments.yml entry; paths relative to the YAML's folder, as the registry reads."""
    wells: dict[str, list[str]] = {}
    for fov, condition in conditions.items():
        well = fov.rsplit("/", 1)[0]
        if well not in wells.setdefault(condition, []):
            wells[condition].append(well)
    folder = yaml_path.resolve().parent
    return {
        "name": name,
        "data_path": os.path.relpath(plate.resolve(), folder),
        "tracks_path": os.path.relpath(tracks.resolve(), folder),
        "channel_names": [channel],
        "source_channel": [channel],
        "condition_wells": wells,
        "interval_minutes": float(interval_minutes),
    }
