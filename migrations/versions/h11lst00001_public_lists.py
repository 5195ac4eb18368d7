"""the six public lists (任务4): versions of each unit's lists

Revision ID: h11lst00001
Revises: d9route00001
Create Date: 2026-12-02 17:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = "h11lst00001"
down_revision = "h11per00001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "list_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("list_type", sa.String(length=32), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("returned_note", sa.Text(), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_list_versions_unit_id_org_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_versions")),
        sa.UniqueConstraint("unit_id", "list_type", "version_no", name=op.f("uq_list_versions_unit_id")),
    )
    with op.batch_alter_table("list_versions", schema=None) as batch_op:
        batch_op.create_index("ix_list_versions_lookup", ["unit_id", "list_type", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_versions_published_at"), ["published_at"], unique=False)


def downgrade():
    with op.batch_alter_table("list_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_versions_published_at"))
        batch_op.drop_index("ix_list_versions_lookup")
    op.drop_table("list_versions")
