"""A real 2-process DDP fit (gloo on CPU): disjoint batches, equal step counts, no hang."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_record.py")


@pytest.mark.slow
def test_two_ranks_get_disjoint_batches_and_equal_steps(identity_yaml, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(identity_yaml), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["global_step"] == ranks[1]["global_step"] > 0
    assert len(ranks[0]["train"]) == len(ranks[1]["train"])
    for epoch in (0, 1):
        batches = [
            [tuple(map(tuple, ids)) for e, _, ids in r["train"] if e == epoch] for r in ranks
        ]
        assert batches[0] and not set(batches[0]) & set(batches[1])
    epochs = [
        [tuple(map(tuple, ids)) for e, _, ids in ranks[0]["train"] if e == ep] for ep in (0, 1)
    ]
    assert epochs[0] != epochs[1]
    assert len(ranks[0]["val"]) == len(ranks[1]["val"])
