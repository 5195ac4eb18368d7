"""The migrations build exactly the schema the models describe (the test database is built by them)."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from engine.models import Base
from web.extensions import db

EXPRESSION_INDEXES = {"ix_human_tasks_open_due"}     # not compared by autogenerate on SQLite: checked below


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_models_and_migrations_agree(ctx):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_the_partial_indexes_of_the_open_tasks_exist(ctx):
    catalog = ("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%status = ''open''%'"
               if db.engine.dialect.name == "sqlite" else
               "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%WHERE ((status)::text = ''open''%'")
    found = set(db.session.scalars(text(catalog)))
    assert EXPRESSION_INDEXES | {"ix_human_tasks_open_grid"} <= found, found
