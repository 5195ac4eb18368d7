"""timers: index matching the claim query (status, due_at, id)

Revision ID: 7b2c1d9e4f10
Revises: e8fe50fd536c
Create Date: 2026-11-27 04:22:00

"""
from alembic import op

revision = "7b2c1d9e4f10"
down_revision = "e8fe50fd536c"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_due")
        batch_op.create_index("ix_timers_due", ["status", "due_at", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_due")
        batch_op.create_index("ix_timers_due", ["status", "due_at"], unique=False)
