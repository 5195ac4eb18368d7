"""timer attempts, backoff and incidents; scheduler heartbeats

Revision ID: b15sch000001
Revises: a15acc000001
Create Date: 2026-12-05 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b15sch000001'
down_revision = "a15acc000001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('last_error_class', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('first_failed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_failed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('incident_at', sa.DateTime(), nullable=True))

    op.create_table('scheduler_heartbeats',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('last_tick_at', sa.DateTime(), nullable=False),
    sa.Column('last_ok_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_heartbeats'))
    )


def downgrade():
    op.drop_table('scheduler_heartbeats')
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_column('incident_at')
        batch_op.drop_column('last_failed_at')
        batch_op.drop_column('first_failed_at')
        batch_op.drop_column('last_error_class')
        batch_op.drop_column('last_error')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
