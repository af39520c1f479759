"""each prediction's win probability per starter

Revision ID: 4f1c2b8e7a55
Revises: da2ae699e576
Create Date: 2026-12-03 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "4f1c2b8e7a55"
down_revision: str | None = "da2ae699e576"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # {"<gate>": probability}; null for predictions made before it and for the LLM's.
    op.add_column(
        "predictions",
        sa.Column(
            "win_probabilities",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    # Not a batch (copy and swap) on SQLite; SQLite drops columns since 3.35.
    op.execute("ALTER TABLE predictions DROP COLUMN win_probabilities")
