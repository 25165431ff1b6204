"""The transforms benchmark runs in its --smoke mode and prints one row per transform."""

import runpy
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[4] / "benchmarks" / "bench_transforms.py"


def test_benchmark_smoke_prints_a_row_per_transform(capsys):
    main = runpy.run_path(str(BENCH), run_name="bench_transforms")["main"]
    threads = torch.get_num_threads()
    try:
        main(["--smoke", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("batch (4, 2, 2, 32, 32) float32 on cpu")
    rows = lines[2:]
    assert [r.split()[0] for r in rows][:2] == ["Normalize", "ScaleIntensityPercentiles"]
    assert len(rows) == 8 and all(r.endswith("x") for r in rows)
