"""ShardedSequentialBatchSampler covers every row exactly once across ranks."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from viscy_data.samplers.sequential import ShardedSequentialBatchSampler


@given(n=st.integers(0, 300), batch=st.integers(1, 40), world=st.integers(1, 5))
def test_ranks_partition_rows_in_order(n, batch, world):
    seen = []
    for rank in range(world):
        sampler = ShardedSequentialBatchSampler(n, batch, num_replicas=world, rank=rank)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert all(1 <= len(b) <= batch for b in batches)
        seen.extend(i for b in batches for i in b)
    assert seen == list(range(n))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="batch_size"):
        ShardedSequentialBatchSampler(10, 0)
    with pytest.raises(ValueError, match="rank=2"):
        ShardedSequentialBatchSampler(10, 2, num_replicas=2, rank=2)
