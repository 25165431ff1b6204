"""Which FOVs enter the index, with their condition and shapes, from the registry.

Order of filters per experiment: ``include_wells`` (keep only these wells), then
``exclude_fovs`` (``"A/1/0"`` in every experiment, ``"experiment/A/1/0"`` in one), then wells
listed in no condition of ``condition_wells`` are excluded with a warning (never silently
labelled). :func:`filter_fovs` is the rule; the index (:func:`select_fovs`) and the
train/validation split (:mod:`dynaclr.splits`) both use it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from dynaclr.cell_index.build import EXPERIMENT_COLUMNS, FOV_COLUMNS
from viscy_data.messages import unknown_names_message
from viscy_data.readers import FOVInfo, PlateInfo, read_plate

__all__ = ["FOVSelection", "KeptFOV", "filter_fovs", "select_fovs"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class FOVSelection:
    """FOVs chosen for the index.

    Attributes
    ----------
    fovs : dict
        ``(experiment, fov_name) -> FOVInfo``, experiments in registry order, FOVs sorted.
    table : polars.DataFrame
        One row per FOV with :data:`dynaclr.cell_index.build.FOV_COLUMNS`, same order.
    experiments : polars.DataFrame
        One row per experiment with :data:`dynaclr.cell_index.build.EXPERIMENT_COLUMNS`.
    plate_fov_names : dict
        ``experiment -> every FOV name of its plate`` (for checking tracks tables).
    """

    fovs: dict[tuple[str, str], FOVInfo]
    table: pl.DataFrame
    experiments: pl.DataFrame
    plate_fov_names: dict[str, tuple[str, ...]]


def _names(value: Sequence[str] | None, name: str) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of names such as ['A/1'], got {value!r}.")
    return {v.strip("/") for v in value}


def fluorescence_channel(source_channel: Sequence[str]) -> str:
    """Reporter label of an experiment: its second source channel, or "" with only one."""
    return source_channel[1] if len(source_channel) > 1 else ""


@dataclass(frozen=True)
class KeptFOV:
    """A FOV that passes the filters: its experiment, metadata and condition."""

    experiment: str
    fov: FOVInfo
    condition: str

    @property
    def qualified_name(self) -> str:
        """``"experiment/row/col/fov"``: the FOV's name unique across experiments."""
        return f"{self.experiment}/{self.fov.fov_name}"


def filter_fovs(
    registry,
    include_wells: Sequence[str] | None = None,
    exclude_fovs: Sequence[str] | None = None,
    *,
    warn: bool = True,
) -> tuple[list[KeptFOV], dict[str, tuple[str, ...]]]:
    """The FOVs of every experiment that the filters keep, in registry then name order.

    Parameters
    ----------
    registry : ExperimentRegistry
        Plates come from ``registry.plates`` when present, else :func:`read_plate`.
    include_wells : sequence of str, optional
        Wells (``"A/1"``) to keep, in every experiment.
    exclude_fovs : sequence of str, optional
        FOVs to drop: ``"A/1/0"`` in every experiment, ``"experiment/A/1/0"`` in one.
    warn : bool, default True
        Warn about wells in no condition of ``condition_wells`` (their FOVs are dropped).

    Returns
    -------
    kept : list of KeptFOV
    plate_fov_names : dict
        ``experiment -> every FOV name of its plate``.

    Raises
    ------
    ValueError
        If an ``include_wells`` / ``exclude_fovs`` entry matches no plate.
    """
    include, exclude = _names(include_wells, "include_wells"), _names(exclude_fovs, "exclude_fovs")
    plates: dict[str, PlateInfo] = getattr(registry, "plates", None) or {}
    kept: list[KeptFOV] = []
    plate_names: dict[str, tuple[str, ...]] = {}
    seen_wells: set[str] = set()
    seen_fovs: set[str] = set()
    for exp in registry.experiments:
        plate = plates.get(exp.name) or read_plate(exp.data_path)
        plate_names[exp.name] = tuple(f.fov_name for f in plate.fovs)
        seen_wells.update(f.well_name for f in plate.fovs)
        seen_fovs.update(plate_names[exp.name])
        seen_fovs.update(f"{exp.name}/{name}" for name in plate_names[exp.name])
        condition_of = {w: c for c, wells in exp.condition_wells.items() for w in wells}
        unlabelled: dict[str, int] = {}
        for fov in plate.fovs:
            if include is not None and fov.well_name not in include:
                continue
            if exclude is not None and exclude & {fov.fov_name, f"{exp.name}/{fov.fov_name}"}:
                continue
            if fov.well_name not in condition_of:
                unlabelled[fov.well_name] = unlabelled.get(fov.well_name, 0) + 1
                continue
            kept.append(KeptFOV(exp.name, fov, condition_of[fov.well_name]))
        if unlabelled and warn:
            warnings.warn(
                f"experiment {exp.name!r}: well(s) {sorted(unlabelled)} of {exp.data_path} are "
                f"in no condition of condition_wells {exp.condition_wells}; their "
                f"{sum(unlabelled.values())} FOV(s) are excluded. Add the wells to a condition "
                "to use them.",
                UserWarning,
                stacklevel=4,
            )
    _check_known(include, seen_wells, "include_wells", "well")
    _check_known(exclude, seen_fovs, "exclude_fovs", "FOV")
    return kept, plate_names


def select_fovs(
    registry,
    tau_frames: dict[str, tuple[int, int]],
    include_wells: Sequence[str] | None = None,
    exclude_fovs: Sequence[str] | None = None,
) -> FOVSelection:
    """Choose the FOVs of every experiment (:func:`filter_fovs`) and describe them as tables.

    Parameters
    ----------
    registry : ExperimentRegistry
        Plates come from ``registry.plates`` when present, else :func:`read_plate`.
    tau_frames : dict
        ``experiment -> (tau_min, tau_max)`` in frames.
    include_wells, exclude_fovs : sequence of str, optional
        As in :func:`filter_fovs`.

    Raises
    ------
    ValueError
        If an ``include_wells`` / ``exclude_fovs`` entry matches no plate, or nothing is left.
    """
    kept, plate_names = filter_fovs(registry, include_wells, exclude_fovs)
    if not kept:
        raise ValueError(
            f"No FOV is left to index (include_wells={include_wells!r}, "
            f"exclude_fovs={exclude_fovs!r}); check the filters and condition_wells."
        )
    rows = []
    for k in kept:
        n_frames, _, depth, height, width = k.fov.shape
        rows.append((k.experiment, k.fov.fov_name, k.fov.well_name, k.condition,
                     k.fov.store_path, n_frames, depth, height, width))  # fmt: skip
    experiments = []
    for exp in registry.experiments:
        tau_min, tau_max = tau_frames[exp.name]
        reporter = fluorescence_channel(exp.source_channel)
        experiments.append((exp.name, float(exp.interval_minutes), float(exp.start_hpi),
                            reporter, tau_min, tau_max))  # fmt: skip
    fovs = {(k.experiment, k.fov.fov_name): k.fov for k in kept}
    table = pl.DataFrame(rows, schema=list(FOV_COLUMNS), orient="row")
    exp_table = pl.DataFrame(experiments, schema=list(EXPERIMENT_COLUMNS), orient="row")
    return FOVSelection(fovs, table, exp_table, plate_names)


def _check_known(names: set[str] | None, known: set[str], parameter: str, kind: str) -> None:
    unknown = sorted((names or set()) - known)
    if unknown:
        raise ValueError(
            unknown_names_message(
                f"{parameter} lists {unknown!r}, which no experiment's plate has as a {kind}",
                unknown,
                sorted(known),
            )
        )
