"""``dynaclr rechunk SRC DST``: a training copy of an OME-Zarr HCS plate with small chunks.

Whole-plane chunks (``(1, 1, Z, 2048, 2048)``) make every 160 x 160 training patch decode about
160 times the pixels it uses; the copy has ``(1, 1, Z, 256, 256)`` chunks by default
(:func:`viscy_data.rechunk.rechunk_plate`; ``docs/rechunk.md``). SRC is only read; every pixel
of DST is read back and compared before success is reported. A problem prints one paragraph and
exits 2, leaving DST as it was; Ctrl-C exits 130 and the same command resumes the copy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynaclr.cli.errors import USER_ERRORS, report_error
from dynaclr.cli.options import CommandParser, five_integers
from dynaclr.cli.progress import byte_progress
from viscy_data.normalization import default_num_workers
from viscy_data.rechunk import COMPRESSIONS, RechunkSummary, rechunk_plate

__all__ = ["build_parser", "rechunk_main"]

_MB = 1e6


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dynaclr rechunk`` (every option documented in --help)."""
    parser = CommandParser(
        prog="dynaclr rechunk",
        description=(
            "Write a copy of an OME-Zarr HCS plate (NGFF 0.4 or 0.5) with small chunks for "
            "training: every plate, well and FOV attribute (normalization included) and each "
            "FOV's full-resolution array; lower pyramid levels are not copied. SRC is only read; "
            "every pixel of DST is read back and compared before success is reported. An "
            "interrupted copy resumes when the same command runs again (docs/rechunk.md)."
        ),
    )
    parser.add_argument("src", type=Path, metavar="SRC", help="the OME-Zarr HCS plate to copy")
    parser.add_argument(
        "dst", type=Path, metavar="DST",
        help="the copy: a folder that does not exist yet, is empty, or holds an unfinished "
        "copy of SRC made with the same options (then resumed)",
    )  # fmt: skip
    parser.add_argument(
        "--chunks", metavar="T,C,Z,Y,X",
        help="chunk shape of the copy (the inner chunk when sharded); -1 is the whole axis, "
        "sizes are clipped to each FOV (default: 1,1,-1,256,256, one frame of one channel, "
        "every Z plane, 256 x 256 pixels)",
    )  # fmt: skip
    parser.add_argument(
        "--shards", metavar="T,C,Z,Y,X",
        help="zarr v3 shard shape, each a multiple of --chunks (-1: the whole axis); needs "
        "an NGFF 0.5 copy (default: not sharded)",
    )  # fmt: skip
    parser.add_argument(
        "--ngff_version", choices=("0.4", "0.5"),
        help="NGFF version of the copy: 0.4 (zarr v2) or 0.5 (zarr v3); attributes move "
        "between the two layouts (default: the version of SRC)",
    )  # fmt: skip
    parser.add_argument(
        "--compression", choices=COMPRESSIONS, default="source",
        help="'source' keeps SRC's codecs (translated between zarr v2 and v3: Blosc, "
        "Zstandard, gzip); 'blosc-zstd' is Blosc Zstandard level 1 with bit shuffle, as iohub "
        "writes; 'none' stores raw pixels (default: source)",
    )  # fmt: skip
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace DST when rechunk wrote it (a finished copy, kept whole until the new one "
        "is complete, or an unfinished copy); any other folder or plate is refused (default: "
        "refuse)",
    )  # fmt: skip
    parser.add_argument(
        "--num_workers", type=int, default=None, metavar="N",
        help="threads copying boxes of pixels; 0 copies in the main thread (default: the CPUs "
        f"available, at most 4; here {default_num_workers()})",
    )  # fmt: skip
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="a progress bar on stderr (default: when stderr is a terminal)",
    )  # fmt: skip
    return parser


def parse_shape(text: str | None, option: str) -> tuple[int, ...] | None:
    """``"1,1,-1,256,256"`` -> ``(1, 1, -1, 256, 256)``; None stays None.

    Raises
    ------
    ValueError
        When ``text`` is not five comma-separated integers (naming ``option``).

    Examples
    --------
    >>> parse_shape("1,1,1,128,128", "--chunks")
    (1, 1, 1, 128, 128)
    """
    if text is None:
        return None
    shape = five_integers(text)
    if shape is None:
        raise ValueError(
            f"{option} {text!r}: give five integers T,C,Z,Y,X separated by commas, each a "
            "number of pixels or -1 for the whole axis, e.g. 1,1,1,128,128"
        )
    return shape


def _shape(shape: tuple[int, ...] | None) -> str:
    return "none" if shape is None else f"({', '.join(map(str, shape))})"


def _summary(result: RechunkSummary) -> str:
    shapes = sorted({(_shape(result.chunks[f]), _shape(result.shards[f])) for f in result.fovs})
    mb = result.bytes_copied / _MB
    lines = [
        f"dynaclr rechunk: wrote {len(result.fovs)} FOV(s) of {result.source} to "
        f"{result.destination} (NGFF {result.ngff_version}); every pixel read back identical",
        *(f"  chunks (T, C, Z, Y, X): {chunks}; shards: {shards}" for chunks, shards in shapes),
        f"  compression: {result.compression}",
        f"  copied {mb:,.1f} MB of pixels in {result.seconds:.1f} s "
        f"({mb / max(result.seconds, 1e-9):,.1f} MB/s, {result.num_workers} worker(s))",
    ]
    if result.resumed:
        lines.append(f"  resumed: {len(result.resumed)} FOV(s) were copied by an earlier run")
    lines.append(f"  DST: {result.destination}")
    return "\n".join(lines)


def rechunk_main(argv: list[str]) -> int:
    """Run ``dynaclr rechunk``; returns the exit status (0, 2 on a problem, 130 on Ctrl-C)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2, already printed)
        return int(exit_.code or 0)
    try:
        chunks = parse_shape(args.chunks, "--chunks")
        shards = parse_shape(args.shards, "--shards")
        bar, update = byte_progress(args.src.name, args.progress)
        with bar:
            result = rechunk_plate(
                args.src, args.dst, chunks, shards, args.ngff_version, args.compression,
                overwrite=args.overwrite, num_workers=args.num_workers, progress=update,
            )  # fmt: skip
    except (*USER_ERRORS, OSError) as err:
        return report_error("rechunk", err)
    except KeyboardInterrupt:
        print(
            f"dynaclr rechunk: interrupted; {args.dst} holds an unfinished copy that is not "
            "usable yet. Run the same command again (without --overwrite) to resume it: FOVs "
            "already copied are kept.",
            file=sys.stderr,
        )
        return 130
    print(_summary(result))
    return 0
