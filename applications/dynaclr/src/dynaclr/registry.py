"""Step 1: experiments YAML -> ExperimentRegistry: schema and checks, no pixel reads.

An ``experiments.yml`` holds a top-level ``experiments:`` list; each entry has exactly the
fields of :class:`ExperimentConfig` (the upstream VisCy DynaCLR format). Every check runs when
the registry is built, so a typo fails before training starts, with a message that names the
file, the experiment, the field and the bad value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dynaclr.cell_index.tau import tau_range_frames
from dynaclr.experiment_config import (
    EXPERIMENT_FIELDS,
    REQUIRED_FIELDS,
    ConfigError,
    ExperimentConfig,
    MissingPathError,
)
from viscy_data.messages import unknown_names_message
from viscy_data.outputs import marker_line
from viscy_data.readers import PlateInfo, is_url, read_plate

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "ExperimentRegistry",
    "MissingPathError",
    "write_experiments",
]


class ExperimentRegistry:
    """The validated experiments of a run, in YAML order.

    Checks, each a ``ValueError`` (:class:`ConfigError`) naming experiment, field and value:
    non-empty list, unique names, equal source channel counts, every field of
    :class:`ExperimentConfig`, ``data_path`` and ``tracks_path`` exist
    (:class:`MissingPathError`, also a ``FileNotFoundError``), each plate is an HCS plate whose
    channel names equal ``channel_names`` (both lists shown) and holds every configured well.

    Parameters
    ----------
    experiments : list of ExperimentConfig
        The experiments; names must be unique.
    check_stores : bool, default True
        Read each plate's metadata (:func:`viscy_data.readers.read_plate`) and check paths.

    Attributes
    ----------
    experiments : list of ExperimentConfig
        In the given (YAML) order.
    plates : dict of str to PlateInfo
        Plate metadata per experiment name (empty when ``check_stores`` is False).
    yaml_path : Path or None
        The YAML file the registry came from, if any.
    """

    def __init__(self, experiments: Sequence[ExperimentConfig], *, check_stores: bool = True):
        experiments = list(experiments)
        if not experiments:
            raise ConfigError("experiments is an empty list; describe at least one experiment")
        for i, exp in enumerate(experiments):
            if not isinstance(exp, ExperimentConfig):
                raise ConfigError(f"experiments[{i}] must be an ExperimentConfig, got {exp!r}")
        names = [exp.name for exp in experiments]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"experiment names must be unique; {duplicates} appear twice")
        counts = {exp.name: len(exp.source_channel) for exp in experiments}
        if len(set(counts.values())) > 1:
            raise ConfigError(
                f"every experiment needs the same number of source_channel entries (they align "
                f"by position into model channels); got {counts}"
            )
        self.experiments = experiments
        self.yaml_path: Path | None = None
        self.plates: dict[str, PlateInfo] = {}
        self._by_name = {exp.name: exp for exp in experiments}
        if check_stores:
            for exp in experiments:
                self.plates[exp.name] = self._check_store(exp)

    @staticmethod
    def _check_store(exp: ExperimentConfig) -> PlateInfo:
        where = f"experiment {exp.name!r}"
        for key in ("data_path", "tracks_path"):
            path = getattr(exp, key)
            if not is_url(path) and not Path(path).exists():
                raise MissingPathError(f"{where}: {key} {path!r} does not exist")
        try:
            plate = read_plate(exp.data_path)
        except (ValueError, OSError) as err:
            raise ConfigError(f"{where}: data_path: {err}") from err
        if list(plate.channel_names) != exp.channel_names:
            raise ConfigError(
                f"{where}: channel_names {exp.channel_names} differ from the channels of "
                f"{exp.data_path!r}: {list(plate.channel_names)}"
            )
        absent = [w for w in exp.wells if w not in plate.well_names]
        if absent:
            raise ConfigError(
                f"{where}: condition_wells lists {absent}, which {exp.data_path!r} does not "
                f"have; its wells are {list(plate.well_names)}"
            )
        return plate

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, *, check_stores: bool = True) -> ExperimentRegistry:
        """Load and validate an ``experiments.yml``.

        Relative ``data_path`` / ``tracks_path`` resolve against the YAML file's folder.

        Parameters
        ----------
        path : str or os.PathLike
            The YAML file: a top-level ``experiments:`` list of :class:`ExperimentConfig`
            fields.
        check_stores : bool, default True
            As in :class:`ExperimentRegistry`.

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ConfigError
            (a ``ValueError``) naming the file: not YAML, not a mapping, no ``experiments``
            list, unknown or missing keys (valid ones listed), wrong types, and every check
            of the registry.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingPathError(f"experiments YAML {str(path)!r} does not exist (or is no file)")
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{path}: expected a mapping with a top-level 'experiments:' list, "
                f"got {type(data).__name__} {data!r:.80}"
            )
        if set(data) != {"experiments"}:
            raise ConfigError(
                f"{path}: top-level keys are {sorted(map(str, data))}; expected only "
                "['experiments'] (a list of experiments)"
            )
        entries = data["experiments"]
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: 'experiments' must be a list, got {entries!r:.80}")
        try:
            folder = path.absolute().parent
            configs = [_config_from_entry(i, e, folder) for i, e in enumerate(entries)]
            registry = cls(configs, check_stores=check_stores)
        except ConfigError as err:
            raise type(err)(f"{path}: {err}") from err
        registry.yaml_path = path
        return registry

    def subset(self, names: Sequence[str]) -> ExperimentRegistry:
        """The registry of the named experiments, in the given order, without re-reading stores.

        Keeps ``yaml_path`` (so errors still name the YAML file) and the plate metadata
        already read.

        Parameters
        ----------
        names : sequence of str
            Experiment names; unknown names raise ``KeyError`` listing the known ones.

        Examples
        --------
        >>> cfg = ExperimentConfig("e", "p.zarr", "t", ["GFP"], ["GFP"], {"x": ["A/1"]})
        >>> ExperimentRegistry([cfg], check_stores=False).subset(["e"]).experiments[0].name
        'e'
        """
        picked = [self.get_experiment(name) for name in names]
        subset = ExperimentRegistry(picked, check_stores=False)
        subset.yaml_path = self.yaml_path
        subset.plates = {n: self.plates[n] for n in names if n in self.plates}
        return subset

    def get_experiment(self, name: str) -> ExperimentConfig:
        """Return the experiment called ``name``; ``KeyError`` lists the known names."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(
                unknown_names_message(
                    f"no experiment named {name!r}",
                    [name],
                    self._by_name,
                    known_label="known experiments",
                )
            ) from None

    @property
    def num_source_channels(self) -> int:
        """Number of model input channels (source channels per experiment)."""
        return len(self.experiments[0].source_channel)

    @property
    def channel_maps(self) -> dict[str, dict[int, int]]:
        """``{experiment: {source position: zarr channel index}}``."""
        return {
            exp.name: {i: exp.channel_names.index(c) for i, c in enumerate(exp.source_channel)}
            for exp in self.experiments
        }

    def tau_range_frames(
        self, name: str, tau_range_hours: Sequence[float], *, parameter: str = "tau_range_hours"
    ) -> tuple[int, int]:
        """Convert a positive-offset window in hours into frames of one experiment.

        The rule, its arguments and errors are :func:`dynaclr.cell_index.tau.tau_range_frames`'s,
        with the experiment's ``interval_minutes``; messages name this registry's YAML file.

        Examples
        --------
        >>> cfg = ExperimentConfig("e", "p.zarr", "t", ["GFP"], ["GFP"], {"x": ["A/1"]}, 20.0)
        >>> ExperimentRegistry([cfg], check_stores=False).tau_range_frames("e", (0.5, 2.0))
        (2, 6)
        """
        exp = self.get_experiment(name)
        return tau_range_frames(
            tau_range_hours,
            exp.interval_minutes,
            parameter=parameter,
            experiment=name,
            source=self.yaml_path,
        )


def _config_from_entry(index: int, entry: Any, folder: Path) -> ExperimentConfig:
    """Build one ExperimentConfig from a YAML entry, resolving relative paths."""
    where = f"experiments[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping of experiment fields, got {entry!r:.80}")
    if isinstance(entry.get("name"), str):
        where += f" ({entry['name']!r})"
    unknown = [str(k) for k in entry if k not in EXPERIMENT_FIELDS]
    if unknown:
        raise ConfigError(
            unknown_names_message(
                f"{where}: unknown keys {unknown}",
                unknown,
                EXPERIMENT_FIELDS,
                known_label="Valid keys",
                sep=". ",
            )
        )
    missing = [k for k in REQUIRED_FIELDS if k not in entry]
    if missing:
        raise ConfigError(
            f"{where}: missing required keys {missing}. Valid keys: {EXPERIMENT_FIELDS}"
        )
    values = dict(entry)
    for key in ("data_path", "tracks_path"):
        value = values[key]
        if isinstance(value, str) and value and not is_url(value):
            candidate = Path(value).expanduser()
            values[key] = os.path.normpath(folder / candidate)
    return ExperimentConfig(**values)


def write_experiments(
    path: str | os.PathLike,
    experiments: Sequence[Mapping[str, Any]],
    comments: Sequence[str] = (),
    kind: str | None = None,
) -> Path:
    """Write an experiments YAML that :meth:`ExperimentRegistry.from_yaml` reads.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    experiments : sequence of mapping
        One mapping of :class:`ExperimentConfig` fields per experiment; relative
        ``data_path`` / ``tracks_path`` are read from the file's folder.
    comments : sequence of str, optional
        Comment lines written first (where the experiments came from).
    kind : str, optional
        Output kind of the command writing it (:func:`viscy_data.outputs.marker_line`), the
        first line, so that ``--overwrite`` recognises the file later.

    Returns
    -------
    Path
        ``path``.
    """
    lines = [f"# {line}" for line in comments] + ["# Paths are relative to this file's folder."]
    if kind is not None:
        lines.insert(0, marker_line(kind).rstrip("\n"))
    body = {"experiments": [dict(e) for e in experiments]}
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=None)
    Path(path).write_text("\n".join(lines) + "\n" + text)
    return Path(path)
