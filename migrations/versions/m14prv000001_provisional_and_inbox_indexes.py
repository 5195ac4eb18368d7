"""the calendar banner's count of provisional deadlines reads two small partial indexes, not every task; the
inbox's 我的 and 待认领 tabs page along the user's own open tasks and the unclaimed ones of a role and unit

Revision ID: m14prv000001
Revises: l14rix000001
"""
import sqlalchemy as sa
from alembic import op

revision = "m14prv000001"
down_revision = "l14rix000001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_human_tasks_open_claimed", "human_tasks",
                    ["claimed_by_id", sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"], unique=False,
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
    op.create_index("ix_human_tasks_open_group", "human_tasks",
                    ["role_code", "unit_id", sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"], unique=False,
                    postgresql_where=sa.text("status = 'open' AND claimed_by_id IS NULL"),
                    sqlite_where=sa.text("status = 'open' AND claimed_by_id IS NULL"))
    op.create_index("ix_human_tasks_open_provisional", "human_tasks", ["due_at"], unique=False,
                    postgresql_where=sa.text("status = 'open' AND provisional IS true"),
                    sqlite_where=sa.text("status = 'open' AND provisional IS 1"))
    op.create_index("ix_timers_waiting_provisional", "timers", ["due_at"], unique=False,
                    postgresql_where=sa.text("status = 'waiting' AND provisional IS true"),
                    sqlite_where=sa.text("status = 'waiting' AND provisional IS 1"))


def downgrade():
    op.drop_index("ix_timers_waiting_provisional", table_name="timers")
    op.drop_index("ix_human_tasks_open_provisional", table_name="human_tasks")
    op.drop_index("ix_human_tasks_open_group", table_name="human_tasks")
    op.drop_index("ix_human_tasks_open_claimed", table_name="human_tasks")
