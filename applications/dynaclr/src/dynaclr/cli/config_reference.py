"""Generate ``docs/configuration.md`` from the signatures and docstrings of the CLI's classes.

    uv run python -m dynaclr.cli.config_reference > docs/configuration.md

A test regenerates it and compares, so the reference never drifts from the code.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys

__all__ = ["CLASSES", "parameter_docs", "render"]

CLASSES = (
    ("data", "dynaclr.datamodule.MultiExperimentDataModule"),
    ("model", "viscy_models.ContrastiveModule"),
    ("model.encoder", "viscy_models.ContrastiveEncoder"),
    ("model.loss_function", "viscy_models.NTXentHCL"),
    ("data.normalizations", "viscy_data.transforms.Normalize"),
    ("data.normalizations", "viscy_data.transforms.ScaleIntensityPercentiles"),
    ("data.augmentations", "viscy_data.transforms.RandomAffine"),
    ("data.augmentations", "viscy_data.transforms.RandomContrast"),
    ("data.augmentations", "viscy_data.transforms.RandomIntensityScale"),
    ("data.augmentations", "viscy_data.transforms.RandomGaussianSmooth"),
    ("data.augmentations", "viscy_data.transforms.RandomGaussianNoise"),
)
_SECTION = re.compile(r"^\s*(Returns|Raises|Notes|Examples|Attributes|See Also|Yields)\s*$")


def _load(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def parameter_docs(cls: type) -> dict[str, str]:
    """``{parameter: description}`` from the numpy-style ``Parameters`` section of ``cls``."""
    lines = inspect.getdoc(cls).splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Parameters") + 2
    except StopIteration:
        return {}
    docs: dict[str, str] = {}
    names: list[str] = []
    for line in lines[start:]:
        if _SECTION.match(line):
            break
        if line and not line.startswith(" "):
            names = [n.strip() for n in line.split(":")[0].split(",") if n.strip()]
            for name in names:
                docs[name] = ""
        elif names and line.strip():
            for name in names:
                docs[name] = f"{docs[name]} {line.strip()}".strip()
    return docs


def _default(parameter: inspect.Parameter) -> str:
    if parameter.default is inspect.Parameter.empty:
        return "required"
    return f"`{parameter.default!r}`"


def _annotation(parameter: inspect.Parameter) -> str:
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return ""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    return f"`{text}`".replace("|", "\\|")


def render() -> str:
    """The whole reference as Markdown."""
    out = [
        "# Configuration reference",
        "",
        "Every option of a `dynaclr fit` / `validate` / `predict` config, generated from the",
        "code by `uv run python -m dynaclr.cli.config_reference > docs/configuration.md` (a test",
        "checks that this file is up to date). Trainer options are Lightning's own",
        "(`dynaclr fit --help`); `trainer.use_distributed_sampler` defaults to `false` because the",
        "batch sampler shards itself.",
        "",
    ]
    for key, path in CLASSES:
        cls = _load(path)
        docs = parameter_docs(cls)
        out += [f"## `{key}`: `{path}`", "", inspect.getdoc(cls).splitlines()[0], ""]
        out += ["| option | type | default | description |", "| --- | --- | --- | --- |"]
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or parameter.kind in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            ):
                continue
            description = docs.get(name, "").replace("|", "\\|")
            out.append(
                f"| `{name}` | {_annotation(parameter)} | {_default(parameter)} | {description} |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
