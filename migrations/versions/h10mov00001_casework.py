"""case work: search index (案件编号, 案件名称, 当事人), case endings (撤回/撤销), search indexes

Revision ID: h10mov00001
Revises: d9route00001
Create Date: 2026-12-02 17:30:00

"""
from alembic import op
import sqlalchemy as sa



revision = "h10mov00001"
down_revision = "h10not00001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_index",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("parties", sa.String(length=500), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_case_index_instance_id_process_instances")),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_case_index")),
    )
    op.create_index(op.f("ix_case_index_case_number"), "case_index", ["case_number"], unique=False)
    op.create_table(
        "case_endings",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_case_endings_actor_id_users")),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_case_endings_instance_id_process_instances")),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_case_endings")),
    )
    op.create_index("ix_process_instances_starter", "process_instances", ["started_by", "started_at"], unique=False)
    op.create_index("ix_process_instances_started_at", "process_instances", ["started_at"], unique=False)
    # cases started before this revision: their number, title and parties from the start's audit row
    bind = op.get_bind()
    import json
    rows = bind.execute(sa.text(
        "SELECT i.id, i.business_key, i.started_at, a.data FROM process_instances i LEFT JOIN audit_events a "
        "ON a.instance_id = i.id AND a.action = 'instance_started'")).fetchall()
    seen = set()
    for instance_id, business_key, started_at, data in rows:
        if instance_id in seen:
            continue
        seen.add(instance_id)
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = {}
        start = (data or {}).get("data") or (data or {}).get("payload") or {}
        start = start if isinstance(start, dict) else {}
        bind.execute(sa.text("INSERT INTO case_index (instance_id, case_number, title, parties, updated_at) "
                             "VALUES (:i, :n, :t, :p, :u)"),
                     {"i": instance_id, "n": (business_key or start.get("case_number") or None),
                      "t": str(start.get("case_title") or "")[:200] or None,
                      "p": str(start.get("parties") or "")[:500] or None, "u": started_at})


def downgrade():
    op.drop_index("ix_process_instances_started_at", table_name="process_instances")
    op.drop_index("ix_process_instances_starter", table_name="process_instances")
    op.drop_table("case_endings")
    op.drop_index(op.f("ix_case_index_case_number"), table_name="case_index")
    op.drop_table("case_index")
