"""personnel register (执法人员): 执法证, 法律职业资格, training records, training reminders; notifications
without a task (training_due)

Revision ID: h11per00001
Revises: d9route00001
Create Date: 2026-12-02 17:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = "h11per00001"
down_revision = "h10doc00001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "personnel_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("cert_no", sa.String(length=32), nullable=True),
        sa.Column("cert_valid_from", sa.Date(), nullable=True),
        sa.Column("cert_valid_until", sa.Date(), nullable=True),
        sa.Column("area", sa.String(length=200), nullable=True),
        sa.Column("legal_cert_no", sa.String(length=64), nullable=True),
        sa.Column("legal_cert_date", sa.Date(), nullable=True),
        sa.Column("reviewer_since", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_personnel_records_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personnel_records")),
        sa.UniqueConstraint("user_id", name=op.f("uq_personnel_records_user_id")),
    )
    op.create_table(
        "personnel_training",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("course", sa.String(length=200), nullable=False),
        sa.Column("hours", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("organiser", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_personnel_training_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personnel_training")),
        sa.UniqueConstraint("user_id", "day", "course", name=op.f("uq_personnel_training_user_id")),
    )
    with op.batch_alter_table("personnel_training", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_personnel_training_user_id"), ["user_id"], unique=False)
    op.create_table(
        "personnel_training_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_personnel_training_reminders_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personnel_training_reminders")),
        sa.UniqueConstraint("user_id", "year", name=op.f("uq_personnel_training_reminders_user_id")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=36), nullable=True)
        batch_op.alter_column("instance_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("subject_user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_notifications_subject_user_id_users"), "users",
                                    ["subject_user_id"], ["id"])


def downgrade():
    op.execute("DELETE FROM notifications WHERE task_id IS NULL OR instance_id IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_notifications_subject_user_id_users"), type_="foreignkey")
        batch_op.drop_column("subject_user_id")
        batch_op.alter_column("instance_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("task_id", existing_type=sa.String(length=36), nullable=False)
    op.drop_table("personnel_training_reminders")
    with op.batch_alter_table("personnel_training", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personnel_training_user_id"))
    op.drop_table("personnel_training")
    op.drop_table("personnel_records")
