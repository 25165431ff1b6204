"""What a CTC import read, wrote and counted: :class:`CTCCounts` and :class:`CTCImportSummary`.

``str(summary)`` is the report ``dynaclr import-ctc`` prints: the outputs, one line per FOV,
then every count, each irregularity with how it was handled (see :mod:`.ctc_lineage`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from dynaclr.importers.ctc_sequence import CTCSequence

__all__ = ["CTCCounts", "CTCImportSummary"]


@dataclass(frozen=True)
class CTCCounts:
    """What one import read, and every disagreement between masks and lineage file.

    Attributes
    ----------
    sequences, frames, tracks, divisions, observations : int
        Sequences, image frames, tracks written, parents with two or more daughter tracks
        written, and rows written.
    unlisted_labels, unlisted_observations : int
        Labels in masks but not in the lineage file, and their observations (kept as roots
        unless dropped).
    unseen_tracks : int
        Lineage entries never seen in a mask (no rows).
    orphaned_tracks : int
        Tracks whose parent has no observation (never in a mask or not listed); made roots.
    frames_without_mask : int
        Image frames without a label mask file.
    gaps : int
        Missing frames spans inside a track (between two of its observations).
    gap_links : int
        Only daughters starting more than one frame after their parent's last observation.
    outside_span : int
        Observations outside their lineage entry's B..E frames.
    """

    sequences: int = 0
    frames: int = 0
    tracks: int = 0
    divisions: int = 0
    observations: int = 0
    unlisted_labels: int = 0
    unlisted_observations: int = 0
    unseen_tracks: int = 0
    orphaned_tracks: int = 0
    frames_without_mask: int = 0
    gaps: int = 0
    gap_links: int = 0
    outside_span: int = 0

    def __add__(self, other: CTCCounts) -> CTCCounts:
        return CTCCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class CTCImportSummary:
    """What :func:`import_ctc` wrote and counted; ``str()`` is the printed summary.

    Attributes
    ----------
    experiment : str
        The experiment's name in the YAML.
    plate, tracks, experiments_yaml : Path
        The outputs.
    fovs : dict of str to CTCSequence
        FOV name (``"A/1/0"``) -> the sequence it holds.
    per_fov : dict of str to CTCCounts
        Counts of each FOV's sequence.
    counts : CTCCounts
        Totals.
    drop_unlisted : bool
        Whether labels missing from the lineage files were dropped (else kept as roots).
    """

    experiment: str
    plate: Path
    tracks: Path
    experiments_yaml: Path
    fovs: dict[str, CTCSequence]
    per_fov: dict[str, CTCCounts]
    counts: CTCCounts
    drop_unlisted: bool

    def __str__(self) -> str:
        c = self.counts
        unlisted = "dropped" if self.drop_unlisted else "kept as root tracks"
        lines = [
            f"Imported {c.sequences} CTC sequence(s) into experiment {self.experiment!r}:",
            f"  plate:       {self.plate}",
            f"  tracks:      {self.tracks}",
            f"  experiments: {self.experiments_yaml}",
        ]
        for fov, seq in self.fovs.items():
            n = self.per_fov[fov]
            no_mask = seq.frames_without_mask
            lines.append(
                f"  {fov} <- {seq.image_dir} (lineage {seq.lineage_file}): {n.frames} frames, "
                f"{n.tracks} tracks, {n.observations} observations"
                + (f", no mask at frame(s) {no_mask[:10]}" if no_mask else "")
            )
        rows = [
            ("sequences", c.sequences, ""),
            ("frames", c.frames, ""),
            ("tracks", c.tracks, ""),
            ("divisions", c.divisions, "parents with two or more daughter tracks"),
            ("observations", c.observations, "rows of the tracks CSVs"),
            (
                "labels in masks, not in the lineage file",
                c.unlisted_labels,
                f"{unlisted}; {c.unlisted_observations} observation(s)",
            ),
            ("lineage entries never in a mask", c.unseen_tracks, "no rows"),
            ("tracks whose parent has no observation", c.orphaned_tracks, "made roots"),
            ("frames without a mask", c.frames_without_mask, "image kept, no observations"),
            ("gaps inside a track", c.gaps, "kept; no rows at the missing frames"),
            ("tracks continuing a parent after a gap", c.gap_links, "kept as parent links"),
            ("observations outside their entry's B..E", c.outside_span, "kept"),
        ]
        width = max(len(r[0]) for r in rows)
        lines += [f"  {k:<{width}}  {v:>6}" + (f"  ({why})" if why else "") for k, v, why in rows]
        return "\n".join(lines)
