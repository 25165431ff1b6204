"""The ``dynaclr`` command line, one module per command.

main.py               entry point: dispatch, the default demo fit
errors.py             how every command reports a problem (one paragraph, status 2)
argv.py               config files named on the command line, packaged configs
lightning_cli.py      fit / validate / predict: LightningCLI, defaults, the hcl_beta link
inspect.py            dynaclr inspect: the batches a config would train on, as a PNG
import_ctc.py         dynaclr import-ctc: Cell Tracking Challenge data in our layout
preprocess.py         dynaclr preprocess: normalization statistics written into plates
rechunk.py            dynaclr rechunk: a training copy of a plate with small chunks, verified
progress.py           the bytes progress bar of preprocess and rechunk
embeddings_writer.py  predict's output: one AnnData store, complete or not at all
config_reference.py   docs/configuration.md from the CLI classes' docstrings
"""

from dynaclr.cli.argv import packaged_config
from dynaclr.cli.lightning_cli import DynaCLRCLI
from dynaclr.cli.main import main

__all__ = ["DynaCLRCLI", "main", "packaged_config"]
