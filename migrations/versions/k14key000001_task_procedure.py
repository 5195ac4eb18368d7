"""human tasks carry their case's procedure, so the dashboard counts and the inbox filter need no join

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


def downgrade():
    with op.batch_alter_table("human_tasks") as batch:
        batch.drop_column("process_key")
