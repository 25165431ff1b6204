"""Synthetic experiments on disk, for the default ``dynaclr fit``, tests and benchmarks.

simulate.py   cells that move, divide and get infected (a table of observations)
render.py     their pixels, frame block by frame block
files.py      tracks CSVs and the experiments.yml
dataset.py    write_demo_dataset: the realistic demo (plates, tracks, statistics)
identity.py   write_identity_dataset: pixels that say which cell and frame they show
cache.py      where ``dynaclr fit`` keeps its demo, written once
"""

from dynaclr.demo.cache import cache_dir, ensure_demo_dataset
from dynaclr.demo.dataset import write_demo_dataset
from dynaclr.demo.identity import (
    IDENTITY_BACKGROUND,
    IDENTITY_DECOY,
    decode_identity,
    encode_identity,
    write_identity_dataset,
)

__all__ = [
    "IDENTITY_BACKGROUND",
    "IDENTITY_DECOY",
    "cache_dir",
    "decode_identity",
    "encode_identity",
    "ensure_demo_dataset",
    "write_demo_dataset",
    "write_identity_dataset",
]
