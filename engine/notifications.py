"""Notifications about tasks: deadlines (``due_soon``, ``overdue``, ``escalated``) for the assignee (or every
candidate while nobody claimed the task) and for the supervision officers of the justice bureau above the
task's unit; a task nobody can take (``unassigned``, 无人承接) for those supervision officers and the
administrators, who assign it; an assigned task (``assigned``) for whoever may now take it. One per task,
kind, user."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import N_, NotFound
from .limits import is_db_id
from .models import HumanTask, Notification, User
from .org import Directory

SUPERVISOR_ROLE = "supervision_officer"
ADMIN_ROLE = "admin"
# kinds only for whoever holds the task (or its candidates), not for the supervisors above: an assignment,
# a 催办 (the supervisor urged it), a withdrawal or cancellation of its case (engine.casework)
PERSONAL = frozenset({"assigned", "urged", "withdrawn", "cancelled"})


def recipients(directory: Directory, task: HumanTask, kind: str | None = None) -> list[tuple[User, str]]:
    people: list[tuple[User, str]] = []
    if task.claimed_by is not None:
        people.append((task.claimed_by, "assignee"))
    elif task.role_code and task.unit_id:
        people += [(u, "candidate") for u in directory.candidates(task.role_code, task.unit_id)]
    if task.unit is not None and kind not in PERSONAL:
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


def notify(session: Session, directory: Directory, task: HumanTask, kind: str, now: datetime) -> int:
    """Create the notifications of ``kind`` for ``task`` that do not exist yet; returns how many."""
    existing = set(session.scalars(select(Notification.user_id).where(
        Notification.task_id == task.id, Notification.kind == kind)))
    created = 0
    for user, audience in recipients(directory, task, kind):
        if user.id in existing:
            continue
        session.add(Notification(user_id=user.id, kind=kind, task_id=task.id, instance_id=task.instance_id,
                                 audience=audience, created_at=now))
        created += 1
    session.flush()
    return created


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
