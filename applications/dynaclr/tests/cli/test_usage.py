"""`dynaclr`, `dynaclr --help` and unknown commands list exactly the commands that work."""

import pytest
import yaml

from dynaclr.cli import main, packaged_config
from dynaclr.cli.main import _COMMANDS, _SUBCOMMANDS

WORKING = ("fit", "validate", "predict", "evaluate", "inspect", "import-ctc", "preprocess",
           "rechunk")  # fmt: skip


def _listed(text: str) -> list[str]:
    block = text.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def test_help_lists_every_command_and_only_those(capsys):
    assert main(["--help"]) == 0
    listed = _listed(capsys.readouterr().out)
    assert sorted(listed) == sorted(WORKING) == sorted([*_SUBCOMMANDS, *_COMMANDS])
    assert "test" not in listed


NO_COMMAND = [([], "usage: dynaclr COMMAND"), (["test"], "dynaclr: unknown command 'test'")]


@pytest.mark.parametrize(("argv", "first"), NO_COMMAND)
def test_no_command_or_an_unknown_one_shows_the_list(capsys, argv, first):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(first) and sorted(_listed(err)) == sorted(WORKING)


def test_print_config_without_a_config_prints_the_demo_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DYNACLR_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--print_config"])
    assert stop.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    demo = yaml.safe_load(packaged_config("demo_fit.yml").read_text())
    assert printed["trainer"]["max_epochs"] == demo["trainer"]["max_epochs"]
    assert printed["data"]["batch_size"] == demo["data"]["batch_size"]
    assert printed["data"]["experiments_yaml"].startswith(str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()  # printing does not write the demo
