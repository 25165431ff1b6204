"""``dynaclr import-ctc`` end to end: summary, outputs fit reads, one-paragraph errors."""

import pytest
import yaml

from dynaclr import ExperimentRegistry
from dynaclr.cli.import_ctc import import_ctc_main, import_ctc_parser

from ..importers.ctc_data import write_irregular, write_simple


def test_import_prints_the_summary_and_writes_a_usable_experiment(tmp_path, capsys):
    a, b = write_irregular(tmp_path), write_simple(tmp_path)
    out = tmp_path / "data" / "sim.zarr"
    argv = [
        str(a),
        str(b),
        "--out",
        str(out),
        "--interval-minutes",
        "5",
        "--channel-name",
        "GFP",
        "--condition",
        "mock",
        "--condition",
        "infected",
        "--chunks",
        "1,1,1,32,32",
        "--ngff-version",
        "0.4",
        "--name",
        "sim",
    ]
    assert import_ctc_main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("dynaclr import-ctc: Imported 2 CTC sequence(s) into experiment")
    assert "lineage entries never in a mask                1  (no rows)" in printed
    yml = tmp_path / "data" / "sim.yml"
    registry = ExperimentRegistry.from_yaml(yml)
    assert registry.experiments[0].condition_wells == {"mock": ["A/1"], "infected": ["A/2"]}
    assert registry.experiments[0].interval_minutes == 5.0
    assert (tmp_path / "data" / "sim_tracks" / "A" / "2" / "0" / "tracks.csv").is_file()


def test_explicit_tracking_dir_and_dropped_labels(tmp_path, capsys):
    seq = write_irregular(tmp_path, kind="RES")
    argv = [
        str(seq),
        "--out",
        str(tmp_path / "x.zarr"),
        "--interval-minutes",
        "30",
        "--tracking-dir",
        str(tmp_path / "01_RES"),
        "--drop-unlisted",
        "--experiments-out",
        str(tmp_path / "experiments.yml"),
    ]
    assert import_ctc_main(argv) == 0
    assert "(dropped; 2 observation(s))" in capsys.readouterr().out
    entry = yaml.safe_load((tmp_path / "experiments.yml").read_text())["experiments"][0]
    assert entry["data_path"] == "x.zarr" and entry["tracks_path"] == "x_tracks"


def test_user_errors_are_one_paragraph_and_status_2(tmp_path, capsys):
    seq = write_irregular(tmp_path)
    (tmp_path / "01_GT/TRA/man_track.txt").write_text("1 0 2 0\n2 3 five 1\n")
    argv = [str(seq), "--out", str(tmp_path / "x.zarr"), "--interval-minutes", "30"]
    assert import_ctc_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynaclr import-ctc: error: ")
    assert "man_track.txt, line 2: expected four non-negative integers 'L B E P'" in err
    assert "(set DYNACLR_DEBUG=1 for the traceback)" in err
    assert not (tmp_path / "x.zarr").exists()


def test_existing_output_needs_overwrite(tmp_path, capsys):
    seq = write_simple(tmp_path)
    argv = [str(seq), "--out", str(tmp_path / "x.zarr"), "--interval-minutes", "30"]
    assert import_ctc_main(argv) == 0
    assert import_ctc_main(argv) == 2
    assert "already exists; choose another output, or pass --overwrite" in (capsys.readouterr().err)
    assert import_ctc_main([*argv, "--overwrite"]) == 0


def test_missing_tracking_folder_names_both_candidates(tmp_path, capsys):
    (tmp_path / "01").mkdir()
    write_simple(tmp_path, name="02")
    (tmp_path / "02" / "t000.tif").rename(tmp_path / "01" / "t000.tif")
    assert (
        import_ctc_main(
            [str(tmp_path / "01"), "--out", str(tmp_path / "x.zarr"), "--interval-minutes", "30"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no tracking folder; expected" in err and "01_GT/TRA or" in err and "01_RES" in err


def test_help_documents_every_option(capsys):
    parser = import_ctc_parser()
    with pytest.raises(SystemExit) as exit_info:
        import_ctc_main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: dynaclr import-ctc")
    for action in parser._actions:
        assert action.help, f"{action.dest} has no help"
        for option in action.option_strings:
            assert option in text


def test_bad_chunks_and_missing_interval_are_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        import_ctc_main(["seq", "--out", "x.zarr", "--interval-minutes", "5", "--chunks", "1,2"])
    assert exit_info.value.code == 2
    assert "expected five positive integers T,C,Z,Y,X" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        import_ctc_main(["seq", "--out", "x.zarr"])
    assert "--interval-minutes" in capsys.readouterr().err


def test_dynaclr_dispatches_import_ctc(capsys):
    from dynaclr.cli import main

    with pytest.raises(SystemExit) as done:
        main(["import-ctc", "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage: dynaclr import-ctc")
