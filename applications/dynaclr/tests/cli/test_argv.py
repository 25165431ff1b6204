"""Config files on a command line are found in every spelling, by every command."""

import yaml

from dynaclr.cli.argv import config_arguments, config_files
from dynaclr.cli.inspect import _without_run_keys
from dynaclr.cli.main import _wants_demo


def test_every_spelling_of_a_config_file_is_found():
    argv = ["fit", "-c", "a.yml", "--config=b.yml", "--config", "c.yml", "--trainer.x=1"]
    assert config_files(argv) == ["a.yml", "b.yml", "c.yml"]
    for position, path, prefix in config_arguments(argv):
        assert argv[position] == prefix + path


def test_a_bare_fit_trains_on_the_demo_and_a_config_in_any_spelling_does_not():
    assert _wants_demo(["fit"]) and _wants_demo(["fit", "--trainer.max_epochs=1"])
    for argv in (["fit", "-c", "x.yml"], ["fit", "--config=x.yml"], ["fit", "--help"]):
        assert not _wants_demo(argv), argv
    assert not _wants_demo(["predict"])


def test_inspect_drops_run_only_keys_from_configs_in_either_spelling(tmp_path):
    saved = tmp_path / "config.yaml"
    saved.write_text(yaml.safe_dump({"ckpt_path": "last.ckpt", "data": {"batch_size": 4}}))
    for argv in (["--config", str(saved)], [f"--config={saved}"]):
        rewritten = _without_run_keys(argv, tmp_path)
        (copy,) = config_files(rewritten)
        assert copy != str(saved), argv
        assert yaml.safe_load(open(copy)) == {"data": {"batch_size": 4}}
