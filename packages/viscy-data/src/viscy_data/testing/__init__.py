"""The test kit of every viscy package: real small data, a quiet trainer, checks and probes.

- :mod:`~viscy_data.testing.plates`: tiny OME-Zarr HCS plates (:func:`write_hcs_plate`,
  :func:`create_hcs_plate`, :func:`write_normalization`).
- :mod:`~viscy_data.testing.trainer`: :func:`quiet_trainer`, a one-device CPU Lightning
  ``Trainer`` without logger, checkpoints, progress bar or model summary (needs ``lightning``,
  imported only when called).
- :mod:`~viscy_data.testing.threads`: :func:`loader_threads` and
  :func:`wait_for_no_loader_threads`, the live threads of
  :class:`~viscy_data.ThreadDataLoader` iterators.
- :mod:`~viscy_data.testing.read_only`: :func:`read_only_tree`, a folder nobody (root
  included, where ``chattr`` works) can write for the length of a test.
- :mod:`~viscy_data.testing.files`: :func:`tree_digest`, every file of a folder (size,
  modification time, SHA-256), to show a command left it untouched.
- :mod:`~viscy_data.testing.resume`: :func:`check_resume`, the resume contract of anything
  with ``state_dict``/``load_state_dict`` that yields batches epoch after epoch (samplers,
  loaders, datamodules), at the stop points :data:`RESUME_POINTS`.
"""

from viscy_data.testing.files import tree_digest
from viscy_data.testing.plates import create_hcs_plate, write_hcs_plate, write_normalization
from viscy_data.testing.read_only import read_only_tree
from viscy_data.testing.resume import RESUME_POINTS, check_resume
from viscy_data.testing.threads import loader_threads, wait_for_no_loader_threads
from viscy_data.testing.trainer import QUIET_TRAINER_DEFAULTS, quiet_trainer

__all__ = [
    "QUIET_TRAINER_DEFAULTS",
    "RESUME_POINTS",
    "check_resume",
    "create_hcs_plate",
    "loader_threads",
    "quiet_trainer",
    "read_only_tree",
    "tree_digest",
    "wait_for_no_loader_threads",
    "write_hcs_plate",
    "write_normalization",
]
