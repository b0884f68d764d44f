"""accounts: city and address (the family's account update sets them); calls: index
(account_id, initiation_time) for GET .../Call/; numbers: number_type (the family's
filter), filled in for the numbers already there

Revision ID: 0004
Revises: 0003
"""

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
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
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number_type", sa.String(length=16), nullable=True))
    table = sa.table("numbers", sa.column("id"), sa.column("number"), sa.column("number_type"))
    conn = op.get_bind()
    for row in conn.execute(sa.select(table.c.id, table.c.number)).all():
        conn.execute(
            table.update().where(table.c.id == row.id).values(number_type=_type(row.number))
        )


# The family's number types, as domain.views.number_type gives them (written out here:
# a migration must not change when the code does).
_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "tollfree",
    phonenumbers.PhoneNumberType.FIXED_LINE: "local",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "local",
}


def _type(e164: str) -> str:
    try:
        return _TYPES.get(phonenumbers.number_type(phonenumbers.parse(e164)), "national")
    except phonenumbers.NumberParseException:
        return "national"


def downgrade() -> None:
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.drop_column("number_type")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_account_initiated")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("address")
        batch_op.drop_column("city")
