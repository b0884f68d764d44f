"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from vts_masking.store.db import make_engine, migrate
from vts_masking.store.models import metadata


def test_migrations_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1)
    migrate(engine)
    migrate(engine)  # idempotent: a second start changes nothing
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()


def test_the_number_type_is_filled_in_for_numbers_added_before_it(db_url: str) -> None:
    from datetime import datetime

    import sqlalchemy as sa
    from alembic import command

    from vts_masking.store.db import alembic_config

    engine = make_engine(db_url, pool_size=1)
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        now = datetime(2026, 1, 1)
        conn.exec_driver_sql(
            "INSERT INTO accounts (id, auth_id, auth_token, name, enabled, deleted,"
            " created_time, modified_time) VALUES (1, 'MA000000000000000001', 't', 'a',"
            " true, false, '2026-01-01', '2026-01-01')"
        )
        for n, number in enumerate(("+12202000001", "+18005550199"), start=1):
            conn.execute(
                sa.text(
                    "INSERT INTO numbers (id, number, account_id, pool_id, country, state,"
                    " spread, added_time, modified_time) VALUES (:id, :n, 1, 1, 'US',"
                    " 'in_service', 0.5, :t, :t)"
                ),
                {"id": n, "n": number, "t": now},
            )
        command.upgrade(cfg, "head")
        kinds = dict(conn.exec_driver_sql("SELECT number, number_type FROM numbers").all())
        conn.commit()
    engine.dispose()
    assert kinds == {"+12202000001": "local", "+18005550199": "tollfree"}
