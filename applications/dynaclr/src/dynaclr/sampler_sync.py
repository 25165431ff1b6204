# Moved to dynaclr.trainer_batches; this re-export stays for one release.
from dynaclr.trainer_batches import FixedEpochBatches, TrainerSyncedBatches, TrainLoader  # noqa: F401
