"""metric definitions and default prompts named for what they are

Revision ID: da2ae699e576
Revises: dee09be24b4f
Create Date: 2026-12-03 04:40:00

The FORM weight set seeded as `base-prompt-v1.0` moves to `form-weights-v1.0`, with every
prediction, evaluation, child prompt and job that named it; `base-prompt-v1.0` becomes an
LLM analyst prompt. The new row is inserted before the references move and the old one
deleted after, so no foreign key is ever broken and none has to be dropped.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "da2ae699e576"
down_revision: str | None = "dee09be24b4f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ID = "base-prompt-v1.0"
FORM_ID = "form-weights-v1.0"

BASE_PROMPT_TEXT = """당신은 한국 경마 전문 분석가입니다. 아래 경주 카드(JSON)만 보고 3위 안에 들어올
가능성이 가장 높은 세 마리를 고르세요. 우승 가능성이 가장 높은 말을 먼저 씁니다.

분석할 때 볼 것:
- 최근 성적과, 이번 경주 전까지의 말·기수·조교사 전적(출전, 1위, 3위 이내)
- 부담중량, 마체중과 그 증감, 레이팅, 출전 두수, 휴양 기간
- 출전 취소된 말은 고르지 않습니다. 카드에 없는 정보는 지어내지 않습니다.

답은 JSON 객체 하나로만 하세요:
{"picks": [게이트 번호, 게이트 번호, 게이트 번호], "confidence": 0-100, "reasoning": "근거"}
picks는 서로 다른 세 게이트 번호(우승 예상마 먼저), confidence는 첫 번째 말이 우승할
확률(%), reasoning은 한국어로 쓴 짧은 근거입니다.

경주 카드 (JSON):
{race_card}
"""

prompts = sa.table(
    "prompts",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("version", sa.String),
    sa.column("text", sa.Text),
    sa.column("predictor", sa.String),
    sa.column("parameters", sa.JSON),
    sa.column("parent_id", sa.String),
    sa.column("active", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
predictions = sa.table("predictions", sa.column("prompt_id", sa.String))
evaluations = sa.table(
    "evaluations", sa.column("id", sa.Integer), sa.column("prompt_id", sa.String)
)
jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("parameters", sa.JSON))


def _renamed(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {key: _renamed(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, old, new) for item in value]
    return new if value == old else value


def _move(old: str, new: str, *, name: str) -> None:
    """Copy the prompt row under `new`, point everything that named `old` at it, delete
    `old`; the copy takes over `active` only once the old row is gone (one active per
    predictor)."""
    bind = op.get_bind()
    row = bind.execute(sa.select(prompts).where(prompts.c.id == old)).mappings().one_or_none()
    if row is None:
        return
    copy = dict(row)
    copy.update(id=new, name=name, active=False)
    op.execute(prompts.insert().values(**copy))
    op.execute(predictions.update().where(predictions.c.prompt_id == old).values(prompt_id=new))
    op.execute(evaluations.update().where(evaluations.c.prompt_id == old).values(prompt_id=new))
    op.execute(prompts.update().where(prompts.c.parent_id == old).values(parent_id=new))
    # Job parameters and results name prompts too (a queued race day resumes with them).
    for job_id, parameters in bind.execute(sa.select(jobs.c.id, jobs.c.parameters)).all():
        if parameters and old in str(parameters):
            op.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(parameters=_renamed(parameters, old, new))
            )
    op.execute(prompts.delete().where(prompts.c.id == old))
    op.execute(prompts.update().where(prompts.c.id == new).values(active=row["active"]))


def upgrade() -> None:
    op.add_column("evaluations", sa.Column("race_set", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_evaluations_race_set"), "evaluations", ["race_set"], unique=False)

    _move(OLD_ID, FORM_ID, name="form-weights")
    created = datetime(2026, 12, 3, tzinfo=UTC)
    if op.get_bind().dialect.name == "sqlite":
        created = created.replace(tzinfo=None)
    op.execute(
        prompts.insert().values(
            id=OLD_ID,
            name="base-prompt",
            version="v1.0",
            text=BASE_PROMPT_TEXT,
            predictor="LLM",
            parameters={},
            parent_id=None,
            active=False,
            created_at=created,
        )
    )


def downgrade() -> None:
    # What the LLM base prompt made goes with it: the older schema has no place for it.
    made_with = sa.select(evaluations.c.id).where(evaluations.c.prompt_id == OLD_ID)
    predictions_full = sa.table(
        "predictions", sa.column("prompt_id", sa.String), sa.column("evaluation_id", sa.Integer)
    )
    op.execute(
        predictions_full.delete().where(
            sa.or_(
                predictions_full.c.prompt_id == OLD_ID,
                predictions_full.c.evaluation_id.in_(made_with),
            )
        )
    )
    op.execute(evaluations.delete().where(evaluations.c.prompt_id == OLD_ID))
    op.execute(prompts.update().where(prompts.c.parent_id == OLD_ID).values(parent_id=None))
    op.execute(prompts.delete().where(prompts.c.id == OLD_ID))
    _move(FORM_ID, OLD_ID, name="base-prompt")

    op.drop_index(op.f("ix_evaluations_race_set"), table_name="evaluations")
    # Not a batch (copy and swap) on SQLite: dropping the old evaluations table would
    # cascade to the predictions of every evaluation. SQLite drops columns since 3.35.
    op.execute("ALTER TABLE evaluations DROP COLUMN race_set")
