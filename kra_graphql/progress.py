"""What a long domain operation is handed to report on, and what it hands back.

The services in collection/ and prediction/ run as jobs, but they only know this
protocol: the job layer's reporter satisfies it, so they never import the job layer,
and a test may hand them anything with these methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Progress(Protocol):
    @property
    def job_id(self) -> str:
        """The run this is: rows an operation writes may name it to be found again."""
        ...

    async def set_total(self, total_steps: int, *, step: str | None = None) -> None: ...

    async def step(self, name: str) -> None:
        """Start a step; raises once somebody asked to cancel the run."""
        ...

    async def advance(self, steps: int = 1) -> None: ...

    async def log(self, message: str, *, level: str = "INFO") -> None: ...

    async def check_cancelled(self) -> None:
        """Raises once somebody asked to cancel the run."""
        ...


@dataclass(slots=True)
class JobOutcome:
    result: dict[str, Any] = field(default_factory=dict)
    # Items that failed while the rest succeeded: the job ends PARTIAL and lists them.
    failures: list[dict[str, Any]] = field(default_factory=list)


class ResumeLater(Exception):
    """Nothing to do before `at` (aware): the run waits QUEUED without holding a worker and
    starts again from the beginning then, so its steps must be safe to repeat."""

    def __init__(self, at: datetime, reason: str) -> None:
        super().__init__(reason)
        self.at = at
        self.reason = reason
