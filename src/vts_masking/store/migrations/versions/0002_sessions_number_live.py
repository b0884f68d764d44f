"""sessions: index (number_id, status, expiry_time) for routing lookups

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_number")
        batch_op.create_index(
            "ix_sessions_number_live", ["number_id", "status", "expiry_time"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_number_live")
        batch_op.create_index("ix_sessions_number", ["number_id", "status"], unique=False)
