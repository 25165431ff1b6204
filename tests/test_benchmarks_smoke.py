"""``benchmarks/run.py --smoke`` runs every section end to end and prints one table."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("loader", "index", "sampler", "loss", "train", "preprocess", "rechunk", "realistic")


def _table_rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_run_smoke_prints_one_table_with_every_section(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--data-dir", tmp_path],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"run.py --smoke failed:\n{proc.stdout}\n{proc.stderr}"
    header, *rows = _table_rows(proc.stdout)
    assert header[:6] == ["section", "case", "metric", "median", "min", "max"]
    body = [row for row in rows if not set(row[0]) <= {"-", ":"}]
    assert {row[0] for row in body} == set(SECTIONS)
    assert all(len(row) == len(header) for row in body)
    medians = {(row[0], row[1], row[2]): float(row[3].replace(",", "")) for row in body}
    assert all(value >= 0 for value in medians.values())
    loader = [key for key in medians if key[0] == "loader" and key[2] == "samples/s"]
    assert len(loader) == 6  # 0 and 2 workers, cold and cached, uncompressed and chunked cases
    assert all(medians[key] > 0 for key in loader)
    # every loader row has its ceiling and a ratio; the loss rows compare with the library
    assert all(row[7] and row[8] for row in body if row[0] == "loader" and row[2] == "samples/s")
    assert any(row[6] == "pml NTXentLoss" and float(row[8]) > 0 for row in body)
    assert any("setup to first batch" in row[1] and "met" in row[9] for row in body)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_reader_modes_smoke_prints_each_mode_against_the_ceiling():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_reader_modes.py"), "--smoke"],
        cwd=ROOT / "benchmarks", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"bench_reader_modes.py --smoke failed:\n{proc.stderr}"
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip().startswith("2 ")]
    assert [r[1] for r in rows] == ["ceiling", "reader", "worker"]
    assert float(rows[0][-1]) == 1.0 and all(float(r[-1]) > 0 for r in rows)
