"""Benchmark: cell index build time and peak memory from synthetic tracks with divisions.

    uv run python benchmarks/bench_index.py                 # 1e5, 1e6, 1e7 rows, 3 repeats
    uv run python benchmarks/bench_index.py --rows 100000 2000000 --repeats 5
    uv run python benchmarks/bench_index.py --smoke         # tiny sizes, seconds (CI)

Each repeat runs in a fresh subprocess: it generates the tracks in memory (not timed; FOVs
of 200 root cells over 120 frames, 35% of tracks dividing, up to three generations, 0.4% of
centroids outside the 2048 x 2048 image, two experiments), then times
:func:`dynaclr.cell_index.build.build_cell_index` (checks, lineage, borders, positive lookup
and valid anchors; no disk I/O) and, separately, materialising the ``valid_anchors`` frame.

Memory: ``rss before`` is the resident set after generating the input (it includes about
0.6 GiB for importing dynaclr, whose viscy_data dependency imports torch); ``build peak``
is the highest RSS sampled every 2 ms during the build and ``delta`` = peak - before;
``maxrss`` is the process high-water mark right after the build (getrusage);
``+anchors df`` is the RSS the ``valid_anchors`` frame adds on top of the build peak.

Baseline in the same run: one plain polars sort of the input by (experiment, fov_name,
track_id, t), the first step of any straightforward build; ``build/sort`` is the ratio.
Targets (issue 7): 1e7 rows in < 30 s and < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import polars as pl

FRAMES = 120
IMAGE = 2048
CELLS_PER_FOV = 200  # root cells per FOV


def synthetic_tracks(rows: int, seed: int = 0, n_experiments: int = 2) -> tuple[pl.DataFrame, ...]:
    """About ``rows`` observations in FOVs of 2048 x 2048, with up to three divisions deep."""
    rng = np.random.default_rng(seed)
    mean_obs_per_root = 61.5  # measured for the parameters below
    n_fovs = max(1, round(rows / (CELLS_PER_FOV * mean_obs_per_root)))
    n_roots = max(1, round(rows / mean_obs_per_root))
    fov = np.sort(rng.integers(0, n_fovs, n_roots))
    start = rng.integers(0, FRAMES // 2, n_roots)
    parent = np.full(n_roots, -1)
    fovs, starts, lengths, parents = [], [], [], []
    offset = 0
    for generation in range(4):  # roots, daughters, granddaughters, great-granddaughters
        length = np.minimum(rng.integers(8, 50, fov.size), FRAMES - start)
        fovs.append(fov), starts.append(start), lengths.append(length), parents.append(parent)
        if generation == 3:
            break
        end = start + length
        mother = np.flatnonzero((rng.random(fov.size) < 0.35) & (end < FRAMES - 2))
        fov, start = np.repeat(fov[mother], 2), np.repeat(end[mother], 2)
        parent = np.repeat(mother + offset, 2)
        offset += length.size
    fov, start = np.concatenate(fovs), np.concatenate(starts)
    parent, length = np.concatenate(parents), np.concatenate(lengths)
    # track ids: position within the FOV
    order = np.argsort(fov, kind="stable")
    track_id = np.empty(fov.size, np.int64)
    first = np.searchsorted(fov[order], fov[order])
    track_id[order] = np.arange(fov.size) - first
    parent_tid = np.where(parent >= 0, track_id[np.maximum(parent, 0)], -1)
    track = np.repeat(np.arange(fov.size), length)
    t = start[track] + (np.arange(track.size) - np.repeat(np.cumsum(length) - length, length))
    last_id = np.cumsum(length) - 1
    parent_id = np.where(parent >= 0, last_id[np.maximum(parent, 0)], -1)[track]
    n = track.size
    fov_names = [f"{chr(65 + (i // 12) % 8)}/{i % 12 + 1}/{i // 96}" for i in range(n_fovs)]
    exp_of_fov = np.arange(n_fovs) % n_experiments
    exp_names = [f"exp{i}" for i in range(n_experiments)]
    tracks = pl.DataFrame(
        {
            "experiment": pl.Series(np.array(exp_names)[exp_of_fov[fov[track]]]).cast(
                pl.Categorical
            ),
            "fov_name": pl.Series(np.array(fov_names)[fov[track]]).cast(pl.Categorical),
            "track_id": track_id[track],
            "t": t,
            "id": np.arange(n),
            "parent_track_id": parent_tid[track],
            "parent_id": parent_id,
            "y": rng.uniform(-4, IMAGE + 4, n),
            "x": rng.uniform(-4, IMAGE + 4, n),
        }
    )
    fov_table = pl.DataFrame(
        {
            "experiment": [exp_names[e] for e in exp_of_fov],
            "fov_name": fov_names,
            "well_name": [name.rsplit("/", 1)[0] for name in fov_names],
            "condition": ["infected" if i % 2 else "mock" for i in range(n_fovs)],
            "store_path": [f"/data/{exp_names[e]}.zarr" for e in exp_of_fov],
            "n_frames": FRAMES,
            "depth": 1,
            "image_height": IMAGE,
            "image_width": IMAGE,
        }
    ).sort("experiment", "fov_name", maintain_order=True)
    experiments = pl.DataFrame(
        {
            "experiment": exp_names,
            "interval_minutes": [30.0 - 10.0 * i for i in range(n_experiments)],
            "start_hpi": 3.0,
            "fluorescence_channel": [f"GFP{i}" for i in range(n_experiments)],
            "tau_min": 1,
            "tau_max": [4 + 2 * i for i in range(n_experiments)],
        }
    )
    return tracks, fov_table, experiments


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class _PeakSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss_bytes()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.002):
            self.peak = max(self.peak, _rss_bytes())

    def stop(self) -> int:
        self._done.set()
        self.join()
        self.peak = max(self.peak, _rss_bytes())
        return self.peak


def worker(rows: int, seed: int) -> dict:
    """One repeat: generate, baseline sort, build, materialise anchors; return measurements."""
    from dynaclr.cell_index.borders import normalize_z_range
    from dynaclr.cell_index.build import build_cell_index

    tracks, fovs, experiments = synthetic_tracks(rows, seed)
    before = _rss_bytes()
    sampler = _PeakSampler()
    sampler.start()
    tic = time.perf_counter()
    result = build_cell_index(tracks, fovs, experiments, (160, 160), normalize_z_range((0, 1)))
    build_s = time.perf_counter() - tic
    peak = sampler.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tic = time.perf_counter()
    anchors = result.tracks.with_row_index("row").filter(pl.Series(result.anchor_mask))
    anchors_s = time.perf_counter() - tic
    with_anchors = _rss_bytes()
    del result, anchors
    tic = time.perf_counter()
    tracks.sort("experiment", "fov_name", "track_id", "t")
    sort_s = time.perf_counter() - tic
    return dict(
        rows=tracks.height,
        build_s=build_s,
        anchors_s=anchors_s,
        sort_s=sort_s,
        before=before,
        peak=peak,
        with_anchors=with_anchors,
        maxrss=maxrss,
    )


def run_size(rows: int, repeats: int) -> list[dict]:
    """Measure ``repeats`` builds of about ``rows`` observations, each in a fresh process.

    Returns one :func:`worker` dict per repeat (seeds 0, 1, ...); raises RuntimeError with
    the child's stderr when a repeat fails.
    """
    runs = []
    for seed in range(repeats):
        cmd = [sys.executable, __file__, "--worker", "--rows", str(rows), "--seed", str(seed)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode:
            raise RuntimeError(f"bench_index worker for {rows} rows failed:\n{out.stderr}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def _minus(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b)]


def _median_ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b))


def _fmt(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    v = [x / scale for x in values]
    return f"{statistics.median(v):.{digits}f} [{min(v):.{digits}f}-{max(v):.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.rows[0], args.seed)))
        return 0
    sizes, repeats = ([2_000, 20_000], 1) if args.smoke else (args.rows, args.repeats)
    gib = 2.0**30
    columns = [  # (title, width, cell from the runs of one size)
        ("rows", 10, lambda c: f"{int(statistics.median(c['rows']))}"),
        ("build s", 18, lambda c: _fmt(c["build_s"])),
        ("polars sort s", 18, lambda c: _fmt(c["sort_s"])),
        ("build/sort", 10, lambda c: f"{_median_ratio(c['build_s'], c['sort_s']):.2f}"),
        ("build delta GiB", 18, lambda c: _fmt(_minus(c["peak"], c["before"]), gib)),
        ("anchors df s", 16, lambda c: _fmt(c["anchors_s"])),
        ("+anchors df GiB", 18, lambda c: _fmt(_minus(c["with_anchors"], c["peak"]), gib)),
        ("rss before GiB", 14, lambda c: f"{statistics.median(c['before']) / gib:.2f}"),
        ("build peak GiB", 18, lambda c: _fmt(c["peak"], gib)),
        ("maxrss GiB", 10, lambda c: f"{max(c['maxrss']) / gib:.2f}"),
    ]
    header = " | ".join(f"{title:>{width}}" for title, width, _ in columns)
    print(f"cell index build, medians [min-max] over {repeats} repeat(s), one process each")
    print(header)
    print("-" * len(header))
    for rows in sizes:
        try:
            runs = run_size(rows, repeats)
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 1
        col = {k: [r[k] for r in runs] for k in runs[0]}
        print(" | ".join(f"{cell(col):>{width}}" for _, width, cell in columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
