"""Per-FOV normalization statistics, re-keyed to model channel positions and gathered per sample.

Each FOV may carry a ``normalization`` attribute
``{channel_name: {level: {stat: value}}}`` (``timepoint_statistics`` adds one level keyed by
the frame index as a string). :class:`NormTable` reads it once per FOV into dense arrays, so a
batch gathers its samples' statistics with fancy indexing instead of walking dictionaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["LEVELS", "STATS", "NormMeta", "NormTable"]

LEVELS = ("dataset_statistics", "fov_statistics", "timepoint_statistics")
STATS = ("mean", "std", "median", "iqr")
TIMEPOINT = "timepoint_statistics"

NormMeta = dict[int, dict[str, dict[str, torch.Tensor]]]


class NormTable:
    """Normalization statistics of many FOVs as arrays indexed by FOV code and frame.

    Parameters
    ----------
    normalizations : sequence of dict or None
        The ``normalization`` attribute of each FOV (index = FOV code), or None when absent.
    channel_names : sequence of sequence of str
        For each FOV, the zarr channel name feeding each model channel position.
    n_frames : int
        Largest frame count of any FOV (size of the timepoint axis).
    fov_labels : sequence of str
        A readable name of each FOV (``"experiment:A/1/0"``) for error messages.
    """

    def __init__(
        self,
        normalizations: Sequence[dict | None],
        channel_names: Sequence[Sequence[str]],
        n_frames: int,
        fov_labels: Sequence[str],
    ) -> None:
        n_fovs = len(normalizations)
        n_positions = len(channel_names[0]) if n_fovs else 0
        self.fov_labels = list(fov_labels)
        self.has_stats = np.array([bool(norm) for norm in normalizations], dtype=bool)
        shape = (len(LEVELS), n_positions, len(STATS), n_fovs)
        self._values = np.full(shape, np.nan, dtype=np.float32)
        self._timepoint = np.full((n_positions, len(STATS), n_fovs, n_frames), np.nan, np.float32)
        for f, norm in enumerate(normalizations):
            for p, name in enumerate(channel_names[f]):
                levels = (norm or {}).get(name) or {}
                for li, level in enumerate(LEVELS[:2]):
                    for si, stat in enumerate(STATS):
                        value = (levels.get(level) or {}).get(stat)
                        if value is not None:
                            self._values[li, p, si, f] = value
                for frame, stats in (levels.get(TIMEPOINT) or {}).items():
                    if int(frame) < n_frames:
                        for si, stat in enumerate(STATS):
                            if stats.get(stat) is not None:
                                self._timepoint[p, si, f, int(frame)] = stats[stat]

    def missing(self, level: str) -> list[str]:
        """Labels of FOVs that lack ``level`` for any channel position (all its stats NaN)."""
        if level not in LEVELS:
            raise ValueError(f"unknown normalization level {level!r}; valid: {list(LEVELS)}")
        if level == TIMEPOINT:
            absent = np.all(np.isnan(self._timepoint), axis=(1, 3)).any(axis=0)
        else:
            absent = np.all(np.isnan(self._values[LEVELS.index(level)]), axis=1).any(axis=0)
        return [label for label, bad in zip(self.fov_labels, absent) if bad]

    def gather(self, fov_codes: np.ndarray, t: np.ndarray) -> NormMeta | None:
        """Statistics of each sample as ``{position: {level: {stat: (B,) tensor}}}``.

        Returns None when no FOV of the batch has statistics.

        Raises
        ------
        ValueError
            When some FOVs of the batch have statistics and others do not; names the latter.
        """
        present = self.has_stats[fov_codes]
        if not present.any():
            return None
        if not present.all():
            lacking = sorted({self.fov_labels[c] for c in np.unique(fov_codes[~present])})
            raise ValueError(
                "normalization metadata is missing for FOVs "
                f"{lacking} while other FOVs of the same batch have it; add the "
                "'normalization' attribute to every FOV or to none."
            )
        fixed = self._values[:, :, :, fov_codes]
        timepoint = self._timepoint[:, :, fov_codes, t]
        meta: NormMeta = {}
        for p in range(fixed.shape[1]):
            meta[p] = {
                level: {stat: torch.from_numpy(fixed[li, p, si]) for si, stat in enumerate(STATS)}
                for li, level in enumerate(LEVELS[:2])
            }
            meta[p][TIMEPOINT] = {
                stat: torch.from_numpy(timepoint[p, si]) for si, stat in enumerate(STATS)
            }
        return meta
