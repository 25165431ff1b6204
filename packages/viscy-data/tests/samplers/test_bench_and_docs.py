"""The sampler benchmark runs in --smoke mode, and the user doc's example runs as written."""

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def test_benchmark_smoke_prints_a_row_per_size_and_config(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as `python benchmarks/...` has it
    main = runpy.run_path(str(ROOT / "benchmarks" / "bench_sampler.py"), run_name="bench")["main"]
    assert main(["--smoke"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("FlexibleBatchSampler, batch_size=32")
    rows = [line.split() for line in lines[3:]]
    assert len(rows) == 2 * 5 and {r[0] for r in rows} == {"2,000", "20,000"}
    assert all(r[-1].endswith("x") for r in rows)


def test_doc_example_runs():
    text = (ROOT / "docs" / "viscy-data" / "sampler.md").read_text()
    example = re.search(r"## Example\n\n```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(example, "sampler.md", "exec"), namespace)
    assert namespace["state"] == {"epoch": 1, "batches_done": 15, "seed": 42, "num_replicas": 1}
