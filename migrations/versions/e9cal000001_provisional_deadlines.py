"""provisional deadlines: flags on human tasks and timers, and where provisional values went

Revision ID: e9cal000001
Revises: c15idem00001
Create Date: 2026-12-02 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "e9cal000001"
down_revision = "c15idem00001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provisional", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provisional", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "provisional_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("recipe", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_provisional_values_instance_id_process_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisional_values")),
        sa.UniqueConstraint("instance_id", "slot", "value", name=op.f("uq_provisional_values_instance_id")),
    )
    with op.batch_alter_table("provisional_values", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provisional_values_instance_id"), ["instance_id"], unique=False)


def downgrade():
    with op.batch_alter_table("provisional_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provisional_values_instance_id"))
    op.drop_table("provisional_values")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_column("provisional")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_column("provisional")
