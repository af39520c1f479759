"""race collection error

Revision ID: dee09be24b4f
Revises: 7573119d301e
Create Date: 2026-12-03 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dee09be24b4f"
down_revision: str | None = "7573119d301e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Why the last collection of a race failed; cleared when it is collected.
    op.add_column("races", sa.Column("collection_error", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("races", "collection_error")
