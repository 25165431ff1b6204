"""The ``dynaclr`` command line: LightningCLI over ContrastiveModule + MultiExperimentDataModule.

``dynaclr fit`` with no ``--config`` trains on the built-in demo (written into a cache folder
on first use); ``dynaclr inspect`` shows what the model would see, without training.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib import resources
from pathlib import Path

import yaml
from jsonargparse import ArgumentError, Namespace
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from dynaclr.datamodule import MultiExperimentDataModule
from dynaclr.prediction_writer import EmbeddingWriter
from viscy_models import ContrastiveModule

__all__ = ["DynaCLRCLI", "main", "packaged_config"]

_NTXENT = "viscy_models.NTXentHCL"
_SUBCOMMANDS = ("fit", "validate", "predict")


def packaged_config(name: str) -> Path:
    """Path of a config file shipped with dynaclr (``dynaclr/configs/NAME``)."""
    path = Path(str(resources.files("dynaclr") / "configs" / name))
    if not path.is_file():
        raise FileNotFoundError(f"no packaged config {name!r} in {path.parent}")
    return path


class DynaCLRCLI(LightningCLI):
    """LightningCLI with DynaCLR's defaults and one source of truth for ``hcl_beta``.

    - ``trainer.use_distributed_sampler`` defaults to false: the batch sampler shards itself.
    - ``data.hcl_beta`` sets the beta of an ``NTXentHCL`` loss; a loss configured with another
      beta is an error (set ``data.hcl_beta`` instead).
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("trainer_defaults", {"use_distributed_sampler": False})
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(ContrastiveModule, MultiExperimentDataModule, *args, **kwargs)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        link_hcl_beta(config, explicit_loss_beta=_explicit_loss_beta(config, self._args))

    def before_predict(self) -> None:
        """Write embeddings with :class:`EmbeddingWriter` unless the config already does."""
        if not any(isinstance(cb, EmbeddingWriter) for cb in self.trainer.callbacks):
            output = Path(self.trainer.default_root_dir) / "embeddings.zarr"
            self.trainer.callbacks.append(EmbeddingWriter(output))

    def after_predict(self) -> None:
        for callback in self.trainer.callbacks:
            if isinstance(callback, EmbeddingWriter) and self.trainer.is_global_zero:
                print(f"dynaclr: embeddings written to {callback.output_path.resolve()}")

    def parse_arguments(self, parser, args) -> None:
        self._args = list(args or [])
        super().parse_arguments(parser, args)


def _explicit_loss_beta(config: Namespace, argv: list[str]) -> bool:
    """Whether the user wrote the loss's beta (in a config file or on the command line)."""
    keys = ("--model.loss_function.init_args.beta", "--model.loss_function.beta")
    if any(a.split("=")[0] in keys for a in argv):
        return True
    for path in config.get("config") or []:
        text = Path(str(path)).read_text() if Path(str(path)).is_file() else ""
        loss = (yaml.safe_load(text) or {}).get("model", {}) or {}
        loss = loss.get("loss_function") or {}
        if isinstance(loss, dict) and "beta" in (loss.get("init_args") or {}):
            return True
    return False


def link_hcl_beta(config: Namespace, explicit_loss_beta: bool = False) -> None:
    """Copy ``data.hcl_beta`` into an ``NTXentHCL`` loss, or fail on a conflicting value.

    Parameters
    ----------
    config : Namespace
        The parsed config of one subcommand.
    explicit_loss_beta : bool, default False
        Whether the user wrote ``model.loss_function.init_args.beta`` themselves; only then
        can it conflict (a value jsonargparse filled from the signature is overwritten).

    Raises
    ------
    ValueError
        When the user set the loss's ``beta`` to something other than ``data.hcl_beta``.
    """
    beta = config.data.hcl_beta
    loss = config.model.get("loss_function")
    if loss is None:
        config.model.loss_function = Namespace(class_path=_NTXENT, init_args=Namespace(beta=beta))
        return
    if getattr(loss, "class_path", None) != _NTXENT:
        return
    current = loss.init_args.get("beta")
    if explicit_loss_beta and current is not None and float(current) != float(beta):
        raise ValueError(
            f"conflicting hcl_beta values: data.hcl_beta={beta} but "
            f"model.loss_function.init_args.beta={current}. Set only data.hcl_beta (the CLI "
            "copies it into the loss)."
        )
    loss.init_args.beta = beta


