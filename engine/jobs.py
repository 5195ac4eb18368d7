"""Making time move: fire due timers and advance SLA states.

Each unit of work is one transaction that the loop commits: claim a due timer row (on PostgreSQL with
``FOR UPDATE SKIP LOCKED``, also locking its instance row, so several schedulers never work on the same
instance at once), load the instance, refresh its timers, run engine steps, save. A row already fired, or a
timer no longer waiting, is a no-op. A crash rolls the transaction back; the row stays due and the next
run fires it — the row is the truth, not the scheduler's memory."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import history
from .errors import N_, Conflict, EngineError
from .models import CalendarYear, HumanTask, ProcessInstance, Timer
from .notifications import notify
from .org import Directory
from .runtime import Runtime
from .sla import state_at

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    fired_instances: int = 0
    conflicts: int = 0
    failures: int = 0
    sla_changes: int = 0
    notifications: int = 0
    skipped: set = field(default_factory=set)


def _locking(session: Session, stmt, model):
    """Row locks that other schedulers skip (PostgreSQL); SQLite serializes writers by itself."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True, of=model)
    return stmt


def _claim_due_timer(session: Session, now: datetime, skip: set[int]) -> Timer | None:
    stmt = select(Timer).where(Timer.status == "waiting", Timer.due_at <= now)
    if skip:
        stmt = stmt.where(Timer.id.not_in(skip))
    return session.scalars(_locking(session, stmt.order_by(Timer.due_at, Timer.id).limit(1), Timer)).first()


def fire_one(session: Session, clock, report: RunReport) -> bool:
    """Fire the due timers of one instance in the caller's transaction. Returns False when nothing is due."""
    now = clock.now()
    row = _claim_due_timer(session, now, report.skipped)
    if row is None:
        return False
    report.skipped.add(row.id)     # never claim the same row twice in one run, whatever happens below
    instance = session.scalars(_locking(session, select(ProcessInstance).where(
        ProcessInstance.id == row.instance_id), ProcessInstance)).first()
    if instance is None:           # another scheduler holds the instance right now; it fires this row too
        return True
    if instance.status != "running":
        row.status = "cancelled"
        return True
    runtime = Runtime(session, clock)
    runtime.advance(instance, runtime.load(instance), actor="timer", fire_timers=True)
    report.fired_instances += 1
    return True


def run_due_timers(session: Session, clock, batch_size: int = 100) -> RunReport:
    """Fire up to ``batch_size`` instances' due timers, one committed transaction each."""
    report = RunReport()
    for _ in range(batch_size):
        try:
            more = fire_one(session, clock, report)
            session.commit()
        except (Conflict, StaleDataError, IntegrityError):
            session.rollback()         # a user or another scheduler changed the instance first; retried later
            report.conflicts += 1
            continue
        except OperationalError:
            session.rollback()
            raise
        except EngineError as exc:     # the process itself fails after the timer: keep the row, tell someone
            session.rollback()
            report.failures += 1
            log.error("timer of instance failed: %s", exc.message)
            continue
        if not more:
            break
    return report


def sweep_sla(session: Session, clock, batch_size: int = 500) -> RunReport:
    """Move open tasks on_time → due_soon → overdue as time passes; notify once per change."""
    report = RunReport()
    now = clock.now()
    directory = Directory(session)
    stmt = select(HumanTask).where(HumanTask.status == "open", or_(
        and_(HumanTask.sla_state.in_(("on_time", "due_soon")), HumanTask.due_at < now),
        and_(HumanTask.sla_state == "on_time", HumanTask.remind_at <= now))).order_by(HumanTask.due_at)
    for task in session.scalars(_locking(session, stmt.limit(batch_size), HumanTask)).all():
        new = state_at(now, task.due_at, task.remind_at, task.sla_state)
        if new == task.sla_state:
            continue
        task.sla_state = new
        report.sla_changes += 1
        report.notifications += notify(session, directory, task, new, now)
        history.record(session, now, f"task_{new}", actor="timer", instance_id=task.instance_id, task_id=task.id,
                       data={"element_id": task.element_id, "name": task.name,
                             "due_at": task.due_at.isoformat() if task.due_at else None})
    session.commit()
    return report


def calendar_warning(session: Session, today: date) -> tuple[str, dict] | None:
    """From 1 December on, warn when next year's holidays are not in the calendar yet.
    Returns (message id, parameters) or None."""
    for year in ((today.year + 1,) if today.month == 12 else ()) + (today.year,):
        if session.get(CalendarYear, year) is None:
            return (N_("The working-day calendar has no data for %(year)s: enter that year's State Council "
                       "holiday notice"), {"year": year})
    return None
