"""Tracks from other trackers, turned into dynaclr's layout (plate, tracks CSVs, YAML).

ctc.py           import_ctc: Cell Tracking Challenge sequences -> plate, tracks, experiments.yml
ctc_sequence.py  a CTC sequence's files (images, label masks, lineage file); mask centroids
ctc_frames.py    its frames: images copied into the plate, masks turned into centroids
ctc_lineage.py   man_track.txt / res_track.txt, reconciled with the masks, every mismatch counted
ctc_summary.py   the counts and the printed summary of an import
outputs.py       outputs never inside an input, written to a temporary sibling then renamed

geff stores need no import: ``tracks_path`` may point at them directly
(:mod:`dynaclr.cell_index.geff_tracks`).
"""

from dynaclr.importers.ctc import import_ctc
from dynaclr.importers.ctc_summary import CTCCounts, CTCImportSummary

__all__ = ["CTCCounts", "CTCImportSummary", "import_ctc"]
