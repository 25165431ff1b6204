"""dynaclr's own commands take multi-word options with underscores or hyphens."""

import pytest

from dynaclr.cli.import_ctc import import_ctc_parser
from dynaclr.cli.options import CommandParser
from dynaclr.cli.preprocess import build_parser


@pytest.mark.parametrize("dash", ["_", "-"])
def test_preprocess_options_in_either_spelling(dash):
    args = build_parser().parse_args(
        ["p.zarr", f"--num{dash}workers", "3", f"--sample{dash}voxels", "7"]
    )
    assert (args.num_workers, args.sample_voxels) == (3, 7)


@pytest.mark.parametrize("dash", ["_", "-"])
def test_import_ctc_options_in_either_spelling(dash):
    args = import_ctc_parser().parse_args(
        ["seq", "--out", "o.zarr", f"--interval{dash}minutes", "5", f"--tracks{dash}from", "gt"]
    )
    assert (args.interval_minutes, args.tracks_from) == (5.0, "gt")


def test_help_shows_both_spellings_and_short_options_stay_alone():
    parser = CommandParser(prog="demo")
    action = parser.add_argument("-n", "--num_workers", type=int)
    assert action.option_strings == ["-n", "--num_workers", "--num-workers"]
    assert "--num_workers N, --num-workers N" in build_parser().format_help().replace("\n", " ")
