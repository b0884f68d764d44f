"""accounts: city and address (the family's account update sets them); calls: index
(account_id, initiation_time) for GET .../Call/

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("city", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=1000), nullable=True))
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calls_account_initiated", ["account_id", "initiation_time"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_account_initiated")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("address")
        batch_op.drop_column("city")
