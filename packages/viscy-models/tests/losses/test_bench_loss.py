"""benchmarks/bench_loss.py runs (--smoke) and never runs the cubic-memory baseline above 512."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[4] / "benchmarks" / "bench_loss.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_loss", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_library_baseline_only_up_to_512():
    bench = _load()
    cases = bench.plan_cases([512, 2048, 8192], [0.0, 0.5], dim=128)
    assert [(c["loss"], c["n"]) for c in cases if c["loss"] == bench.PML] == [(bench.PML, 512)]
    assert sum(c["loss"] == bench.OURS for c in cases) == 6


@pytest.mark.slow
def test_smoke_run_prints_a_table_with_ratios(tmp_path):
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "| loss | N | beta | median ms | min ms | max ms | peak MB |" in proc.stdout
    rows = json.loads(out.read_text())
    assert [(r["loss"], r["n"], r["beta"]) for r in rows] == [
        ("pml NTXentLoss", 64, 0.0), ("NTXentHCL", 64, 0.0), ("NTXentHCL", 64, 0.5),
        ("pml NTXentLoss", 256, 0.0), ("NTXentHCL", 256, 0.0), ("NTXentHCL", 256, 0.5),
    ]  # fmt: skip
    for row in rows:
        assert len(row["times_ms"]) == 3 and min(row["times_ms"]) > 0 and row["peak_mb"] >= 0
    # The library's (N, N(N-2)) mask is already larger at N = 256 than all of ours.
    pml, ours = rows[3]["peak_mb"], max(rows[4]["peak_mb"], rows[5]["peak_mb"])
    assert pml > 100 and ours < 0.1 * pml
