"""handling-time rollup (engine.analytics.rollups) filled from the completed human tasks; human tasks by offer
time, by claimant and by completer with their state

Revision ID: j14rol000001
Revises: i14idx000001
"""
import sqlalchemy as sa
from alembic import op

revision = "j14rol000001"
down_revision = "i14idx000001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "handling_rollups",
        sa.Column("process_key", sa.String(length=128), nullable=False),
        sa.Column("element_id", sa.String(length=128), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("span", sa.String(length=1), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("process_key", "element_id", "unit_id", "span", "month",
                                name=op.f("pk_handling_rollups")),
    )
    op.create_index("ix_human_tasks_created_at", "human_tasks", ["created_at"], unique=False)
    # a user's own rows by state: 我的 (claimed, open, by due time) and 已办 (completed by, newest first); the
    # single-column indexes they replace are prefixes of them
    op.create_index("ix_human_tasks_claimed", "human_tasks", ["claimed_by_id", "status", "due_at"], unique=False)
    op.create_index("ix_human_tasks_done", "human_tasks", ["completed_by_id", "status", "completed_at"], unique=False)
    op.drop_index("ix_human_tasks_claimed_by_id", table_name="human_tasks")
    op.drop_index("ix_human_tasks_completed_by_id", table_name="human_tasks")
    # backfill: existing completed tasks (the same as `flask rollups rebuild`; it uses the application's
    # rollup code, which this revision's table shape matches)
    from sqlalchemy.orm import Session
    from engine.analytics.rollups import rebuild
    session = Session(bind=op.get_bind())
    rebuild(session)
    session.flush()


def downgrade():
    op.create_index("ix_human_tasks_completed_by_id", "human_tasks", ["completed_by_id"], unique=False)
    op.create_index("ix_human_tasks_claimed_by_id", "human_tasks", ["claimed_by_id"], unique=False)
    op.drop_index("ix_human_tasks_done", table_name="human_tasks")
    op.drop_index("ix_human_tasks_claimed", table_name="human_tasks")
    op.drop_index("ix_human_tasks_created_at", table_name="human_tasks")
    op.drop_table("handling_rollups")
