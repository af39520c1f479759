"""Created/updated timestamps shared by every table."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from kra_graphql.db import UTCDateTime, utcnow


class Timestamped(SQLModel):
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
