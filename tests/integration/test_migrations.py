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
