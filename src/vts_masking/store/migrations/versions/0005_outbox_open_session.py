"""outbox: partial index (session_id, seq) over open events, for the claim's order check

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN_EVENTS = "session_id IS NOT NULL AND status IN ('pending', 'delivering')"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_open_session",
        "outbox",
        ["session_id", "seq"],
        unique=False,
        postgresql_where=sa.text(OPEN_EVENTS),
        sqlite_where=sa.text(OPEN_EVENTS),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_open_session", table_name="outbox")
