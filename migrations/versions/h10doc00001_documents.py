"""official documents (文书): 文号 counters per unit/kind/year, the issued documents, units' short names

Revision ID: h10doc00001
Revises: d9route00001
Create Date: 2026-12-02 17:30:00

"""
from alembic import op
import sqlalchemy as sa



revision = "h10doc00001"
down_revision = "h10mov00001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("short_name", sa.String(length=16), nullable=True))
    op.create_table(
        "document_counters",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_document_counters_unit_id_org_units")),
        sa.PrimaryKeyConstraint("unit_id", "kind", "year", name=op.f("pk_document_counters")),
    )
    op.create_table(
        "issued_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("attachment_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("doc_number", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"],
                                name=op.f("fk_issued_documents_attachment_id_attachments")),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_issued_documents_instance_id_process_instances")),
        sa.ForeignKeyConstraint(["issued_by_id"], ["users.id"], name=op.f("fk_issued_documents_issued_by_id_users")),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_issued_documents_unit_id_org_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_documents")),
        sa.UniqueConstraint("attachment_id", name=op.f("uq_issued_documents_attachment_id")),
        sa.UniqueConstraint("unit_id", "kind", "year", "number", name=op.f("uq_issued_documents_unit_id")),
    )
    op.create_index(op.f("ix_issued_documents_instance_id"), "issued_documents", ["instance_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_issued_documents_instance_id"), table_name="issued_documents")
    op.drop_table("issued_documents")
    op.drop_table("document_counters")
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.drop_column("short_name")
