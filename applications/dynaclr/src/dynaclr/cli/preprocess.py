"""``dynaclr preprocess``: write the normalization statistics of OME-Zarr HCS plates.

Every plate is checked first (it is a plate, the channels and levels exist, no FOV is empty,
every FOV's metadata can be written), before any pixel is read; then each plate is streamed
chunk by chunk and each FOV's ``normalization`` attribute is replaced atomically
(:func:`viscy_data.normalization.preprocess_plate`; ``docs/preprocess.md``). A problem prints
one paragraph and exits 2; Ctrl-C exits 130, every FOV holding its old attribute or its
complete new one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynaclr.cli.errors import USER_ERRORS, report_error
from dynaclr.cli.options import CommandParser
from dynaclr.cli.progress import byte_progress
from viscy_data.normalization import (
    DATASET_SAMPLE_VOXELS,
    LEVELS,
    SAMPLE_VOXELS,
    PlateStatistics,
    check_plate,
    default_num_workers,
    preprocess_plate,
)

__all__ = ["build_parser", "preprocess_main"]

_MB = 1e6


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dynaclr preprocess`` (every option documented in --help)."""
    parser = CommandParser(
        prog="dynaclr preprocess",
        description=(
            "Compute, for every FOV and channel of each plate, the normalization statistics "
            "(mean, std, median, iqr) at the levels dataset_statistics (all FOVs of the plate), "
            "fov_statistics (one FOV, all frames) and timepoint_statistics (one FOV, one "
            "frame), and write them as each FOV's 'normalization' attribute (NGFF 0.4 and 0.5). "
            "Pixels are only read; an existing attribute keeps the channels and levels not "
            "computed. Mean and std are exact; median and iqr are exact up to --sample_voxels "
            "voxels per level and channel, else taken on a regular y/x grid (docs/preprocess.md)."
        ),
    )
    parser.add_argument(
        "plates", nargs="+", type=Path, metavar="PLATE", help="OME-Zarr HCS plate folder(s)"
    )
    parser.add_argument(
        "--channels", nargs="+", metavar="NAME",
        help="channel names to compute (default: every channel of each plate)",
    )  # fmt: skip
    parser.add_argument(
        "--levels", nargs="+", metavar="LEVEL",
        help=f"levels to compute, of {', '.join(LEVELS)} (default: all three)",
    )  # fmt: skip
    parser.add_argument(
        "--num_workers", type=int, default=None, metavar="N",
        help="threads reading and reducing chunks; 0 reads in the main thread; results do not "
        f"depend on it (default: the CPUs available, at most 4; here {default_num_workers()})",
    )  # fmt: skip
    parser.add_argument(
        "--sample_voxels", type=int, default=SAMPLE_VOXELS, metavar="N",
        help="median/iqr of a frame or a FOV are exact up to N voxels per channel, else taken "
        f"on a regular y/x grid keeping about N (default: {SAMPLE_VOXELS})",
    )  # fmt: skip
    parser.add_argument(
        "--dataset_sample_voxels", type=int, default=DATASET_SAMPLE_VOXELS, metavar="N",
        help="most voxels per channel pooled from the FOV samples for the plate's median/iqr "
        f"(default: {DATASET_SAMPLE_VOXELS})",
    )  # fmt: skip
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="one progress bar per plate on stderr (default: when stderr is a terminal)",
    )  # fmt: skip
    return parser


def _summary(results: list[PlateStatistics], levels: tuple[str, ...], workers: int) -> str:
    read = sum(r.bytes_read for r in results)
    seconds = sum(r.seconds for r in results)
    fovs = sum(len(r.plate.fovs) for r in results)
    lines = [
        f"dynaclr preprocess: wrote 'normalization' of {fovs} FOV(s) in {len(results)} plate(s)"
    ]
    for r in results:
        lines.append(
            f"  {r.plate.store_path}: {len(r.plate.fovs)} FOV(s), channels "
            f"{list(r.channel_names)}, {r.bytes_read / _MB:,.1f} MB in {r.seconds:.1f} s"
        )
    lines.append(f"  levels: {', '.join(levels)}")
    lines.append(
        f"  read {read / _MB:,.1f} MB of pixels in {seconds:.1f} s "
        f"({read / _MB / max(seconds, 1e-9):,.1f} MB/s, {workers} worker(s))"
    )
    return "\n".join(lines)


def preprocess_main(argv: list[str]) -> int:
    """Run ``dynaclr preprocess``; returns the exit status (0, 2 on a problem, 130 on Ctrl-C)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2, already printed)
        return int(exit_.code or 0)
    workers = default_num_workers() if args.num_workers is None else args.num_workers
    results: list[PlateStatistics] = []
    try:
        plates = [check_plate(path, args.channels, args.levels) for path in args.plates]
        for path, plate in zip(args.plates, plates):
            bar, update = byte_progress(path.name, args.progress)
            with bar:
                results.append(
                    preprocess_plate(
                        plate, args.channels, args.levels, num_workers=workers,
                        sample_voxels=args.sample_voxels,
                        dataset_sample_voxels=args.dataset_sample_voxels, progress=update,
                    )
                )  # fmt: skip
    except (*USER_ERRORS, OSError) as err:
        return report_error("preprocess", err)
    except KeyboardInterrupt:
        print(
            f"dynaclr preprocess: interrupted after {len(results)} complete plate(s); every FOV "
            "holds either its old 'normalization' attribute or its complete new one. Run the "
            "command again to finish.",
            file=sys.stderr,
        )
        return 130
    print(_summary(results, results[0].levels, workers))
    return 0
