"""The index benchmark runs in its smoke size and prints its table (so it cannot rot)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[4] / "benchmarks" / "bench_index.py"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_bench_index_smoke_prints_a_table():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=110
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("cell index build, medians [min-max]")
    assert "build s" in lines[1] and "build delta GiB" in lines[1]
    rows = [line.split("|") for line in lines[3:]]
    assert len(rows) == 2
    for cells in rows:
        assert int(cells[0]) > 0 and float(cells[1].split()[0]) >= 0
