"""Database tables of the engine. Plain SQLAlchemy declarative models; the web app binds them via
Flask-SQLAlchemy (``SQLAlchemy(model_class=Base)``) and Alembic migrates them."""
from __future__ import annotations

from contextlib import nullcontext
from datetime import date, datetime, timezone
from itertools import chain

from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData, String,
                        Text, TypeDecorator, UniqueConstraint, event, false, select, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def reading_reference(session, *kinds: type):
    """For a read of reference data (the organisation, the holiday table) in the middle of an action: it does
    not depend on the tasks, audit rows and notifications the action has pending, so it need not write them
    first (autoflush) — the action writes them once, at its end. Unless objects of ``kinds`` (what the read
    reads) are pending too: then they are written first, as always."""
    if any(isinstance(obj, kinds) for obj in chain(session.new, session.dirty)):
        return nullcontext()
    return session.no_autoflush


# --- organisation -------------------------------------------------------------------------------

class OrgUnit(Base):
    __tablename__ = "org_units"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16))           # city / county / township
    kind: Mapped[str] = mapped_column(String(32))           # justice_bureau, enforcement_dept, ...
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    # the government whose area the unit serves when that is not its parent's: a 司法所 sits under the county
    # justice bureau and serves one township
    serves_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # the unit's short name in the 文号 of the documents it issues (固司 in 固司审〔2026〕12号); derived from the
    # name when unset (engine.documents.unit_prefix)
    short_name: Mapped[str | None] = mapped_column(String(16))
    parent: Mapped["OrgUnit | None"] = relationship(remote_side="OrgUnit.id", foreign_keys=[parent_id], lazy="select")


class Role(Base):
    __tablename__ = "roles"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # raised on sign-out and password change: sessions signed in under an older value are no longer valid
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # notifications also by e-mail (when the platform has an SMTP server): the user's own choice
    email: Mapped[str | None] = mapped_column(String(254))
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    unit: Mapped[OrgUnit] = relationship(lazy="joined")
    roles: Mapped[list["RoleAssignment"]] = relationship(back_populates="user", lazy="selectin",
                                                         cascade="all, delete-orphan")


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "role_code", "unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role_code: Mapped[str] = mapped_column(ForeignKey("roles.code"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Base):
    """An API token of a user; only its sha256 is stored. Expired or revoked tokens authenticate nobody."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    user: Mapped[User] = relationship(lazy="joined")


class Holiday(Base):
    """One calendar day that differs from the Monday-Friday rule, or a day confirmed as normal.

    ``is_workday`` True on a weekend = 调休 make-up day; False on a weekday = public holiday."""

    __tablename__ = "holidays"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), default="chinesecalendar")


class CalendarYear(Base):
    """A year whose holidays are known (seeded or entered by an administrator)."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))


# --- repository ---------------------------------------------------------------------------------

class Deployment(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    files: Mapped[list["DeploymentFile"]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class DeploymentFile(Base):
    __tablename__ = "deployment_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)


class ProcessDefinition(Base):
    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)   # serialized spec + subprocess specs, once
    start_messages: Mapped[list] = mapped_column(JSON, default=list)
    timer_start: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")   # started by a timer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployment: Mapped[Deployment] = relationship(lazy="select")


# --- runtime ------------------------------------------------------------------------------------

class ProcessInstance(Base):
    __tablename__ = "process_instances"
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(128), index=True)
    business_key: Mapped[str | None] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)   # running / completed / terminated
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    started_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(Text, deferred=True)   # SpiffWorkflow state without the spec
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    definition: Mapped[ProcessDefinition] = relationship(lazy="select")
    unit: Mapped[OrgUnit | None] = relationship(lazy="joined")
    __mapper_args__ = {"version_id_col": version}
    # case search (engine.casework): 我发起的 and the newest first
    __table_args__ = (Index("ix_process_instances_starter", "started_by", "started_at"),
                      Index("ix_process_instances_started_at", "started_at"))


