"""Fixtures of the cell index tests: in-memory track tables and small experiments on disk.

(1) ``frame`` / ``build``: compact track tables and the pure build (no files);
(2) ``write_experiment``: a real OME-Zarr plate plus tracks files, returning its config.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dynaclr.cell_index.borders import normalize_z_range
from dynaclr.cell_index.build import CellIndexTables, build_cell_index
from dynaclr.registry import ExperimentConfig
from viscy_data.testing import write_hcs_plate

# --- (1) in-memory tables --------------------------------------------------------------------


def tracks_frame(
    rows: Sequence[tuple[int, int, int]],
    experiment: str = "exp",
    fov_name: str = "A/1/0",
    y: float = 32.0,
    x: float = 32.0,
) -> pl.DataFrame:
    """Tracks from ``(track_id, t, parent_track_id)`` tuples, centroids at (y, x)."""
    track_id, t, parent = (list(c) for c in zip(*rows)) if rows else ([], [], [])
    return pl.DataFrame(
        {
            "experiment": [experiment] * len(rows),
            "fov_name": [fov_name] * len(rows),
            "track_id": track_id,
            "t": t,
            "y": [y] * len(rows),
            "x": [x] * len(rows),
            "parent_track_id": parent,
        },
        schema_overrides={"track_id": pl.Int64, "t": pl.Int64, "parent_track_id": pl.Int64},
    )


def build_tables(
    tracks: pl.DataFrame,
    *,
    tau: tuple[int, int] | Mapping[str, tuple[int, int]] = (1, 2),
    image: tuple[int, int] = (64, 64),
    n_frames: int = 50,
    depth: int = 1,
    patch: tuple[int, int] = (16, 16),
    z_range: tuple[int, int] = (0, 1),
    sources: Mapping[tuple[str, str], str] | None = None,
) -> CellIndexTables:
    """Pure build with one FOV table row per (experiment, fov_name) present in ``tracks``."""
    pairs = tracks.select(pl.col("experiment", "fov_name").cast(pl.String)).unique().sort(pl.all())
    fovs = pairs.with_columns(
        well_name=pl.col("fov_name").str.replace(r"/[^/]+$", ""),
        condition=pl.lit("mock"),
        store_path=pl.lit("/plates/") + pl.col("experiment") + pl.lit(".zarr"),
        n_frames=pl.lit(n_frames),
        depth=pl.lit(depth),
        image_height=pl.lit(image[0]),
        image_width=pl.lit(image[1]),
    )
    names = sorted(set(pairs["experiment"].to_list()))
    taus = tau if isinstance(tau, Mapping) else dict.fromkeys(names, tau)
    experiments = pl.DataFrame(
        {
            "experiment": names,
            "interval_minutes": [30.0] * len(names),
            "start_hpi": [2.0] * len(names),
            "fluorescence_channel": ["GFP"] * len(names),
            "tau_min": [taus[n][0] for n in names],
            "tau_max": [taus[n][1] for n in names],
        }
    )
    return build_cell_index(tracks, fovs, experiments, patch, normalize_z_range(z_range), sources)


@pytest.fixture(scope="session")
def frame() -> Callable[..., pl.DataFrame]:
    """Factory of track tables, see :func:`tracks_frame`."""
    return tracks_frame


@pytest.fixture(scope="session")
def build() -> Callable[..., CellIndexTables]:
    """Pure index build from a track table, see :func:`build_tables`."""
    return build_tables


# --- (2) experiments on disk -----------------------------------------------------------------

# A lineage per FOV: track 1 (t 0-4) divides into 2 and 3 (t 5-9); track 4 is alone (t 0-9).
LINEAGE_ROWS = (
    [(1, t, -1) for t in range(5)]
    + [(2, t, 1) for t in range(5, 10)]
    + [(3, t, 1) for t in range(5, 10)]
    + [(4, t, -1) for t in range(10)]
)


def lineage_table(y: float = 20.0, x: float = 30.0) -> pl.DataFrame:
    """The default tracks CSV content: :data:`LINEAGE_ROWS` plus an ``infected`` column."""
    table = tracks_frame(LINEAGE_ROWS, y=y, x=x).drop("experiment", "fov_name")
    return table.with_columns(infected=(pl.col("t") >= 7).cast(pl.Int8))


@pytest.fixture(scope="session")
def lineage() -> Callable[..., pl.DataFrame]:
    """Factory of the default tracks CSV content, see :func:`lineage_table`."""
    return lineage_table


@pytest.fixture
def write_experiment(tmp_path: Path) -> Callable[..., ExperimentConfig]:
    """Factory writing a plate (T=10, C=2, Z=3, 64x64) and tracks; returns its config.

    ``write_experiment(name, fovs=("A/1/0", "A/2/0"), tracks=None, layout="folders",
    conditions=None, shape=..., version="0.4", interval_minutes=30.0)``: ``tracks`` maps
    FOV -> table (default :func:`lineage_table`; ``None`` as value writes no file);
    ``layout`` is "folders" (one CSV per FOV), "csv" or "parquet" (one table).
    """

    def make(
        name: str = "exp",
        fovs: Sequence[str] = ("A/1/0", "A/2/0"),
        tracks: Mapping[str, pl.DataFrame | None] | None = None,
        layout: str = "folders",
        conditions: Mapping[str, list[str]] | None = None,
        shape: tuple[int, int, int, int, int] = (10, 2, 3, 64, 64),
        version: str = "0.4",
        interval_minutes: float = 30.0,
        start_hpi: float = 0.0,
    ) -> ExperimentConfig:
        arrays = {fov: np.zeros(shape, "float32") for fov in fovs}
        plate = write_hcs_plate(tmp_path / f"{name}.zarr", arrays, ["Phase3D", "GFP"],
                                version=version)  # fmt: skip
        tables = {fov: lineage_table() for fov in fovs} if tracks is None else dict(tracks)
        if layout == "folders":
            tracks_path = tmp_path / f"{name}_tracks"
            tracks_path.mkdir()
            for fov, table in tables.items():
                if table is not None:
                    (tracks_path / fov).mkdir(parents=True)
                    table.write_csv(tracks_path / fov / "tracks.csv")
        else:
            tracks_path = tmp_path / f"{name}_tracks.{layout}"
            whole = pl.concat(
                [t.with_columns(fov_name=pl.lit(f)) for f, t in tables.items() if t is not None],
                how="diagonal_relaxed",
            )
            whole.write_csv(tracks_path) if layout == "csv" else whole.write_parquet(tracks_path)
        wells = sorted({fov.rsplit("/", 1)[0] for fov in fovs})
        default = {"mock": wells[:1], "infected": wells[1:]} if len(wells) > 1 else None
        return ExperimentConfig(
            name=name,
            data_path=str(plate),
            tracks_path=str(tracks_path),
            channel_names=["Phase3D", "GFP"],
            source_channel=["Phase3D", "GFP"],
            condition_wells=dict(conditions or default or {"mock": wells}),
            interval_minutes=interval_minutes,
            start_hpi=start_hpi,
        )

    return make
