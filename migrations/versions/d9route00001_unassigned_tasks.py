"""unassigned tasks (无人承接, 待分派) and the area a unit serves (a 司法所's township)

Revision ID: d9route00001
Revises: g13prod00001
Create Date: 2026-12-09 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "d9route00001"
down_revision = "g13prod00001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unassigned", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("unassigned_reason", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_human_tasks_unassigned", ["status", "unassigned"], unique=False)
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("serves_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_org_units_serves_id_org_units"), "org_units", ["serves_id"], ["id"])


def downgrade():
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_org_units_serves_id_org_units"), type_="foreignkey")
        batch_op.drop_column("serves_id")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_human_tasks_unassigned")
        batch_op.drop_column("unassigned_reason")
        batch_op.drop_column("unassigned")
