"""The LightningCLI of ``dynaclr fit / validate / predict``: classes, defaults, one link.

``ContrastiveModule`` and ``MultiExperimentDataModule`` are configured from YAML; the loss's
hard-negative ``beta`` is declared once as a link from ``data.hcl_beta`` (:data:`HCL_BETA_LINK`),
so every config (and every script building the CLI, such as the training benchmark) gets the
same value the same way.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from dynaclr.cli.checkpoints import check_checkpoint, read_checkpoint
from dynaclr.cli.embeddings_writer import EmbeddingWriter, run_inputs
from dynaclr.datamodule import MultiExperimentDataModule
from dynaclr.experiment_config import ConfigError
from viscy_data.outputs import refuse_overlaps
from viscy_models.engine.contrastive import ContrastiveModule
from viscy_models.losses.ntxent_hcl import NTXentHCL

__all__ = ["HCL_BETA_LINK", "DynaCLRCLI", "resolve_hcl_beta"]

_NTXENT = "viscy_models.NTXentHCL"
_LOSS_BETA = "model.loss_function.init_args.beta"
_DEFAULT_BETA = inspect.signature(NTXentHCL).parameters["beta"].default
HCL_BETA_LINK = ("data.hcl_beta", _LOSS_BETA)
"""``data.hcl_beta`` sets the ``beta`` of an ``NTXentHCL`` loss (another loss is left alone)."""


def resolve_hcl_beta(hcl_beta: float, loss_beta: float | None) -> float:
    """The loss's ``beta``: ``data.hcl_beta``, unless the config set the loss's own to another.

    The compute function of :data:`HCL_BETA_LINK`. A loss ``beta`` equal to ``NTXentHCL``'s
    default (0.5) counts as unset, since a parsed config cannot tell the two apart.

    Raises
    ------
    ConfigError
        (a ``ValueError``) when the loss's ``beta`` was set to a value other than
        ``data.hcl_beta``.

    Examples
    --------
    >>> resolve_hcl_beta(0.2, 0.5), resolve_hcl_beta(0.2, 0.2)
    (0.2, 0.2)
    """
    if loss_beta is not None and float(loss_beta) not in (float(hcl_beta), float(_DEFAULT_BETA)):
        raise ConfigError(
            f"conflicting hcl_beta values: data.hcl_beta={hcl_beta} but "
            f"{_LOSS_BETA}={loss_beta}. Set only data.hcl_beta (the CLI copies it into the loss)."
        )
    return hcl_beta


class _Parser(LightningArgumentParser):
    """Dumps link targets too, so a saved or printed config shows the loss's ``beta``."""

    def dump(self, cfg, *args, skip_link_targets: bool = False, **kwargs) -> str:
        return super().dump(cfg, *args, skip_link_targets=skip_link_targets, **kwargs)


class _SaveConfig(SaveConfigCallback):
    """Saves the run's config; FOVs that ``val_fraction`` chose are written as ``val_fovs``.

    The saved config then reproduces the same split even if FOVs are added to the plates.
    """

    def save_config(self, trainer, pl_module, stage) -> None:
        split = getattr(trainer.datamodule, "fov_split", None)
        data = getattr(self.config, "data", None)
        if (
            split is None
            or data is None
            or not data.get("val_fraction")
            or not self.save_to_log_dir
        ):
            return
        config = self.config.clone()
        whole = set(data.get("val_experiments") or [])
        config.data.val_fovs = [f for f in split.val if f.split("/", 1)[0] not in whole]
        config.data.val_fraction = 0.0
        path = Path(trainer.log_dir) / self.config_filename
        self.parser.save(
            config, str(path), skip_none=False, overwrite=True, multifile=self.multifile
        )


