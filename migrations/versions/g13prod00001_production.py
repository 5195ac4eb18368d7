"""production shape: attachment bytes in the database (attachment_blobs)

Revision ID: g13prod00001
Revises: e9cal000001
Create Date: 2026-12-02 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "g13prod00001"
down_revision = "e9cal000001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "attachment_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_attachment_blobs")),
    )


def downgrade():
    op.drop_table("attachment_blobs")
