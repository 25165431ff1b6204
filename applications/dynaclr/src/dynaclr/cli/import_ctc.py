"""``dynaclr import-ctc``: Cell Tracking Challenge sequences -> plate, tracks, experiments.yml.

Parses the command line, runs :func:`dynaclr.importers.import_ctc` and prints its summary;
a problem with the inputs or outputs prints one paragraph and exits 2
(:func:`dynaclr.cli.errors.report_error`).
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from dynaclr.cli.errors import USER_ERRORS, report_error
from dynaclr.cli.options import CommandParser, five_integers

__all__ = ["import_ctc_main", "import_ctc_parser"]

_EPILOG = """\
layout read (https://celltrackingchallenge.net):
  <root>/<seq>/tTTT.tif                  images, 2-D or 3-D, one channel (3 or 4 digits)
  <root>/<seq>_GT/TRA/man_trackTTT.tif   label masks, and man_track.txt ('L B E P' lines)
  <root>/<seq>_RES/maskTTT.tif           results, and res_track.txt

written all or nothing (an interrupted import leaves no partial output; existing outputs
are replaced only with --overwrite, once the new ones are complete):
  OUT.zarr                      HCS plate: one FOV per sequence, one well per condition
  OUT_tracks/row/col/fov/tracks.csv   centroids of the masks, lineage from the lineage file
  OUT.yml                       one experiment, ready for 'dynaclr fit'

example:
  dynaclr import-ctc Fluo-N2DH-SIM+/01 Fluo-N2DH-SIM+/02 --out data/sim.zarr \\
      --interval-minutes 5 --channel-name GFP
"""


def _chunks(text: str) -> tuple[int, ...]:
    chunks = five_integers(text)
    if chunks is None or min(chunks) < 1:
        raise argparse.ArgumentTypeError(
            f"expected five positive integers T,C,Z,Y,X such as 1,1,1,512,512; got {text!r}"
        )
    return chunks


def import_ctc_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dynaclr import-ctc`` (every option documented in ``--help``)."""
    parser = CommandParser(
        prog="dynaclr import-ctc",
        description=textwrap.dedent(
            """\
            Import Cell Tracking Challenge sequences as one dynaclr experiment: an OME-Zarr
            plate of the images, tracks CSVs with mask centroids and lineage, and an
            experiments YAML. Every disagreement between masks and lineage file is handled
            as documented in docs/import-tracks.md and counted in the summary."""
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sequences",
        nargs="+",
        type=Path,
        metavar="SEQUENCE_DIR",
        help="CTC sequence folder(s) <root>/<seq> holding tTTT.tif images; each becomes one FOV",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="PLATE.zarr",
        help="the plate to write (must not exist unless --overwrite)",
    )
    parser.add_argument(
        "--interval-minutes",
        required=True,
        type=float,
        metavar="MINUTES",
        help="time between frames in minutes (the CTC layout does not store "
        "it; it converts tau_range hours to frames)",
    )
    parser.add_argument(
        "--tracks-from",
        choices=("auto", "gt", "res"),
        default="auto",
        help="tracking folder beside each sequence: gt = <seq>_GT/TRA, res = "
        "<seq>_RES, auto = the first that exists (default auto)",
    )
    parser.add_argument(
        "--tracking-dir",
        action="append",
        type=Path,
        metavar="DIR",
        help="explicit folder of label masks and lineage file, once per "
        "sequence in order (overrides --tracks-from)",
    )
    parser.add_argument(
        "--condition",
        action="append",
        metavar="NAME",
        help="condition label, once for all sequences or once per sequence in "
        "order; one well per condition: A/1, A/2, ... (default control)",
    )
    parser.add_argument(
        "--channel-name",
        default="image",
        metavar="NAME",
        help="name of the plate's one channel (default image)",
    )
    parser.add_argument(
        "--name", metavar="NAME", help="experiment name in the YAML (default: the stem of --out)"
    )
    parser.add_argument(
        "--ngff-version",
        choices=("0.4", "0.5"),
        default="0.5",
        help="OME-NGFF 0.4 (zarr v2) or 0.5 (zarr v3) (default 0.5)",
    )
    parser.add_argument(
        "--chunks",
        type=_chunks,
        metavar="T,C,Z,Y,X",
        help="chunk shape of the plate arrays (default one frame: 1,1,Z,Y,X)",
    )
    parser.add_argument(
        "--tracks-out",
        type=Path,
        metavar="DIR",
        help="tracks folder to write (default <out stem>_tracks beside --out)",
    )
    parser.add_argument(
        "--experiments-out",
        type=Path,
        metavar="FILE.yml",
        help="experiments YAML to write (default <out stem>.yml beside --out)",
    )
    parser.add_argument(
        "--drop-unlisted",
        action="store_true",
        help="drop labels found in masks but not in the lineage file (default: "
        "keep them as root tracks); either way they are counted",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs, once the new ones are complete",
    )
    return parser


def import_ctc_main(argv: list[str]) -> int:
    """Run ``dynaclr import-ctc``; returns the exit status (0, or 2 for a user error)."""
    args = import_ctc_parser().parse_args(argv)
    from dynaclr.importers.ctc import import_ctc  # tifffile loads only for this command

    try:
        summary = import_ctc(
            args.sequences,
            args.out,
            interval_minutes=args.interval_minutes,
            tracking_dirs=args.tracking_dir,
            source=args.tracks_from,
            conditions=args.condition or "control",
            channel_name=args.channel_name,
            name=args.name,
            ngff_version=args.ngff_version,
            chunks=args.chunks,
            tracks_out=args.tracks_out,
            experiments_out=args.experiments_out,
            overwrite=args.overwrite,
            drop_unlisted=args.drop_unlisted,
        )
    except (*USER_ERRORS, FileExistsError) as err:
        return report_error("import-ctc", err)
    print(f"dynaclr import-ctc: {summary}")
    return 0