class DynaCLRCLI(LightningCLI):
    """LightningCLI with DynaCLR's defaults and one source of truth for ``hcl_beta``.

    - ``trainer.use_distributed_sampler`` defaults to false: the batch sampler shards itself.
    - ``model.loss_function`` defaults to ``NTXentHCL``, whose ``beta`` is linked from
      ``data.hcl_beta`` (:func:`resolve_hcl_beta`); a loss configured with another beta is an
      error (set ``data.hcl_beta`` instead).
    - ``predict`` writes embeddings with :class:`EmbeddingWriter` unless the config already
      has one.
    - The saved ``config.yaml`` lists the FOVs a ``data.val_fraction`` chose as
      ``data.val_fovs`` (with ``val_fraction: 0``), so it reproduces the split.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("trainer_defaults", {"use_distributed_sampler": False})
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        kwargs.setdefault("parser_class", _Parser)
        kwargs.setdefault("save_config_callback", _SaveConfig)
        super().__init__(ContrastiveModule, MultiExperimentDataModule, *args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.set_defaults({"model.loss_function": {"class_path": _NTXENT}})
        parser.link_arguments(HCL_BETA_LINK, _LOSS_BETA, compute_fn=resolve_hcl_beta)

    overwrite: bool = False
    """``dynaclr predict --overwrite``: replace an existing embeddings store we wrote."""
    random_init: bool = False
    """``dynaclr predict --random_init``: embed with random weights when no checkpoint is given."""

    def _inputs(self) -> list[tuple[str, str]]:
        return run_inputs(self.datamodule, self.config[self.subcommand].get("ckpt_path"))

    def _check_run_folders(self, inputs: list[tuple[str, str]]) -> None:
        """``default_root_dir`` and checkpoint folders may hold inputs, never lie inside one."""
        folders = [self.trainer.default_root_dir]
        folders += [cb.dirpath for cb in self.trainer.checkpoint_callbacks if cb.dirpath]
        refuse_overlaps(
            [str(f) for f in folders],
            inputs,
            command=f"dynaclr {self.subcommand}",
            parent_folder=True,
        )

    def _parse_ckpt_path(self) -> None:
        """LightningCLI reads the checkpoint's hyperparameters while parsing: refuse a file
        that is no checkpoint first, naming it (instead of torch's UnpicklingError)."""
        subcommand = self.config.get("subcommand")
        if subcommand:
            read_checkpoint(self.config[subcommand].get("ckpt_path"), weights_only=True)
        super()._parse_ckpt_path()

    def _check_checkpoint(self) -> None:
        """Refuse a ``--ckpt_path`` that is no checkpoint of this model, naming the file."""
        config = self.config[self.subcommand]
        check_checkpoint(config.get("ckpt_path"), self.model, config.get("weights_only"))

    def before_fit(self) -> None:
        """Refuse a run folder inside an input, or a checkpoint that does not fit the model,
        before anything is written."""
        self._check_run_folders(self._inputs())
        self._check_checkpoint()

    def before_validate(self) -> None:
        """As :meth:`before_fit`."""
        self._check_run_folders(self._inputs())
        self._check_checkpoint()

    def before_predict(self) -> None:
        """Refuse a random encoder (unless asked) and outputs that touch an input, before any
        batch; write embeddings with :class:`EmbeddingWriter` unless the config already does."""
        writers = [cb for cb in self.trainer.callbacks if isinstance(cb, EmbeddingWriter)]
        if not writers:
            writers = [EmbeddingWriter(Path(self.trainer.default_root_dir) / "embeddings.zarr")]
            self.trainer.callbacks.append(writers[0])
        checkpoint = self.config[self.subcommand].get("ckpt_path")
        if not checkpoint and not self.random_init:
            raise ValueError(
                "no --ckpt_path given, so the encoder would embed with random weights. Pass the "
                "checkpoint of a fit (dynaclr fit prints it at the end, e.g. --ckpt_path "
                "dynaclr_runs/demo/checkpoints/last.ckpt), or --random_init to embed with "
                "random weights on purpose (a baseline for dynaclr evaluate)."
            )
        self._check_checkpoint()
        inputs = self._inputs()
        self._check_run_folders(inputs)
        for writer in writers:
            writer.overwrite = writer.overwrite or self.overwrite
            writer.provenance.update(random_init=not checkpoint, config=self._config_text())
            writer.check_output(inputs)

    def _config_text(self) -> str:
        """The resolved config of this run, as YAML."""
        try:
            return self._parser(self.subcommand).dump(self.config[self.subcommand])
        except Exception as err:  # provenance must never stop a prediction
            return f"(config could not be dumped: {err})"

    def after_predict(self) -> None:
        for callback in self.trainer.callbacks:
            if isinstance(callback, EmbeddingWriter) and self.trainer.is_global_zero:
                print(f"dynaclr: embeddings written to {callback.output_path.resolve()}")
