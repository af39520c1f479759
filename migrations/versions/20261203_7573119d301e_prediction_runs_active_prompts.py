"""prediction runs and active prompts

Revision ID: 7573119d301e
Revises: 7d3e5a1c9b42
Create Date: 2026-12-03 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7573119d301e"
down_revision: str | None = "7d3e5a1c9b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("active")


def upgrade() -> None:
    op.add_column(
        "prompts",
        sa.Column("active", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        op.f("ix_prompts_predictor"),
        "prompts",
        ["predictor"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    # The default FORM prompt is the champion until somebody activates another.
    prompts = sa.table("prompts", sa.column("id", sa.String), sa.column("active", sa.Boolean))
    op.execute(prompts.update().where(prompts.c.id == "base-prompt-v1.0").values(active=True))

    op.add_column("predictions", sa.Column("run_id", sa.String(length=40), nullable=True))
    op.create_index(op.f("ix_predictions_run_id"), "predictions", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_predictions_run_id"), table_name="predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("run_id")
    op.drop_index(op.f("ix_prompts_predictor"), table_name="prompts")
    with op.batch_alter_table("prompts") as batch:
        batch.drop_column("active")
