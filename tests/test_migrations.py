"""The migrations build exactly the schema the models describe (the test database is built by them)."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.models import Base
from web.extensions import db


def test_models_and_migrations_agree(ctx):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
