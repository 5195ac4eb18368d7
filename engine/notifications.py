"""Notifications about tasks: a new task (``new_task``) for every candidate (or its holder) when it is offered,
``supervision`` instead for a task marked ``notification="supervision"`` (a unit's 督办 reply), ``returned`` for the
person who already completed the same step of the case (sent back to them); deadlines (``due_soon``, ``overdue``, ``escalated``) for the assignee (or every
candidate while nobody claimed the task) and for the supervision officers of the justice bureau above the
task's unit; a task nobody can take (``unassigned``, 无人承接) for those supervision officers and the
administrators, who assign it; an assigned task (``assigned``) for whoever may now take it; ``urged`` (催办),
``withdrawn`` and ``cancelled`` for the holder and candidates of a task. One per task, kind, user.

A user who asked for e-mail (``User.email_notifications`` and an address) also gets an outbox row
(:class:`MailOutbox`) in the same transaction; the scheduler sends it after the commit (engine.mailer)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import literal_column, select
from sqlalchemy.orm import Session

from .errors import N_, NotFound
from .limits import is_db_id
from .models import HumanTask, MailOutbox, Notification, User
from .org import Directory

SUPERVISOR_ROLE = "supervision_officer"
ADMIN_ROLE = "admin"
# kinds told only to the people who may act on the task (not to the supervisors above it)
TASK_PEOPLE_ONLY = frozenset({"assigned", "new_task", "supervision", "returned", "urged", "withdrawn", "cancelled"})
KINDS = ("new_task", "supervision", "returned", "assigned", "due_soon", "overdue", "escalated", "unassigned",
         "urged", "withdrawn", "cancelled", "training_due")


def recipients(directory: Directory, task: HumanTask, kind: str | None = None) -> list[tuple[User, str]]:
    people: list[tuple[User, str]] = []
    if task.claimed_by is not None:
        people.append((task.claimed_by, "assignee"))
    elif task.role_code and task.unit_id:
        people += [(u, "candidate") for u in directory.candidates(task.role_code, task.unit_id)]
    if task.unit is not None and kind not in TASK_PEOPLE_ONLY:
        try:
            bureau = directory.justice_bureau_above(task.unit)
        except NotFound:
            bureau = None
        if bureau is not None:
            people += [(u, "supervisor") for u in directory.candidates(SUPERVISOR_ROLE, bureau.id)]
    if kind == "unassigned":
        people += [(u, "admin") for u in directory.users_with_role(ADMIN_ROLE)]
    seen, unique = set(), []
    for user, audience in people:
        if user.id not in seen:
            seen.add(user.id)
            unique.append((user, audience))
    return unique


def notify(session: Session, directory: Directory, task: HumanTask, kind: str, now: datetime, *,
           people: list[tuple[User, str]] | None = None, fresh: bool = False) -> int:
    """Create the notifications of ``kind`` for ``task`` that do not exist yet; returns how many.
    ``people`` (user, audience) replaces the usual recipients of the kind; ``fresh``: the task was created in
    this transaction, so it has no notifications yet."""
    if task.unit_id is None and task.unit is not None:
        session.flush()                 # a task added in this transaction with its unit, not yet its unit_id
    people = recipients(directory, task, kind) if people is None else people
    if not people:
        return 0
    existing = set() if fresh else set(session.scalars(select(Notification.user_id).where(
        Notification.task_id == task.id, Notification.kind == kind)))
    created = 0
    for user, audience in people:
        if user.id in existing:
            continue
        existing.add(user.id)
        note = Notification(user_id=user.id, kind=kind, task_id=task.id, instance_id=task.instance_id,
                            audience=audience, created_at=now)
        session.add(note)
        if user.email and user.email_notifications:
            session.add(MailOutbox(notification=note, user_id=user.id, address=user.email,
                                   created_at=now, next_attempt_at=now, status="pending", attempts=0))
        created += 1
    return created                      # written with the action's other changes (one flush)


def task_offered(session: Session, directory: Directory, task: HumanTask, now: datetime, *,
                 actor: str | None = None, kind: str = "new_task", fresh: bool = False,
                 earlier: bool = True, last_completers: dict[str, int] | None = None) -> int:
    """Tell the people who may take a task just offered: ``returned`` to whoever completed the same step of
    this case before (when they still may take it), ``kind`` (new_task, or supervision) to the others — not to
    ``actor``, whose own step offered it; a task offered already due soon or overdue tells that too.
    ``fresh``: the task was created in this transaction (no notifications yet); ``earlier`` False: its case
    was too (nobody completed a step of it before); ``last_completers``: who last completed each step of the
    case (element id -> user id), when the caller read it already."""
    if task.unassigned:
        return notify(session, directory, task, "unassigned", now, fresh=fresh)
    if last_completers is not None:
        before = last_completers.get(task.element_id)
    elif earlier:
        before = session.scalar(select(HumanTask.completed_by_id).where(
            HumanTask.instance_id == task.instance_id, HumanTask.element_id == task.element_id,
            HumanTask.id != task.id, HumanTask.status == "completed", HumanTask.completed_by_id.is_not(None))
            .order_by(HumanTask.completed_at.desc()).limit(1))
    else:
        before = None
    people = recipients(directory, task, kind)
    back = [(u, a) for u, a in people if u.id == before]
    created = notify(session, directory, task, "returned", now, people=back, fresh=fresh) if back else 0
    created += notify(session, directory, task, kind, now,
                      people=[(u, a) for u, a in people if u.id != before and u.username != actor], fresh=fresh)
    if task.sla_state in ("due_soon", "overdue"):
        created += notify(session, directory, task, task.sla_state, now, fresh=fresh)
    return created


# kinds that ask someone to act on the task: once the task is closed they are settled (read), so the bell counts
# only what still waits; withdrawn / cancelled, told after the task closed, stay unread until opened
ACTION_KINDS = ("new_task", "supervision", "returned", "assigned", "due_soon", "overdue", "escalated", "unassigned",
                "urged")


def calls_to_act():
    """The condition "the notification asks someone to act": its kind one of ACTION_KINDS, written into the
    statement's text (constants, so nothing is expanded into it at each run)."""
    return Notification.kind.in_([literal_column(f"'{kind}'") for kind in ACTION_KINDS])


def settle(session: Session, task_ids, now: datetime) -> None:
    """The tasks were completed or cancelled: their unread calls to act are marked read."""
    from sqlalchemy import update
    ids = [t for t in task_ids if t]
    if ids:
        session.execute(update(Notification).where(Notification.task_id.in_(ids), Notification.read_at.is_(None),
                                                   calls_to_act())
                        .values(read_at=now).execution_options(synchronize_session=False))


def unread_count(session: Session, user: User) -> int:
    from sqlalchemy import func
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def for_user(session: Session, user: User, unread_only: bool = False, limit: int = 100) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def mark_read(session: Session, user: User, notification_id: int, now: datetime) -> Notification:
    note = session.get(Notification, notification_id) if is_db_id(notification_id) else None
    if note is None or note.user_id != user.id:
        raise NotFound(N_("No such notification"))
    if note.read_at is None:
        note.read_at = now
        session.flush()
    return note
