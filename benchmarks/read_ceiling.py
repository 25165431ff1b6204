"""The read ceiling of a loader pass: the same patches read by plain tensorstore.

Used by ``bench_loader.py``: for the batches a loader pass read (its epochs, replayed from the
sampler and the dataset's keyed positives, located by ``dataset.patch_request``), one
``ts.stack`` view per batch is built on stores opened here, before the clock starts, and read
with one call per batch, with a chosen number of batches in flight.

What a pass decodes is counted from the same batches: the chunks every batch touches (a chunk
shared by patches of one batch counts once) and, with ``model_cache``, only those not left in
a least-recently-used model of the chunk cache by the batches before. ``amplification`` =
decoded chunk pixels / delivered patch pixels (both at the stored dtype, so bytes for bytes).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from itertools import islice

import numpy as np
import tensorstore as ts


class ReadCeiling:
    """Plain tensorstore reads of the patches a loader epoch reads; no Python per sample."""

    def __init__(self, dataset, cache_bytes: int, model_cache: bool = False) -> None:
        self.dataset = dataset
        self.cache_bytes = int(cache_bytes)
        self.model_cache = model_cache
        self._lru: OrderedDict = OrderedDict()  # chunk -> decoded bytes, least recent first
        self._lru_bytes = 0
        self.context = ts.Context({"cache_pool": {"total_bytes_limit": cache_bytes}})
        # The dataset's own specs, opened here with a context of our own: no PatchReader.
        self.stores = {
            key: ts.open(spec, read=True, context=self.context).result()
            for key, spec in dataset.reader.specs.items()
        }

    def warm(self) -> None:
        """Read every array once, so a large enough cache holds the whole working set."""
        for store in self.stores.values():
            store.read().result()

    def plan(self, sampler, segments: list[tuple[int, int]]) -> tuple[list, float, float]:
        """Stacked views, one per batch (anchors then positives); MB decoded/sample; amplification.

        ``segments`` lists ``(epoch, batches)``: the first batches of each epoch, in order.
        Views of arrays that are not float32 are cast to float32, as the loader's are.
        """
        stacks, decoded, delivered, samples = [], 0, 0, 0
        for epoch, n_batches in segments:
            sampler.set_epoch(epoch)
            self.dataset.set_epoch(epoch)
            for positions in islice(iter(sampler), n_batches):
                positions = np.asarray(positions, dtype=np.int64)
                rows = np.concatenate(
                    [self.dataset.rows[positions], self.dataset.positive_rows(positions)]
                )
                request = self.dataset.patch_request(rows)
                height, width = request.patch_yx
                views, chunks = [], {}
                for key, t, chans, y, x in zip(
                    request.keys,
                    request.t.tolist(),
                    request.channels,
                    request.y0.tolist(),
                    request.x0.tolist(),
                ):
                    store = self.stores[key]
                    region = store[t, list(chans), request.z_range, y : y + height, x : x + width]
                    if region.dtype != ts.float32:
                        region = ts.cast(region, ts.float32)
                    views.append(region.translate_to[0])
                    delivered += int(np.prod(region.shape)) * store.dtype.numpy_dtype.itemsize
                    corner, patch = (y, x), (height, width)
                    chunks.update(
                        _chunks_touched(store, key, t, chans, request.z_range, corner, patch)
                    )
                stacks.append(ts.stack(views))
                decoded += self._decoded_bytes(chunks)
                samples += positions.size
        return stacks, decoded / max(samples, 1) / 1e6, decoded / max(delivered, 1)

    def _decoded_bytes(self, chunks: dict[tuple, int]) -> int:
        """Bytes a batch decodes: every chunk it touches, or those the cache model lacks."""
        if not self.model_cache:
            return sum(chunks.values())
        decoded = 0
        for chunk, nbytes in chunks.items():
            if chunk in self._lru:
                self._lru.move_to_end(chunk)
                continue
            decoded += nbytes
            self._lru[chunk] = nbytes
            self._lru_bytes += nbytes
        while self._lru_bytes > self.cache_bytes and self._lru:
            self._lru_bytes -= self._lru.popitem(last=False)[1]
        return decoded

    @staticmethod
    def run(stacks: list, in_flight: int, steady: bool = True) -> float:
        """Samples/s reading ``stacks`` with ``in_flight`` batches of reads outstanding.

        ``steady``: timed from the first batch's completion to the last one's; else the whole
        pass, from the first read issued.
        """
        pending: deque = deque()
        samples, start = 0, None if steady else time.perf_counter()
        for stack in stacks:
            pending.append(stack.read())
            if len(pending) >= in_flight:
                pending.popleft().result()
                if start is None:
                    start = time.perf_counter()
                else:
                    samples += stack.shape[0] // 2
        while pending:
            pending.popleft().result()
            samples += stacks[0].shape[0] // 2
        return samples / (time.perf_counter() - start)


def _chunks_touched(store, key, t, chans, z_range, corner, patch) -> dict[tuple, int]:
    """Chunks that one patch needs, each with its decoded bytes."""
    chunk = store.chunk_layout.read_chunk.shape
    nbytes = store.dtype.numpy_dtype.itemsize * int(np.prod(chunk))
    z = range(*z_range.indices(store.shape[2]))
    spans = [
        range(z.start // chunk[2], (z.stop - 1) // chunk[2] + 1),
        range(corner[0] // chunk[3], (corner[0] + patch[0] - 1) // chunk[3] + 1),
        range(corner[1] // chunk[4], (corner[1] + patch[1] - 1) // chunk[4] + 1),
    ]
    return {
        (key, t // chunk[0], c // chunk[1], zc, yc, xc): nbytes
        for c in chans
        for zc in spans[0]
        for yc in spans[1]
        for xc in spans[2]
    }
