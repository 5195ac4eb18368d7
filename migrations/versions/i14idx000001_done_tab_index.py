"""an index for the 已办 tab and /api/tasks: human tasks by who completed them

Revision ID: i14idx000001
Revises: h12ass00001
"""
from alembic import op

revision = "i14idx000001"
down_revision = "h12ass00001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f("ix_human_tasks_completed_by_id"), "human_tasks", ["completed_by_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_human_tasks_completed_by_id"), table_name="human_tasks")
