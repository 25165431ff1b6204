"""Step 1a: one experiment's fields and their checks (no disk access).

:class:`ExperimentConfig` is the schema of an ``experiments.yml`` entry; its errors derive
from :class:`ConfigError`, a ``ValueError``.
"""

from __future__ import annotations

import datetime
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "EXPERIMENT_FIELDS",
    "REQUIRED_FIELDS",
    "ConfigError",
    "ExperimentConfig",
    "MissingPathError",
]


class ConfigError(ValueError):
    """A configuration value is wrong.

    The message says where (file, experiment, field), what (the value, repr'd) and what would
    work. Catch ``ValueError`` to handle every configuration problem of dynaclr.
    """


class MissingPathError(ConfigError, FileNotFoundError):
    """A configured path does not exist; both a ``ConfigError`` and a ``FileNotFoundError``."""


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"{where} must be a list of names, e.g. ['Phase3D']; got {value!r}")
    if not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must hold non-empty strings; got {value!r}")
    duplicates = sorted({v for v in value if list(value).count(v) > 1})
    if duplicates:
        raise ConfigError(f"{where} lists {duplicates} more than once; got {value!r}")
    return list(value)


@dataclass
class ExperimentConfig:
    """One time-lapse experiment: an OME-Zarr HCS plate, its tracks and its conditions.

    Fields are checked on construction (types, intervals, wells, channels); paths and stores
    are checked by :class:`ExperimentRegistry`.

    Parameters
    ----------
    name : str
        Unique experiment name.
    data_path : str
        OME-Zarr HCS plate root (path or URL).
    tracks_path : str
        Folder holding ``row/col/fov/<one>.csv`` per FOV, or one CSV / Parquet table for the
        whole experiment with a ``fov_name`` column.
    channel_names : list of str
        Every channel of the plate, in store order (checked against the OMERO metadata).
    source_channel : list of str
        Channels fed to the model, in model order; position ``i`` of every experiment feeds
        model channel ``i`` (e.g. GFP here and RFP there both feed channel 1).
    condition_wells : dict of str to list of str
        Condition label -> wells ``"row/col"`` (e.g. ``{"infected": ["A/2"]}``).
    interval_minutes : float, default 30.0
        Time between frames in minutes, > 0.
    start_hpi : float, default 0.0
        Hours post infection (or perturbation) at frame 0.
    organelle : str, default ""
        Reporter target, for bookkeeping.
    date : str, default ""
        Acquisition date; a YAML date is turned into its ISO string.
    moi : float, default 0.0
        Multiplicity of infection, >= 0.

    Raises
    ------
    ConfigError
        A ``ValueError`` naming the experiment, the field and the bad value.
    """

    name: str
    data_path: str
    tracks_path: str
    channel_names: list[str]
    source_channel: list[str]
    condition_wells: dict[str, list[str]]
    interval_minutes: float = 30.0
    start_hpi: float = 0.0
    organelle: str = ""
    date: str = ""
    moi: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"experiment name must be a non-empty string, got {self.name!r}")
        where = f"experiment {self.name!r}"
        for key in ("data_path", "tracks_path"):
            value = getattr(self, key)
            if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
                raise ConfigError(f"{where}: {key} must be a path or URL string, got {value!r}")
            setattr(self, key, os.fspath(value))
        self.channel_names = _str_list(self.channel_names, f"{where}: channel_names")
        self.source_channel = _str_list(self.source_channel, f"{where}: source_channel")
        if not self.source_channel:
            raise ConfigError(f"{where}: source_channel is empty; name at least one channel")
        missing = [c for c in self.source_channel if c not in self.channel_names]
        if missing:
            raise ConfigError(
                f"{where}: source_channel {missing} not in channel_names {self.channel_names}"
            )
        self.condition_wells = self._checked_wells(where)
        for key, low, inclusive in (("interval_minutes", 0, False), ("moi", 0, True)):
            value = getattr(self, key)
            if not _is_number(value) or not math.isfinite(value):
                raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
            if value < low or (value == low and not inclusive):
                op = ">=" if inclusive else ">"
                raise ConfigError(f"{where}: {key} must be {op} {low}, got {value!r}")
        if not _is_number(self.start_hpi) or not math.isfinite(self.start_hpi):
            raise ConfigError(f"{where}: start_hpi must be a finite number, got {self.start_hpi!r}")
        self.interval_minutes = float(self.interval_minutes)
        self.start_hpi, self.moi = float(self.start_hpi), float(self.moi)
        if isinstance(self.date, datetime.date):
            self.date = self.date.isoformat()
        for key in ("organelle", "date"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"{where}: {key} must be a string, got {getattr(self, key)!r}")

    def _checked_wells(self, where: str) -> dict[str, list[str]]:
        value = self.condition_wells
        if not isinstance(value, Mapping) or not value:
            raise ConfigError(
                f"{where}: condition_wells must map each condition to its wells, e.g. "
                f"{{'uninfected': ['A/1'], 'infected': ['A/2']}}; got {value!r}"
            )
        owner: dict[str, str] = {}
        checked = {}
        for condition, wells in value.items():
            key = f"{where}: condition_wells[{condition!r}]"
            if not isinstance(condition, str) or not condition:
                raise ConfigError(f"{where}: condition_wells has a non-string key {condition!r}")
            wells = _str_list(wells, key)
            if not wells:
                raise ConfigError(f"{key} is empty; list at least one well such as 'A/1'")
            for well in wells:
                parts = well.split("/")
                if len(parts) != 2 or not all(parts):
                    raise ConfigError(f"{key}: well {well!r} must read 'row/col', e.g. 'A/1'")
                if well in owner:
                    raise ConfigError(
                        f"{where}: condition_wells: well {well!r} is in both "
                        f"{owner[well]!r} and {condition!r}; a well has one condition"
                    )
                owner[well] = condition
            checked[condition] = wells
        return checked

    @property
    def wells(self) -> list[str]:
        """Every well listed in ``condition_wells``, in YAML order."""
        return [w for wells in self.condition_wells.values() for w in wells]


EXPERIMENT_FIELDS = [f.name for f in fields(ExperimentConfig)]
"""Every key an ``experiments.yml`` entry may have, in field order."""
REQUIRED_FIELDS = EXPERIMENT_FIELDS[:6]
"""Keys an entry must have (the fields without a default)."""
