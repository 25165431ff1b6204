"""Per-FOV normalization statistics as dense arrays, gathered per sample of a batch.

:class:`NormTable` reads the ``normalization`` attribute of every FOV of a run once into
arrays indexed by (level, channel position, statistic, FOV code) and, for
``timepoint_statistics``, by frame; a batch then gathers its samples' statistics with fancy
indexing instead of walking dictionaries, and a run checks at setup that every statistic a
normalization will read exists and is usable (:meth:`NormTable.require`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from viscy_data.normalization.statistics import (
    LEVELS,
    STATS,
    TIMEPOINT,
    NormMeta,
    unusable_divisor,
)

__all__ = ["NormTable"]


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
        self.channel_names = [tuple(names) for names in channel_names]
        self._levels_present = [
            {name: sorted((norm or {}).get(name) or {}) for name in names}
            for norm, names in zip(normalizations, self.channel_names)
        ]
        self.has_stats = np.array([bool(norm) for norm in normalizations], dtype=bool)
        shape = (len(LEVELS), n_positions, len(STATS), n_fovs)
        self._values = np.full(shape, np.nan, dtype=np.float32)
        self._timepoint = np.full((n_positions, len(STATS), n_fovs, n_frames), np.nan, np.float32)
        # NaN in the arrays means "absent"; these say where a value was stored (maybe NaN)
        self._stored = np.zeros(shape, dtype=bool)
        self._timepoint_stored = np.zeros(self._timepoint.shape, dtype=bool)
        for f, norm in enumerate(normalizations):
            for p, name in enumerate(channel_names[f]):
                levels = (norm or {}).get(name) or {}
                for li, level in enumerate(LEVELS[:2]):
                    for si, stat in enumerate(STATS):
                        value = (levels.get(level) or {}).get(stat)
                        if value is not None:
                            self._values[li, p, si, f] = value
                            self._stored[li, p, si, f] = True
                for frame, stats in (levels.get(TIMEPOINT) or {}).items():
                    if int(frame) < n_frames:
                        for si, stat in enumerate(STATS):
                            if stats.get(stat) is not None:
                                self._timepoint[p, si, f, int(frame)] = stats[stat]
                                self._timepoint_stored[p, si, f, int(frame)] = True

    def missing(self, level: str) -> list[str]:
        """Labels of FOVs that lack ``level`` for any channel position (all its stats NaN)."""
        if level not in LEVELS:
            raise ValueError(f"unknown normalization level {level!r}; valid: {list(LEVELS)}")
        if level == TIMEPOINT:
            absent = np.all(np.isnan(self._timepoint), axis=(1, 3)).any(axis=0)
        else:
            absent = np.all(np.isnan(self._values[LEVELS.index(level)]), axis=1).any(axis=0)
        return [label for label, bad in zip(self.fov_labels, absent) if bad]

    def require(
        self,
        level: str,
        stats: Sequence[str],
        *,
        divisor: str | None = None,
        eps: float = 0.0,
        fov_codes: np.ndarray | None = None,
        frames: np.ndarray | None = None,
    ) -> None:
        """Check, before training, that the statistics a normalization reads exist and are usable.

        Parameters
        ----------
        level : str
            One of :data:`LEVELS`.
        stats : sequence of str
            Statistic names read at ``level`` (e.g. ``("mean", "std")``), from :data:`STATS`.
        divisor : str, optional
            The statistic divided by; it must be finite and positive, or 0 when ``eps > 0``
            (the normalization then divides by ``max(divisor, eps)``).
        eps : float, default 0.0
            Smallest divisor the normalization uses.
        fov_codes, frames : numpy.ndarray, optional
            FOV code and frame of every observation that may be read (same length). Default:
            every FOV and, for ``"timepoint_statistics"``, every frame that has statistics.

        Raises
        ------
        ValueError
            Naming the FOV (store), channel, level, statistic, frame and value, with the fix.
        """
        if level not in LEVELS:
            raise ValueError(f"unknown normalization level {level!r}; valid: {list(LEVELS)}")
        unknown = [stat for stat in stats if stat not in STATS]
        if unknown:
            raise ValueError(f"unknown statistics {unknown} at {level!r}; stored: {list(STATS)}")
        wanted = [STATS.index(stat) for stat in stats]
        n_fovs, n_frames = len(self.fov_labels), self._timepoint.shape[3]
        pairs = None
        if level == TIMEPOINT and fov_codes is None:
            # every frame with a value; a FOV without any is checked (and reported) at frame 0
            has_any = ~np.all(np.isnan(self._timepoint), axis=(0, 1))
            has_any[~has_any.any(axis=1), 0] = True
            fovs, pairs = np.nonzero(has_any)
        elif level == TIMEPOINT:
            key = np.asarray(fov_codes, np.int64) * n_frames + np.asarray(frames, np.int64)
            used = np.flatnonzero(np.bincount(key, minlength=n_fovs * n_frames))
            fovs, pairs = np.divmod(used, n_frames)
        elif fov_codes is None:
            fovs = np.arange(n_fovs)
        else:
            fovs = np.flatnonzero(np.bincount(np.asarray(fov_codes), minlength=n_fovs))
        if level == TIMEPOINT:
            values = self._timepoint[:, :, fovs, pairs]  # (P, S, K)
            stored = self._timepoint_stored[:, :, fovs, pairs]
        else:
            values = self._values[LEVELS.index(level)][:, :, fovs]  # (P, S, K)
            stored = self._stored[LEVELS.index(level)][:, :, fovs]
        absent = np.isnan(values[:, wanted])
        if absent.any():
            p, s_, j = (int(i[0]) for i in np.nonzero(absent))
            if stored[:, wanted][p, s_, j]:
                self._raise_nan(level, stats[s_], p, int(fovs[j]), pairs, j, absent.any((0, 1)))
            self._raise_missing(level, stats[s_], p, int(fovs[j]), pairs, j, absent.any((0, 1)))
        if divisor is not None and divisor in STATS:
            div = values[:, STATS.index(divisor)]
            bad = unusable_divisor(div, eps)
            if bad.any():
                p, j = (int(i[0]) for i in np.nonzero(bad))
                value = float(div[p, j])
                what = "0 (a constant channel)" if value == 0 else repr(value)
                raise ValueError(
                    f"{self.fov_labels[int(fovs[j])]}: channel "
                    f"{self.channel_names[int(fovs[j])][p]!r} has {divisor!r} = {what} in "
                    f"{level!r}{_frame(pairs, j)}; normalizing would divide by it "
                    f"({_affected(bad.any(0), pairs)}). Set eps, e.g. Normalize(eps=1e-6), to "
                    f"divide by max({divisor}, eps) instead, exclude the FOV with exclude_fovs, "
                    "or recompute the statistics."
                )

    def _raise_nan(self, level, stat, position, fov, pairs, j, absent) -> None:
        channel = self.channel_names[fov][position]
        raise ValueError(
            f"{self.fov_labels[fov]}: channel {channel!r} has {stat!r} = NaN in {level!r}"
            f"{_frame(pairs, j)}: the stored statistics hold NaN ({_affected(absent, pairs)}), "
            "so normalizing would make every pixel NaN. Recompute the statistics (dynaclr "
            "preprocess) after fixing the pixels, or exclude the FOV with exclude_fovs."
        )

    def _raise_missing(self, level, stat, position, fov, pairs, j, absent) -> None:
        channel = self.channel_names[fov][position]
        present = self._levels_present[fov].get(channel) or []
        has = f"its levels: {present}" if present else "no 'normalization' entry for it"
        raise ValueError(
            f"{self.fov_labels[fov]}: channel {channel!r} has no {stat!r} in {level!r}"
            f"{_frame(pairs, j)} ({has}; {_affected(absent, pairs)}). Compute the statistics "
            "for every FOV, exclude this one with exclude_fovs, or pick a level every FOV has."
        )

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
        import torch  # only here: the table itself is numpy

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


def _frame(frames: np.ndarray | None, j: int) -> str:
    return f" at frame t={int(frames[j])}" if frames is not None else ""


def _affected(flags: np.ndarray, frames: np.ndarray | None) -> str:
    unit = "(FOV, frame) pair(s)" if frames is not None else "FOV(s)"
    return f"{int(flags.sum())} {unit} affected"
