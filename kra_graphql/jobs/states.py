"""Job kinds and statuses: plain enums with no database behind them, shared by the
server and the command-line client (which must not load the server's models)."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    COLLECTION = "COLLECTION"
    ENRICHMENT = "ENRICHMENT"
    RESULTS = "RESULTS"
    EVALUATION = "EVALUATION"
    PREDICTION = "PREDICTION"
    PROMPT_IMPROVEMENT = "PROMPT_IMPROVEMENT"
    IMPORT = "IMPORT"
    BACKFILL = "BACKFILL"
    RACE_DAY = "RACE_DAY"
    EXPORT = "EXPORT"
    TRAINING = "TRAINING"


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.PARTIAL, JobStatus.FAILED, JobStatus.CANCELLED}
)
