"""Making time move: fire due timers and advance SLA states.

Each unit of work is one transaction that the loop commits: claim a due timer row (on PostgreSQL with
``FOR UPDATE SKIP LOCKED``, also locking its instance row, so several schedulers never work on the same
instance at once), load the instance, refresh its timers, run engine steps, save. A row already fired, or a
timer no longer waiting, is a no-op. A crash rolls the transaction back; the row stays due and the next
run fires it — the row is the truth, not the scheduler's memory.

A failing instance never blocks the others (Camunda's job retries and incidents): whatever it raises, its
transaction is rolled back and the failure is written to its timer row in a fresh small transaction —
attempts, last error, and the next attempt after a backoff (1, 2, 4 … minutes, capped); after
``max_attempts`` the row becomes an incident (``incident_at``) that is not claimed again until an
administrator retries or cancels it (engine.incidents). Only database errors (OperationalError: the
database is down or unreachable) end the run: they say nothing about the instance."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import history, incidents
from .errors import N_, Conflict, EngineError
from .models import CalendarYear, HumanTask, ProcessInstance, SchedulerHeartbeat, Timer
from .notifications import notify
from .org import Directory
from .runtime import Runtime
from .sla import state_at

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 3
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
_DETAIL_CHARS = 500
_PARAM_CHARS = 200


@dataclass
class RunReport:
    claimed: int = 0
    fired_instances: int = 0
    conflicts: int = 0
    failures: int = 0
    incidents: int = 0
    sla_changes: int = 0
    notifications: int = 0
    skipped: set = field(default_factory=set)
    last_claimed: int | None = None
    last_instance: int | None = None    # the instance of the row claimed last
    last_fired: bool = False            # whether that row fired
    ok: bool = True                 # False when a database error ended the run


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing timer is tried (``max_attempts``) and how long to wait between attempts:
    ``base`` doubled after each failure, at most ``cap``."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: timedelta = RETRY_BASE
    cap: timedelta = RETRY_CAP

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failure: base, 2×base, 4×base … capped."""
        return min(self.base * 2 ** min(max(attempts - 1, 0), 30), self.cap)


def _locking(session: Session, stmt, model):
    """Row locks that other schedulers skip (PostgreSQL); SQLite serializes writers by itself."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True, of=model)
    return stmt


def _claim_due_timer(session: Session, now: datetime, skip: set[int]) -> Timer | None:
    stmt = select(Timer).where(Timer.status == "waiting", Timer.due_at <= now, Timer.incident_at.is_(None),
                               or_(Timer.next_attempt_at.is_(None), Timer.next_attempt_at <= now))
    if skip:
        stmt = stmt.where(Timer.id.not_in(skip))
    return session.scalars(_locking(session, stmt.order_by(Timer.due_at, Timer.id).limit(1), Timer)).first()


def _fire(session: Session, clock, row: Timer, report: RunReport, reviewer_rule=None) -> None:
    """Fire the due timers of the claimed row's instance in the caller's transaction."""
    instance = session.scalars(_locking(session, select(ProcessInstance).where(
        ProcessInstance.id == row.instance_id), ProcessInstance)).first()
    if instance is None:           # another scheduler holds the instance right now; it fires this row too
        return
    if instance.status != "running":
        row.status = "cancelled"
        return
    runtime = Runtime(session, clock, reviewer_rule=reviewer_rule)
    runtime.advance(instance, runtime.load(instance), actor="timer", fire_timers=True)
    report.fired_instances += 1
    report.last_fired = row.status == "fired"


def fire_one(session: Session, clock, report: RunReport, reviewer_rule=None) -> bool:
    """Fire the due timers of one instance in the caller's transaction. Returns False when nothing is due."""
    row = _claim_due_timer(session, clock.now(), report.skipped)
    if row is None:
        return False
    report.skipped.add(row.id)     # never claim the same row twice in one run, whatever happens below
    report.last_claimed, report.last_instance = row.id, row.instance_id
    report.claimed += 1
    _fire(session, clock, row, report, reviewer_rule)
    return True