class HumanTask(Base):
    __tablename__ = "human_tasks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)          # SpiffWorkflow task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    # the case's procedure (ProcessInstance.process_key, which never changes): counted and filtered by the
    # dashboard and the inbox without joining the cases; filled from the case when not given (see below)
    process_key: Mapped[str | None] = mapped_column(String(128))
    element_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))    # what this occurrence is about (property)
    role_code: Mapped[str | None] = mapped_column(String(32))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    form_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))   # open / completed / cancelled
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))      # ix_human_tasks_claimed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla: Mapped[str | None] = mapped_column(String(64))                    # as written in the model
    sla_state: Mapped[str] = mapped_column(String(16), default="on_time", server_default="on_time")  # on_time/due_soon/overdue/escalated
    # due_at or remind_at was counted over a year the holiday table lacks (暂定); recomputed when it is entered
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))   # 已办: ix_human_tasks_done
    # 无人承接: when the task was offered, nobody active held its role at its unit (or it has no role); it waits
    # in the 待分派 queue of the justice bureau above its unit until someone assigns it
    unassigned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    unassigned_reason: Mapped[str | None] = mapped_column(String(16))     # no_holder / no_role / no_unit
    instance: Mapped[ProcessInstance] = relationship(lazy="joined")
    unit: Mapped[OrgUnit | None] = relationship(lazy="joined")
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id], lazy="joined")
    __table_args__ = (Index("ix_human_tasks_inbox", "status", "role_code", "unit_id"),
                      Index("ix_human_tasks_sla", "status", "sla_state", "due_at"),
                      Index("ix_human_tasks_unassigned", "status", "unassigned"),
                      # dashboard: the days at the edges of a handling-time window (engine.analytics.rollups)
                      Index("ix_human_tasks_created_at", "created_at"),
                      # my tasks (open ones, soonest due first) and 已办 (newest first): the user's rows only
                      Index("ix_human_tasks_claimed", "claimed_by_id", "status", "due_at"),
                      Index("ix_human_tasks_done", "completed_by_id", "status", "completed_at"),
                      # the dashboard's one pass over the open tasks reads this index alone (every column it counts;
                      # the state too, which its sums name)
                      Index("ix_human_tasks_open_grid", "unit_id", "process_key", "due_at", "remind_at", "sla_state",
                            "unassigned", "status", postgresql_where=text("status = 'open'"),
                            sqlite_where=text("status = 'open'")),
                      # the dashboard's overdue list, a page at a time: the open tasks in its order (soonest due)
                      Index("ix_human_tasks_open_due", text("(due_at IS NULL)"), "due_at", "created_at", "id",
                            postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
                      # the inbox's 我的 tab (the page everyone opens first), a page at a time in the same order:
                      # a range of the user's own open tasks, not a walk along every open task's deadline
                      Index("ix_human_tasks_open_claimed", "claimed_by_id", text("(due_at IS NULL)"), "due_at",
                            "created_at", "id", postgresql_where=text("status = 'open'"),
                            sqlite_where=text("status = 'open'")),
                      # … and 待认领 (and the tasks to claim among 即将到期 / 已逾期): per role and unit, unclaimed
                      Index("ix_human_tasks_open_group", "role_code", "unit_id", text("(due_at IS NULL)"), "due_at",
                            "created_at", "id",
                            postgresql_where=text("status = 'open' AND claimed_by_id IS NULL"),
                            sqlite_where=text("status = 'open' AND claimed_by_id IS NULL")),
                      # the calendar banner's count of provisional deadlines (every page a supervisor opens in
                      # December): the few open tasks whose deadline is provisional, not a scan of every task
                      Index("ix_human_tasks_open_provisional", "due_at",
                            postgresql_where=text("status = 'open' AND provisional IS true"),
                            sqlite_where=text("status = 'open' AND provisional IS 1")))


@event.listens_for(HumanTask, "before_insert")
def _task_procedure(mapper, connection, task: HumanTask) -> None:
    """A task row written without its procedure (the runtime gives it) takes its case's."""
    if task.process_key is None:
        case = task.__dict__.get("instance")
        task.process_key = case.process_key if case is not None else connection.scalar(
            select(ProcessInstance.process_key).where(ProcessInstance.id == task.instance_id))


class Timer(Base):
    __tablename__ = "timers"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(128))
    human_task_id: Mapped[str | None] = mapped_column(String(36))   # the task a boundary timer is attached to
    sla_event: Mapped[str | None] = mapped_column(String(16))       # "escalation" marks the attached task
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))     # waiting / fired / cancelled
    # due_at was counted over a year the holiday table lacks (暂定); recomputed when it is entered
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failures while firing (Camunda's job retries and incidents): each failed attempt counts, the row is not
    # claimed again before ``next_attempt_at`` (backoff); after the last attempt ``incident_at`` is set and
    # the row waits for an administrator (retry or cancel). An open incident = waiting with ``incident_at``.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[dict | None] = mapped_column(JSON)               # {msgid, params, detail}
    last_error_class: Mapped[str | None] = mapped_column(String(128))
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    incident_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    instance: Mapped[ProcessInstance] = relationship(lazy="select")
    __table_args__ = (Index("ix_timers_due", "status", "due_at", "id"),    # the claim query's order
                      # the calendar banner's count of provisional deadlines
                      Index("ix_timers_waiting_provisional", "due_at",
                            postgresql_where=text("status = 'waiting' AND provisional IS true"),
                            sqlite_where=text("status = 'waiting' AND provisional IS 1")))


class ProvisionalValue(Base):
    """Where a provisional deadline of a running instance went, and how to compute it again (DOMAIN §6).

    ``slot`` is ``data:<variable>`` (a case-data variable, e.g. review_deadline), ``timer:<task id>`` (a
    waiting timer's value in the workflow state and its Timer row), ``task:<task id>:due`` or
    ``task:<task id>:remind`` (a human task's deadline or reminder); ``value`` the ISO text it holds;
    ``recipe`` how it was computed (engine.sla.recompute). Rows go when the year is entered or the instance
    ends."""

    __tablename__ = "provisional_values"
    __table_args__ = (UniqueConstraint("instance_id", "slot", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    slot: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(64))
    recipe: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SchedulerHeartbeat(Base):
    """When each scheduler process (by name, e.g. its host) last ran a tick, and last ran one without a
    database error; /api/health reads it from the web process."""

    __tablename__ = "scheduler_heartbeats"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_tick_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MessageSubscription(Base):
    """An instance waiting for a message with these correlation values."""

    __tablename__ = "message_subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    message_name: Mapped[str] = mapped_column(String(128))
    correlation: Mapped[str] = mapped_column(String(512))       # canonical JSON of correlation values
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_message_subscriptions_match", "message_name", "correlation"),)


class PendingMessage(Base):
    """A thrown message nobody was waiting for yet; delivered when a matching subscription appears."""

    __tablename__ = "pending_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_name: Mapped[str] = mapped_column(String(128))
    correlation: Mapped[str] = mapped_column(String(512))
    event_json: Mapped[str] = mapped_column(Text)
    from_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_to_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_pending_messages_match", "message_name", "correlation", "delivered_at"),)


class Notification(Base):
    """A reminder, overdue or escalation notice for one user about one task; created once per kind."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("task_id", "kind", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))          # engine.notifications.KINDS
    # training_due: a reviewer below the yearly training hours (no task; ``subject_user_id`` is the reviewer)
    task_id: Mapped[str | None] = mapped_column(String(36))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    audience: Mapped[str] = mapped_column(String(16))      # assignee / candidate / supervisor / admin
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    task: Mapped[HumanTask | None] = relationship(primaryjoin="foreign(Notification.task_id) == HumanTask.id",
                                                  lazy="joined")
    subject_user: Mapped[User | None] = relationship(foreign_keys=[subject_user_id], lazy="joined")


class MailOutbox(Base):
    """A notification to send by e-mail: written in the transaction that made the notification, sent by the
    scheduler after the commit (engine.mailer), retried with backoff; ``status`` pending / sent / failed."""

    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    address: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    notification: Mapped[Notification] = relationship(lazy="joined")
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    author: Mapped[User] = relationship(lazy="joined")


class Attachment(Base):
    """A file of a case; its bytes are kept once per content under ``sha256`` (engine.attachments.BlobStore:
    table ``attachment_blobs`` or a folder outside the web root); the row is the index."""

    __tablename__ = "attachments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    uploaded_by: Mapped[User] = relationship(lazy="joined")


class AttachmentBlob(Base):
    """The bytes of attachments when they are kept in the database (ATTACHMENT_STORAGE=database): once per
    content, keyed by sha256, so every app node serves what any node received."""

    __tablename__ = "attachment_blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DocumentCounter(Base):
    """The last 文号 number a unit gave to one kind of document in one year. Taken with the row locked
    (SELECT … FOR UPDATE on PostgreSQL; SQLite's write transaction serialises) in the transaction of the
    step that issues the document, so numbers are consecutive and a rolled-back step consumes none."""

    __tablename__ = "document_counters"
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class IssuedDocument(Base):
    """An official document (文书) a step issued: its 文号 and the PDF (an attachment of the case)."""

    __tablename__ = "issued_documents"
    __table_args__ = (UniqueConstraint("unit_id", "kind", "year", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    doc_number: Mapped[str] = mapped_column(String(64))          # 固司审〔2026〕12号
    title: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    attachment: Mapped[Attachment] = relationship(lazy="joined")
    unit: Mapped[OrgUnit] = relationship(lazy="joined")


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    __table_args__ = (Index("ix_login_attempts_user_at", "username", "at"),
                      Index("ix_login_attempts_addr_at", "remote_addr", "at"))


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` for starting a case: the same key from the same user starts nothing new
    and answers with the case it started the first time (a retry after a lost answer)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))       # sha256 of the request it answered
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- history ------------------------------------------------------------------------------------

class AuditEvent(Base):
    """Append-only. Each stream (one per instance, plus ``system``) is a hash chain: ``hash`` covers the
    row's content and ``prev_hash``; (stream, seq) is unique so two writers cannot fork a chain."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("stream", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# --- case work: search index, withdrawal and cancellation (engine.casework) -------------------------------

class CaseIndex(Base):
    """What staff search a case by, copied from the case data whenever the instance is saved: its number,
    title (案件名称) and parties (当事人). One row per instance."""

    __tablename__ = "case_index"
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), primary_key=True)
    case_number: Mapped[str | None] = mapped_column(String(128), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    parties: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseEnding(Base):
    """Why a case ended before its procedure did: withdrawn (撤回) by its starter or cancelled (撤销) by an
    authorised officer; by whom, when, with which reason. The case stays readable."""

    __tablename__ = "case_endings"
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))          # withdrawn / cancelled
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[User] = relationship(lazy="joined")
from .registers import personnel_models  # noqa: E402,F401  (the register's tables share this metadata)
from .registers.lists_models import ListVersion  # noqa: E402,F401  (the public lists' table, same Base)
# --- registers (engine/registers/): their tables share this Base ----------------------------------
from .registers import oversight_models as _oversight_models  # noqa: E402,F401
# --- registers and analytics (their own modules; imported here so Base knows every table) -----------------
from .registers import contact_point_models as _contact_point_models  # noqa: E402,F401
from .analytics import assessment_models as _assessment_models  # noqa: E402,F401
from .analytics import rollups as _rollups  # noqa: E402,F401
