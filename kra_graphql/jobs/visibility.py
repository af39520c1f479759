"""Whose jobs a caller sees: its own and the scheduled ones, or every job.

A job's parameters, result and submitter are its submitter's business. A key without
`admin` sees the jobs it submitted and those the schedule submitted; an admin key, and
anonymous readers where they are allowed at all (development), see every job. A job out
of sight reads exactly as a missing one would, so its existence is never disclosed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlmodel import col

from kra_graphql.access.keys import SCHEDULE, Principal, Scope
from kra_graphql.jobs.models import Job


@dataclass(frozen=True, slots=True)
class JobVisibility:
    # The key whose jobs (beside the scheduled ones) are visible; None: every job.
    owner: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> JobVisibility:
        if principal.name is None or principal.can(Scope.ADMIN):
            return EVERY_JOB
        return cls(owner=principal.name)

    def sees(self, requested_by: str | None) -> bool:
        return self.owner is None or requested_by in (self.owner, SCHEDULE)

    def condition(self) -> ColumnElement[bool] | None:
        """The same rule as a WHERE condition; None where every job is visible."""
        if self.owner is None:
            return None
        return col(Job.requested_by).in_([self.owner, SCHEDULE])


EVERY_JOB = JobVisibility()
