"""Step 2: registry + tracks on disk -> ``MultiExperimentIndex`` (polars cell index).

The steps::

    ExperimentRegistry --tau_range_frames--> tau window in frames per experiment
                       --select_fovs--> FOVs (conditions, shapes)
                       --read_experiment_tracks--> tracks per experiment
                       --build_cell_index--> tracks table, valid anchors, positive lookup
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dynaclr.cell_index.borders import normalize_patch, normalize_z_range
from dynaclr.cell_index.build import build_cell_index
from dynaclr.cell_index.fovs import select_fovs
from dynaclr.cell_index.positives import draw_positives
from dynaclr.cell_index.tracks import read_experiment_tracks
from viscy_data.messages import unknown_names_message

if TYPE_CHECKING:
    from dynaclr.registry import ExperimentRegistry

__all__ = ["MultiExperimentIndex"]

_logger = logging.getLogger(__name__)


class MultiExperimentIndex:
    """Every cell observation of every experiment, and the anchors that have a positive.

    The positive of an anchor (track k, frame t) at offset tau (frames, >= 1) is an
    observation at t + tau of track k or of a descendant of k in the same FOV; never a
    sibling, cousin, ancestor or the anchor's own frame (see ``docs/positive-rule.md``).

    Parameters
    ----------
    registry : ExperimentRegistry
        Validated experiments.
    z_range : slice or (int, int)
        Z slices read per patch, ``0 <= start < stop <= depth`` of every FOV.
    yx_patch_size : (int, int)
        Patch height and width in pixels; no larger than any image.
    tau_range_hours : (float, float), default (0.5, 2.0)
        Window of positive offsets in hours, converted per experiment with
        ``registry.tau_range_frames``.
    include_wells : list of str, optional
        Keep only these wells (``"A/1"``), in every experiment.
    exclude_fovs : list of str, optional
        Drop these FOVs (``"A/1/0"``), in every experiment; their tracks are not read.
    require_anchors : bool, default True
        Raise when no observation is a valid anchor. False for prediction, which embeds every
        observation and needs no positives (tracks shorter than the tau range are fine).
    tau_parameter : str, default "tau_range_hours"
        Name of the tau window in error messages: the name in the caller's API (the
        DataModule passes ``"tau_range"``, its YAML key).

    Attributes
    ----------
    tracks : polars.DataFrame
        One row per observation, sorted by ``global_track_id`` then ``t``: the track columns
        (``track_id, t, y, x, parent_track_id`` and ``id, parent_id, z`` and any extra
        columns when present) plus ``experiment, condition, well_name, fov_name,
        store_path, fluorescence_channel`` (Categorical), ``global_track_id, lineage_id``
        (unique across experiments, wells and FOVs), ``hours_post_infection``, and the crop
        centre ``y_clamp, x_clamp`` with ``image_height, image_width``. A patch covers
        rows ``[y_clamp - h // 2, y_clamp - h // 2 + h)`` (same for x).
    valid_anchors : polars.DataFrame
        Rows of ``tracks`` with a positive for some tau of their experiment's range, with
        ``row`` (Int64) = position in ``tracks``; built on first access.
    fovs : dict
        ``(experiment, fov_name) -> FOVInfo`` of the indexed FOVs.
    dropped_outside : dict
        ``experiment -> observations dropped because the centroid is outside the image``.

    Raises
    ------
    FileNotFoundError
        A FOV without a tracks file (unless excluded).
    ValueError
        Several tracks files for a FOV, bad track values (see ``docs/``), a patch larger
        than an image, ``z_range`` outside a stack, an empty tau range, filters that match
        nothing, or no valid anchor at all (with ``require_anchors``).
    """

    def __init__(
        self,
        registry: ExperimentRegistry,
        z_range: slice | Sequence[int],
        yx_patch_size: Sequence[int],
        tau_range_hours: Sequence[float] = (0.5, 2.0),
        include_wells: Sequence[str] | None = None,
        exclude_fovs: Sequence[str] | None = None,
        require_anchors: bool = True,
        *,
        tau_parameter: str = "tau_range_hours",
    ) -> None:
        tic = time.perf_counter()
        self.registry = registry
        self.z_range = normalize_z_range(z_range)
        self.yx_patch_size = normalize_patch(yx_patch_size)
        self.include_wells = None if include_wells is None else list(include_wells)
        self.exclude_fovs = None if exclude_fovs is None else list(exclude_fovs)
        self._tau = {
            exp.name: registry.tau_range_frames(exp.name, tau_range_hours, parameter=tau_parameter)
            for exp in registry.experiments
        }
        self.tau_range_hours = tuple(tau_range_hours)
        selection = select_fovs(registry, self._tau, self.include_wells, self.exclude_fovs)
        self.fovs = selection.fovs
        frames, sources = [], {}
        for exp in registry.experiments:
            names = [fov for (name, fov) in self.fovs if name == exp.name]
            if not names:
                continue
            tracks, files = read_experiment_tracks(
                exp.tracks_path, names, selection.plate_fov_names[exp.name], experiment=exp.name
            )
            if require_anchors and tracks.height == 0:
                _raise_no_tracks(exp.name, exp.tracks_path, sorted(set(files.values())))
            experiment = pl.lit(exp.name, dtype=pl.Categorical).alias("experiment")
            frames.append(tracks.with_columns(experiment))
            sources.update({(exp.name, fov): path for fov, path in files.items()})
        tracks = pl.concat(frames, how="diagonal_relaxed")
        tables = build_cell_index(
            tracks,
            selection.table,
            selection.experiments,
            self.yx_patch_size,
            self.z_range,
            sources,
        )
        self.tracks = tables.tracks
        self.dropped_outside = tables.dropped_outside
        self._anchor_mask = tables.anchor_mask
        self._positives = tables.positives
        if require_anchors and not self._anchor_mask.any():
            raise ValueError(
                f"No valid anchor: no observation has a positive {self._tau} frames later "
                f"({tau_parameter}={self.tau_range_hours}) on its track or a descendant. "
                "Use a shorter tau range or longer tracks."
            )
        _logger.info(
            "Built the cell index in %.2f s.\n%s", time.perf_counter() - tic, self.summary()
        )

    @cached_property
    def valid_anchors(self) -> pl.DataFrame:
        """Rows of ``tracks`` with at least one positive, with their position ``row``."""
        rows = pl.int_range(pl.len(), dtype=pl.Int64).alias("row")
        return self.tracks.select(rows, pl.all()).filter(pl.Series(self._anchor_mask))

    def valid_anchor_columns(self, *columns: str) -> pl.DataFrame:
        """``row`` plus only the named columns of the valid anchors (cheap at scale).

        ``valid_anchors`` copies every column of ``tracks``; a sampler that groups by a few
        columns can take just those.
        """
        picked = self.tracks.select(columns)[self.anchor_rows]
        return picked.insert_column(0, pl.Series("row", self.anchor_rows))

    @property
    def anchor_rows(self) -> np.ndarray:
        """Positions in ``tracks`` of the valid anchors (int64, ascending)."""
        return np.flatnonzero(self._anchor_mask)

    def tau_frames(self, experiment: str) -> tuple[int, int]:
        """``(tau_min, tau_max)`` in frames of one experiment."""
        try:
            return self._tau[experiment]
        except KeyError:
            raise KeyError(
                unknown_names_message(
                    f"no experiment named {experiment!r}",
                    [experiment],
                    self._tau,
                    known_label="known experiments",
                )
            ) from None

    def tau_bounds(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of ``tracks``: its experiment's ``(tau_min, tau_max)`` in frames."""
        return self._positives.tau_bounds(rows)

    def positive_candidates(self, anchor_rows: np.ndarray, taus: np.ndarray):
        """Every positive of each anchor at its tau (vectorised).

        Parameters
        ----------
        anchor_rows : numpy.ndarray
            Row positions in ``tracks``, shape ``(N,)``.
        taus : numpy.ndarray
            Offsets in frames, shape ``(N,)``, within the anchor's experiment's
            :meth:`tau_frames` (``1 <= tau <= tau_max``).

        Returns
        -------
        i, rows : numpy.ndarray
            One pair per candidate: ``i`` = position in the inputs (ascending), ``rows`` =
            the positive's row in ``tracks``. Anchors without a candidate are absent.
        """
        return self._positives.candidates(anchor_rows, taus)

    def draw_positives(
        self, anchor_rows: np.ndarray, u_tau: np.ndarray, u_pick: np.ndarray, decay_rate: float
    ) -> np.ndarray:
        """One positive row of ``tracks`` per anchor, chosen by the given uniforms.

        The draw is :func:`~dynaclr.cell_index.positives.draw_positives`: a tau from the
        decaying weights (``u_tau``), the nearest tau in range with a positive when there is
        none at it, and one of several candidates (``u_pick``).

        Raises
        ------
        RuntimeError
            When an anchor has no positive at any offset in range (the data changed under
            the index); names the experiment, FOV, track and frame.
        """
        rows = draw_positives(
            anchor_rows, u_tau, u_pick, decay_rate, self.tau_bounds, self.positive_candidates
        )
        if (rows < 0).any():
            bad = int(np.asarray(anchor_rows)[np.argmax(rows < 0)])
            row = self.tracks.row(bad, named=True)
            raise RuntimeError(
                f"no positive found for experiment {row['experiment']!r}, FOV "
                f"{row['fov_name']!r}, track {row['track_id']}, frame {row['t']} at any offset "
                f"in {self.tau_frames(row['experiment'])} frames; the tracks changed "
                "after the index was built: rebuild it."
            )
        return rows

    def has_positive(self, anchor_rows: np.ndarray, tau_min, tau_max) -> np.ndarray:
        """Whether each anchor has a positive for some integer tau in ``[tau_min, tau_max]``."""
        return self._positives.has_positive(anchor_rows, tau_min, tau_max)

    def summary(self) -> str:
        """A readable report: experiments, observations, anchors, per-condition counts."""
        anchor = pl.Series("anchor", self._anchor_mask)
        counts = (
            self.tracks.select("experiment", "condition", "fov_name", "global_track_id")
            .with_columns(anchor)
            .group_by("experiment", "condition")
            .agg(
                pl.len().alias("obs"),
                pl.col("anchor").sum().alias("anchors"),
                pl.col("fov_name").n_unique().alias("fovs"),
                pl.col("global_track_id").n_unique().alias("tracks"),
            )
            .with_columns(pl.col("experiment", "condition").cast(pl.String))
        )
        n_obs, n_anchors = self.tracks.height, int(self._anchor_mask.sum())
        lines = [
            f"MultiExperimentIndex: {len(self._tau)} experiment(s), {len(self.fovs)} FOV(s), "
            f"{n_obs:,} observations, {n_anchors:,} valid anchors "
            f"({100.0 * n_anchors / max(n_obs, 1):.1f}%)",
            f"  z_range {self.z_range.start}:{self.z_range.stop}, yx_patch_size "
            f"{self.yx_patch_size[0]}x{self.yx_patch_size[1]}, tau_range_hours "
            f"{self.tau_range_hours}",
        ]
        for exp in self.registry.experiments:
            rows = counts.filter(pl.col("experiment") == exp.name).sort("condition")
            lo, hi = self._tau[exp.name]
            lines.append(
                f"  {exp.name}: interval {exp.interval_minutes:g} min, tau {lo}-{hi} frames, "
                f"{int(rows['obs'].sum()):,} observations, {int(rows['anchors'].sum()):,} "
                f"valid anchors, {self.dropped_outside.get(exp.name, 0):,} dropped outside "
                "the image"
            )
            for r in rows.iter_rows(named=True):
                lines.append(
                    f"    {r['condition']}: {r['fovs']} FOV(s), {r['tracks']:,} tracks, "
                    f"{r['obs']:,} observations, {r['anchors']:,} valid anchors"
                )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"MultiExperimentIndex({len(self._tau)} experiments, {self.tracks.height} "
            f"observations, {int(self._anchor_mask.sum())} valid anchors)"
        )


def _raise_no_tracks(experiment: str, tracks_path: str, files: list[str]) -> None:
    """An experiment whose tracks tables hold no row: nothing to train on."""
    shown = files[:5] + ([f"... {len(files) - 5} more"] if len(files) > 5 else [])
    raise ValueError(
        f"experiment {experiment!r} has no tracks: its {len(files)} tracks file(s) under "
        f"tracks_path {str(tracks_path)!r} hold no rows ({shown}). Write the tracking results "
        "into them, or leave the experiment out of the experiments YAML."
    )