_PARSER_KWARGS = {
    "exit_on_error": False,
    **{name: {"exit_on_error": False} for name in _SUBCOMMANDS},
}


def _config_files(argv: list[str]) -> list[str]:
    files = [b for a, b in zip(argv, argv[1:]) if a in ("-c", "--config")]
    return files + [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]


def _has_config(argv: list[str]) -> bool:
    return any(a in ("-c", "--config") or a.startswith("--config=") for a in argv)


def _demo_args(argv: list[str]) -> list[str]:
    """Arguments that train on the built-in demo, written into the cache folder if absent."""
    from dynaclr.demo_run import ensure_demo_dataset

    experiments = ensure_demo_dataset()
    print(f"dynaclr: no --config given; training on the demo dataset at {experiments.parent}")
    return [
        "--config",
        str(packaged_config("demo_fit.yml")),
        f"--data.experiments_yaml={experiments}",
    ]


def _report_outputs(cli: DynaCLRCLI) -> None:
    trainer = cli.trainer
    checkpoint = getattr(trainer, "checkpoint_callback", None)
    lines = ["dynaclr: done."]
    if checkpoint is not None:
        best = checkpoint.best_model_path or checkpoint.last_model_path
        if best:
            lines.append(f"  checkpoint: {Path(best).resolve()}")
    if trainer.log_dir:
        log_dir = Path(trainer.log_dir).resolve()
        lines.append(f"  logs:       {log_dir}")
        config = log_dir / "config.yaml"
        if config.exists():
            lines.append(f"  config:     {config}")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dynaclr`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "inspect":
        from dynaclr.inspect_batches import inspect_main

        return inspect_main(argv[1:])
    if (
        argv
        and argv[0] == "fit"
        and not _has_config(argv[1:])
        and "-h" not in argv
        and ("--help" not in argv and not any(a.startswith("--print_config") for a in argv))
    ):
        argv = [argv[0], *_demo_args(argv[1:]), *argv[1:]]
    command = argv[0] if argv else ""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*args parameter is intended to run")
            # Our predict sampler is sequential and keeps every row; Lightning cannot tell.
            warnings.filterwarnings("ignore", message=".*custom batch sampler.*for prediction")
            cli = DynaCLRCLI(args=argv, parser_kwargs=_PARSER_KWARGS)
    except ArgumentError as err:
        files = ", ".join(_config_files(argv)) or "the command line"
        print(
            f"dynaclr {command}: configuration error in {files}: {err}\n"
            f"Run 'dynaclr {command} --help' for every option and its documentation.",
            file=sys.stderr,
        )
        return 2
    except SIGTERMException:
        print(
            f"dynaclr {command}: stopped by SIGTERM after the current step; resume with "
            "--ckpt_path <checkpoint> (ModelCheckpoint(save_last=True, save_on_exception=True) "
            "saves one on the way out).",
            file=sys.stderr,
        )
        return 143
    except (ValueError, FileNotFoundError, KeyError) as err:
        if os.environ.get("DYNACLR_DEBUG"):
            raise
        files = ", ".join(_config_files(argv))
        where = f" (config: {files})" if files else ""
        print(
            f"dynaclr {command}: error{where}: {err}\n(set DYNACLR_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 2
    if cli.subcommand == "fit":
        _report_outputs(cli)
    return 0


if __name__ == "__main__":
    sys.exit(main())
