"""human tasks carry their case's procedure, so the dashboard counts and the inbox filter need no join; the
dashboard's count over the open tasks reads one partial index, its overdue list pages along another

Revision ID: k14key000001
Revises: j14rol000001
"""
import sqlalchemy as sa
from alembic import op

revision = "k14key000001"
down_revision = "j14rol000001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("human_tasks") as batch:
        batch.add_column(sa.Column("process_key", sa.String(length=128), nullable=True))
    op.execute("UPDATE human_tasks SET process_key = (SELECT p.process_key FROM process_instances p "
               "WHERE p.id = human_tasks.instance_id)")
    op.create_index("ix_human_tasks_open_grid", "human_tasks",
                    ["unit_id", "process_key", "due_at", "remind_at", "sla_state", "unassigned", "status"],
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
    op.create_index("ix_human_tasks_open_due", "human_tasks",
                    [sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"],
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))


def downgrade():
    op.drop_index("ix_human_tasks_open_due", table_name="human_tasks")
    op.drop_index("ix_human_tasks_open_grid", table_name="human_tasks")
    with op.batch_alter_table("human_tasks") as batch:
        batch.drop_column("process_key")
