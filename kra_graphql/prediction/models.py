"""Prompts (versioned prediction strategies), predictions and evaluations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from kra_graphql.db import JSONType, UTCDateTime, utcnow


class PredictorKind(StrEnum):
    FORM = "FORM"
    MARKET = "MARKET"
    LLM = "LLM"
    LEARNED = "LEARNED"


class Prompt(SQLModel, table=True):
    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        # One champion per strategy, enforced by the database so that two concurrent
        # activations cannot both win.
        Index(
            None,
            "predictor",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )

    id: str = Field(primary_key=True, max_length=80)  # e.g. form-weights-v1.0
    name: str = Field(max_length=60, nullable=False)
    version: str = Field(max_length=20, nullable=False)
    text: str = Field(sa_type=Text, nullable=False)
    predictor: str = Field(max_length=16, nullable=False)
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    parent_id: str | None = Field(default=None, foreign_key="prompts.id")
    # The version of its strategy that scheduled predictions use (activatePrompt).
    active: bool = Field(
        default=False, nullable=False, sa_column_kwargs={"server_default": false()}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Evaluation(SQLModel, table=True):
    __tablename__ = "evaluations"

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: str = Field(foreign_key="prompts.id", index=True, nullable=False)
    # One evaluation per job, so a re-run job updates instead of duplicating.
    job_id: str | None = Field(default=None, foreign_key="jobs.id", unique=True)
    race_count: int = Field(default=0, nullable=False)
    excluded_count: int = Field(default=0, nullable=False)
    success_rate: float = Field(default=0.0, nullable=False)
    average_correct: float = Field(default=0.0, nullable=False)
    win_hit_rate: float = Field(default=0.0, nullable=False)
    used_final_odds: bool = Field(default=False, nullable=False)
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # sha256 of the sorted ids of the races it scored, set when it is done: evaluations
    # are compared (promptLeaderboard) only on the same set.
    race_set: str | None = Field(default=None, max_length=64, index=True)


class Prediction(SQLModel, table=True):
    __tablename__ = "predictions"
    # run_key separates a direct prediction ("direct") from those of an
    # evaluation ("evaluation:<id>") and of a day's run (the job id): a re-run updates
    # its own row only.
    __table_args__ = (UniqueConstraint("race_id", "prompt_id", "run_key"),)

    id: int | None = Field(default=None, primary_key=True)
    race_id: str = Field(foreign_key="races.id", ondelete="CASCADE", nullable=False)
    prompt_id: str = Field(foreign_key="prompts.id", index=True, nullable=False)
    evaluation_id: int | None = Field(
        default=None, foreign_key="evaluations.id", ondelete="CASCADE", index=True
    )
    run_key: str = Field(default="direct", max_length=60, nullable=False)
    # The predictRaces job whose run of a day this prediction belongs to (run_key is then
    # the same id). No foreign key: predictions outlive the jobs that made them.
    run_id: str | None = Field(default=None, max_length=40, index=True)
    first_pick: int | None = None
    second_pick: int | None = None
    third_pick: int | None = None
    confidence: int = Field(default=0, nullable=False)
    # Each starter's win probability, {"<gate>": p} summing to 1, from predictors that
    # give one (FORM, MARKET); null from those that state only their confidence.
    win_probabilities: dict[str, float] | None = Field(default=None, sa_type=JSONType)
    reasoning: str | None = Field(default=None, sa_type=Text)
    deferred: bool = Field(default=False, nullable=False)
    valid_answer: bool = Field(default=True, nullable=False)
    used_final_odds: bool = Field(default=False, nullable=False)
    model_version: str | None = Field(default=None, max_length=100)
    execution_ms: int | None = None
    correct_count: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
