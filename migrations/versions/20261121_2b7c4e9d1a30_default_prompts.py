"""default prompts

Revision ID: 2b7c4e9d1a30
Revises: 1568cc35f511
Create Date: 2026-11-21 23:50:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "2b7c4e9d1a30"
down_revision: str | None = "1568cc35f511"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FORM_WEIGHTS = {
    "horse_win_rate": 1.0,
    "horse_top3_rate": 2.0,
    "jockey_win_rate": 1.0,
    "jockey_top3_rate": 1.5,
    "trainer_win_rate": 0.5,
    "trainer_top3_rate": 0.5,
    "recent_form": 2.0,
    "rating": 1.0,
    "carried_weight": 0.3,
    "body_weight_change": -0.5,
    "layoff": -0.3,
}

LLM_TEXT = """You are a Korean horse-racing analyst. From the race card below, pick the three
runners most likely to finish in the first three, most likely winner first. Use only
what the card says: recent form, the horse's, jockey's and trainer's records before
this race, carried weight, body weight and its change, rating and field size.

Race card (JSON):
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
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # SQLite stores timestamps without a zone; the application reads them as UTC.
    created = datetime(2026, 11, 21, tzinfo=UTC)
    if op.get_bind().dialect.name == "sqlite":
        created = created.replace(tzinfo=None)
    op.bulk_insert(
        prompts,
        [
            {
                "id": "base-prompt-v1.0",
                "name": "base-prompt",
                "version": "v1.0",
                "text": "Weighted score over pre-race form features; the weights are the parameters.",
                "predictor": "FORM",
                "parameters": {"weights": FORM_WEIGHTS, "temperature": 0.5, "prior_strength": 5},
                "parent_id": None,
                "created_at": created,
            },
            {
                "id": "market-v1.0",
                "name": "market",
                "version": "v1.0",
                "text": "Shortest win odds first; needs useFinalOdds.",
                "predictor": "MARKET",
                "parameters": {},
                "parent_id": None,
                "created_at": created,
            },
            {
                "id": "llm-prompt-v1.0",
                "name": "llm-prompt",
                "version": "v1.0",
                "text": LLM_TEXT,
                "predictor": "LLM",
                "parameters": {},
                "parent_id": None,
                "created_at": created,
            },
        ],
    )


def downgrade() -> None:
    op.execute(
        prompts.delete().where(
            prompts.c.id.in_(["base-prompt-v1.0", "market-v1.0", "llm-prompt-v1.0"])
        )
    )
