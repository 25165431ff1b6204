"""Evaluate embeddings: ``dynaclr evaluate`` and the metrics it shares with the learning check.

store (:mod:`.store`) -> metrics (:mod:`.metrics`) -> figures (:mod:`.figures`) -> report
(:mod:`.report`: ``metrics.json``, ``report.md``, PNGs).
"""

from dynaclr.evaluate.metrics import (
    ProbeResult,
    effective_rank,
    linear_probe,
    linear_probe_accuracy,
    temporal_smoothness,
)
from dynaclr.evaluate.online import OnlineEvaluation
from dynaclr.evaluate.report import (
    EVALUATION_KIND,
    EvaluationSummary,
    default_output,
    evaluate_embeddings,
)
from dynaclr.evaluate.store import Embeddings, read_embeddings

__all__ = [
    "EVALUATION_KIND",
    "Embeddings",
    "EvaluationSummary",
    "OnlineEvaluation",
    "ProbeResult",
    "default_output",
    "effective_rank",
    "evaluate_embeddings",
    "linear_probe",
    "linear_probe_accuracy",
    "read_embeddings",
    "temporal_smoothness",
]
