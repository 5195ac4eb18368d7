"""the handling-time rollup by span and month: the dashboard reads this year's year rows, not the whole table

Revision ID: l14rix000001
Revises: k14key000001
"""
from alembic import op

revision = "l14rix000001"
down_revision = "k14key000001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_handling_rollups_span_month", "handling_rollups", ["span", "month"], unique=False)


def downgrade():
    op.drop_index("ix_handling_rollups_span_month", table_name="handling_rollups")
