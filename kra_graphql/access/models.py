"""API keys: only a hash of the key is stored."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from kra_graphql.db import JSONType, UTCDateTime, utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, nullable=False)
    key_hash: str = Field(max_length=64, unique=True, nullable=False)
    # The first characters of the key, to recognise it in listings.
    prefix: str = Field(max_length=16, nullable=False)
    scopes: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