def describe_failure(exc: BaseException) -> tuple[dict, str]:
    """What went wrong, for the timer row: ({msgid, params, detail}, exception class). The message id is
    translated where it is shown; ``detail`` is the technical text (truncated) for the log and the API."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    try:
        text = str(exc)
    except Exception:                      # an exception whose message itself fails
        text = ""
    detail = f"{cls.__name__}: {text}"[:_DETAIL_CHARS]
    if isinstance(exc, EngineError):
        msgid, params = exc.msgid, {k: str(v)[:_PARAM_CHARS] for k, v in exc.params.items()}
    elif isinstance(exc, RecursionError):
        msgid, params = N_("The case data is nested too deeply to be processed"), {}
    elif isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        msgid, params = N_("The stored state of the case is damaged and cannot be read"), {}
    else:
        msgid, params = N_("The workflow engine could not process this case (unexpected error)"), {}
    return {"msgid": msgid, "params": params, "detail": detail}, name[-128:]


def record_failure(session: Session, clock, timer_id: int, exc: BaseException, policy: RetryPolicy) -> bool:
    """Count a failed attempt on the timer row, in its own committed transaction; after the last attempt the
    row becomes an incident. Returns True when it did."""
    now = clock.now()
    row = session.scalars(_locking(session, select(Timer).where(Timer.id == timer_id), Timer)).first()
    if (row is None or row.status != "waiting" or row.incident_at is not None
            or (row.next_attempt_at is not None and row.next_attempt_at > now)):
        # fired or cancelled meanwhile, held by another scheduler right now, or that scheduler failed on it
        # too between our rollback and now and already counted this round
        session.rollback()
        return False
    error, error_class = describe_failure(exc)
    row.attempts = (row.attempts or 0) + 1
    row.last_error, row.last_error_class = error, error_class
    row.first_failed_at = row.first_failed_at or now
    row.last_failed_at = now
    incident = row.attempts >= max(policy.max_attempts, 1)
    if incident:
        row.incident_at, row.next_attempt_at = now, None
        history.record(session, now, "timer_incident", actor="timer", instance_id=row.instance_id,
                       data={"timer_id": row.id, "element_id": row.element_id,
                             "name": incidents.step_name(session, row), "attempts": row.attempts,
                             "error": error, "error_class": error_class})
    else:
        row.next_attempt_at = now + policy.delay(row.attempts)
    session.commit()
    return incident


def run_due_timers(session: Session, clock, batch_size: int = 100, *, policy: RetryPolicy | None = None,
                   skip: set[int] | None = None, reviewer_rule=None) -> RunReport:
    """Claim up to ``batch_size`` due timer rows and fire their instances, one committed transaction each.

    ``skip`` (shared by the caller's batches) holds the rows already claimed in this tick: none is claimed
    twice, so a tick ends even when rows keep failing or conflicting. A failing instance is recorded on its
    row (see :func:`record_failure`) and the loop goes on; an OperationalError ends the run (re-raised)."""
    policy = policy or RetryPolicy()
    report = RunReport(skipped=skip if skip is not None else set())
    for _ in range(batch_size):
        report.last_claimed, report.last_instance, report.last_fired = None, None, False
        try:
            more = fire_one(session, clock, report, reviewer_rule)
            session.commit()
            if report.last_fired:
                log.info("timer %s of instance %s: fired", report.last_claimed, report.last_instance,
                         extra={"timer_id": report.last_claimed, "instance_id": report.last_instance})
        except OperationalError:
            session.rollback()         # the database itself is unwell: no instance is to blame
            report.ok = False
            raise
        except (Conflict, StaleDataError, IntegrityError):
            session.rollback()         # a user or another scheduler changed the instance first; retried later
            report.conflicts += 1
            log.info("timer %s of instance %s: changed meanwhile, retried later", report.last_claimed,
                     report.last_instance,
                     extra={"timer_id": report.last_claimed, "instance_id": report.last_instance})
            continue
        except Exception as exc:       # anything else is this instance's failure: count it on its row
            session.rollback()
            timer_id = report.last_claimed
            if timer_id is None:       # the claim query itself failed: not an instance's fault
                raise
            report.failures += 1
            log.error("timer %s of instance %s failed: %s", timer_id, report.last_instance, exc,
                      exc_info=not isinstance(exc, EngineError),
                      extra={"timer_id": timer_id, "instance_id": report.last_instance})
            try:
                if record_failure(session, clock, timer_id, exc, policy):
                    report.incidents += 1
                    log.warning("timer %s of instance %s failed %s times: now an incident for an administrator",
                                timer_id, report.last_instance, policy.max_attempts,
                                extra={"timer_id": timer_id, "instance_id": report.last_instance})
            except OperationalError:
                session.rollback()
                report.ok = False
                raise
            except Exception:          # recording failed too; the row is skipped for the rest of this tick
                session.rollback()
                log.exception("could not record the failure of timer %s", timer_id)
            continue
        if not more:
            break
    return report


def sweep_sla(session: Session, clock, batch_size: int = 500, reviewer_rule=None) -> RunReport:
    """Move open tasks on_time → due_soon → overdue as time passes; notify once per change."""
    from .calendar import local_date
    report = RunReport()
    now = clock.now()
    directory = Directory(session, reviewer_rule=reviewer_rule, today=lambda: local_date(now))
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


# -- scheduler heartbeat and health -----------------------------------------------------------------

def record_tick(session: Session, name: str, now: datetime, ok: bool) -> None:
    """Note that scheduler ``name`` ran a tick now (``ok``: without a database error); commits."""
    row = session.get(SchedulerHeartbeat, name)
    if row is None:
        row = SchedulerHeartbeat(name=name, last_tick_at=now)
        session.add(row)
    row.last_tick_at = now
    if ok:
        row.last_ok_at = now
    session.commit()


@dataclass
class SchedulerHealth:
    last_ok_at: datetime | None      # the last successful tick of any scheduler
    last_tick_at: datetime | None    # the last tick of any scheduler, successful or not
    stale: bool
    open_incidents: int


def scheduler_health(session: Session, now: datetime, poll_seconds: float, expected: bool) -> SchedulerHealth:
    """Stale: the last successful tick is older than three poll intervals, or no tick was ever recorded
    while a scheduler is expected."""
    beats = session.scalars(select(SchedulerHeartbeat)).all()
    last_ok = max((b.last_ok_at for b in beats if b.last_ok_at is not None), default=None)
    last_tick = max((b.last_tick_at for b in beats), default=None)
    if last_ok is None:
        stale = expected or last_tick is not None
    else:
        stale = now - last_ok > timedelta(seconds=3 * poll_seconds)
    incidents = session.scalar(select(func.count()).select_from(Timer).where(
        Timer.status == "waiting", Timer.incident_at.is_not(None)))
    return SchedulerHealth(last_ok_at=last_ok, last_tick_at=last_tick, stale=stale, open_incidents=incidents or 0)
