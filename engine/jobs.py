"""Making time move: fire due timers and advance SLA states.

Timers are fired in batches, one transaction per batch: claim up to ``batch_size`` due rows in one statement
(on PostgreSQL ``FOR UPDATE SKIP LOCKED``), lock and load their instances in one statement (SKIP LOCKED too,
so several schedulers never work on the same instance at once and never wait for each other), then for each
instance: refresh its timers, run engine steps, save — inside a SAVEPOINT. The parsed spec of each deployed
version is kept in the process, so firing reads no spec JSON. A row already fired, or a timer no longer
waiting, is a no-op. A crash rolls the batch's transaction back; its rows stay due and the next run fires
them — the row is the truth, not the scheduler's memory.

A failing instance never blocks the others (Camunda's job retries and incidents): whatever it raises, its
savepoint is rolled back and the failure is written to its timer rows in the same batch transaction —
attempts, last error, and the next attempt after a backoff (1, 2, 4 … minutes, capped); after
``max_attempts`` a row becomes an incident (``incident_at``) that is not claimed again until an
administrator retries or cancels it (engine.incidents). An instance that a user (optimistic lock) or
another transaction changed meanwhile is rolled back alone too and retried at the next tick. Only database
errors (OperationalError other than a deadlock: the database is down or unreachable) end the run: they
say nothing about the instance, and the batch is rolled back whole."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, undefer
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from . import history, incidents
from .errors import N_, Conflict, EngineError
from .models import (AuditEvent, CalendarYear, CaseIndex, HumanTask, ProcessDefinition, ProcessInstance,
                     SchedulerHeartbeat, Timer)
from .notifications import notify
from .org import Directory
from .repository import Repository
from .runtime import Runtime
from .serialization import workflow_from_state
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


def _due(stmt, now: datetime):
    return stmt.where(Timer.status == "waiting", Timer.due_at <= now, Timer.incident_at.is_(None),
                      or_(Timer.next_attempt_at.is_(None), Timer.next_attempt_at <= now))


def next_due(session: Session, now: datetime) -> datetime | None:
    """When the next waiting timer falls due after ``now`` (one row of the claim's index): a scheduler wakes
    then instead of at its next poll. Rows retried after a failure (backoff) or held as incidents are left to
    the poll."""
    return session.scalar(select(Timer.due_at).where(
        Timer.status == "waiting", Timer.due_at > now, Timer.incident_at.is_(None),
        Timer.next_attempt_at.is_(None)).order_by(Timer.due_at, Timer.id).limit(1))


def claim_due_timers(session: Session, now: datetime, skip: set[int], limit: int) -> list[Timer]:
    """Up to ``limit`` due rows, oldest due first, in one statement. On PostgreSQL they are locked ``FOR UPDATE
    SKIP LOCKED``: rows another scheduler holds are passed over, not waited for, so schedulers never block
    each other and never claim the same row."""
    stmt = _due(select(Timer), now)
    if skip:
        stmt = stmt.where(Timer.id.not_in(skip))
    return list(session.scalars(_locking(session, stmt.order_by(Timer.due_at, Timer.id).limit(limit), Timer)))


def _lock_instances(session: Session, instance_ids: list[int]) -> dict[int, ProcessInstance]:
    """The claimed rows' instances with their state, in one statement, locked (PostgreSQL) with SKIP LOCKED:
    an instance another scheduler (for another of its timers) or a user's transaction holds right now is
    left out; its rows stay due."""
    stmt = select(ProcessInstance).options(undefer(ProcessInstance.state)).where(
        ProcessInstance.id.in_(instance_ids))
    return {i.id: i for i in session.scalars(_locking(session, stmt, ProcessInstance))}


_specs: dict[tuple[int, str], tuple] = {}      # (definition id, sha256) -> parsed spec; a deployed version never changes
_SPECS_KEPT = 256


def _spec_of(definition: ProcessDefinition):
    """The parsed spec of a deployed version; its stored JSON (``spec_json``) is read once per process, not
    once per timer."""
    key = (definition.id, definition.sha256)
    found = _specs.get(key)
    if found is None:
        found = Repository.load_spec(definition)
        if len(_specs) >= _SPECS_KEPT:
            _specs.pop(next(iter(_specs)))
        _specs[key] = found
    return found


def _preload(session: Session, instances: dict[int, ProcessInstance]) -> list:
    """Load in one statement each what firing reads row by row through the identity map: the instances'
    definitions (without the spec JSON) and their case search rows. The caller holds the returned rows while
    it fires the batch (the identity map keeps only rows something refers to)."""
    definition_ids = {i.definition_id for i in instances.values()}
    return [*session.scalars(select(ProcessDefinition).where(ProcessDefinition.id.in_(definition_ids))),
            *session.scalars(select(CaseIndex).where(CaseIndex.instance_id.in_(list(instances))))]


def _is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure (PostgreSQL 40P01 / 40001): two transactions wanted the same rows;
    retrying later succeeds. Not a sign that the database is unwell."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


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


def _count_failure(session: Session, now: datetime, row: Timer, error: dict, error_class: str,
                   policy: RetryPolicy) -> bool:
    """Count a failed attempt on a row the caller holds; after the last attempt the row becomes an incident.
    Returns True when it did. Does not commit."""
    if (row.status != "waiting" or row.incident_at is not None
            or (row.next_attempt_at is not None and row.next_attempt_at > now)):
        return False
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
    return incident


class _Redo(Exception):
    """An instance failed or conflicted while a batch was fired without savepoints: redo it with them."""


@contextmanager
def _redo_on_failure():
    """On the savepoint-free path anything that fails becomes :class:`_Redo`, except a database that is
    unwell (an OperationalError other than a conflict), which ends the run."""
    try:
        yield
    except OperationalError as exc:
        if _is_conflict(exc):
            raise _Redo() from exc
        raise
    except Exception as exc:
        raise _Redo() from exc


def _preload_audit_heads(session: Session, instance_ids: list[int]) -> None:
    """The current end of each instance's audit chain, in one statement, into the transaction's cache of
    chain heads (engine.history), so that appending each instance's first event does not query it."""
    streams = [history.stream_of(i) for i in instance_ids]
    last = (select(AuditEvent.stream, func.max(AuditEvent.seq).label("seq"))
            .where(AuditEvent.stream.in_(streams)).group_by(AuditEvent.stream).subquery())
    found = session.execute(select(AuditEvent.stream, AuditEvent.seq, AuditEvent.hash).join(
        last, and_(AuditEvent.stream == last.c.stream, AuditEvent.seq == last.c.seq))).all()
    ends = {stream: (seq, hash_) for stream, seq, hash_ in found}
    for instance_id, stream in zip(instance_ids, streams):
        history.seed_head(session, instance_id, *ends.get(stream, (None, None)))


def _fire_batch(session: Session, clock, rows: list[Timer], report: RunReport, policy: RetryPolicy,
                reviewer_rule, fired: list[tuple[int, int]], careful: bool) -> None:
    """Fire the instances of the claimed ``rows`` in the caller's transaction. Rows left waiting are added
    to ``report.skipped``.

    Not ``careful`` (the usual case): no savepoints; the first instance that fails or conflicts raises
    :class:`_Redo`, and the caller rolls the batch back and fires it again carefully. ``careful``: each
    instance inside a SAVEPOINT: one that fails or conflicts is rolled back alone (a failure is counted on
    its rows) and the others go on."""
    by_instance: dict[int, list[Timer]] = {}
    for row in rows:
        by_instance.setdefault(row.instance_id, []).append(row)
    instances = _lock_instances(session, list(by_instance))
    runtime = Runtime(session, clock, reviewer_rule=reviewer_rule)     # one per batch: helpers, script engine
    # the usual path writes the whole batch at its end (the instances are locked: nobody else can change them
    # meanwhile); carefully, each instance is written inside its own SAVEPOINT
    runtime.write_each_action = careful
    running = [i for i in instances.values() if i.status == "running"]
    held = []
    if running:
        held = _preload(session, instances)
        runtime.preload_rows([i.id for i in running])
        runtime.preload_ledgers([i.id for i in running])
        _preload_audit_heads(session, [i.id for i in running])
    now = clock.now()
    for instance_id, claimed in by_instance.items():
        instance = instances.get(instance_id)
        if instance is None:       # another scheduler or a user holds the instance right now; retried later
            report.skipped.update(r.id for r in claimed)
            continue
        if instance.status != "running":
            for row in claimed:
                row.status = "cancelled"
            continue
        if not careful:
            with _redo_on_failure():
                _advance(runtime, instance)
        else:
            try:
                with session.begin_nested():
                    _advance(runtime, instance)
            except OperationalError as exc:
                if not _is_conflict(exc):
                    raise          # the database itself is unwell: no instance is to blame
                _conflict(session, report, claimed, instance_id)
                continue
            except (Conflict, StaleDataError, IntegrityError):
                _conflict(session, report, claimed, instance_id)
                continue
            except Exception as exc:   # anything else is this instance's failure: count it on its rows
                _failure(session, now, report, claimed, instance_id, exc, policy)
                continue
        report.fired_instances += 1
        for row in claimed:
            if row.status == "waiting":    # not fired by this run (e.g. its due time moved): not again this tick
                report.skipped.add(row.id)
            elif row.status == "fired":
                fired.append((row.id, row.instance_id))    # for the log after the commit (which expires rows)
    if not careful:                    # the batch's changes and audit rows, written together
        with _redo_on_failure():
            _write_instances(session, running)
            session.flush()
            history.flush(session)
    del held                           # the preloaded rows were needed until the last instance was fired


def _write_instances(session: Session, instances: list[ProcessInstance]) -> None:
    """The batch's changed instance rows in one executemany per set of changed columns, with the optimistic
    lock kept: ``WHERE id = … AND version = …`` and the version raised, the rows counted (the ORM's flush
    sends a versioned UPDATE one row at a time: a round trip per timer). Fewer rows than instances:
    StaleDataError, as the ORM raises it; the caller redoes the batch carefully. The rows written are marked
    as stored, so the flush that follows leaves them alone."""
    table = ProcessInstance.__table__
    groups: dict[tuple[str, ...], list[tuple[ProcessInstance, dict]]] = {}
    for instance in instances:
        state = sa_inspect(instance)
        if not state.persistent or not state.modified:
            continue
        changed = {}
        for attr in state.mapper.column_attrs:
            if attr.key != "version":
                history_ = state.attrs[attr.key].history
                if history_.has_changes():
                    changed[attr.key] = history_.added[0] if history_.added else None
        if changed:
            groups.setdefault(tuple(sorted(changed)), []).append((instance, changed))
    for keys, members in groups.items():
        stmt = (update(table).where(table.c.id == bindparam("_id"), table.c.version == bindparam("_version"))
                .values({**{table.c[k]: bindparam("_" + k, type_=table.c[k].type) for k in keys},
                         table.c.version: bindparam("_next", type_=table.c.version.type)}))
        params = [{"_id": i.id, "_version": i.version, "_next": i.version + 1,
                   **{"_" + k: v for k, v in changed.items()}} for i, changed in members]
        result = session.connection().execute(stmt, params)
        if result.rowcount != len(params):
            raise StaleDataError(f"process_instances: {result.rowcount} of {len(params)} rows matched")
        for instance, changed in members:
            for key, value in changed.items():
                set_committed_value(instance, key, value)
            set_committed_value(instance, "version", instance.version + 1)


def _advance(runtime: Runtime, instance: ProcessInstance) -> None:
    spec, subprocess_specs = _spec_of(instance.definition)
    workflow = workflow_from_state(instance.state, spec, subprocess_specs, runtime.script_engine)
    runtime.advance(instance, workflow, actor="timer", fire_timers=True)


def _conflict(session: Session, report: RunReport, claimed: list[Timer], instance_id: int) -> None:
    report.conflicts += 1
    report.skipped.update(r.id for r in claimed)
    log.info("timer %s of instance %s: changed meanwhile, retried later", claimed[0].id, instance_id,
             extra={"timer_id": claimed[0].id, "instance_id": instance_id})


def _failure(session: Session, now: datetime, report: RunReport, claimed: list[Timer], instance_id: int,
             exc: BaseException, policy: RetryPolicy) -> None:
    report.failures += 1
    report.skipped.update(r.id for r in claimed)
    log.error("timer %s of instance %s failed: %s", claimed[0].id, instance_id, exc,
              exc_info=not isinstance(exc, EngineError),
              extra={"timer_id": claimed[0].id, "instance_id": instance_id})
    error, error_class = describe_failure(exc)
    try:
        with session.begin_nested():
            for row in claimed:
                if _count_failure(session, now, row, error, error_class, policy):
                    report.incidents += 1
                    log.warning("timer %s of instance %s failed %s times: now an incident for an administrator",
                                row.id, instance_id, row.attempts,
                                extra={"timer_id": row.id, "instance_id": instance_id})
    except OperationalError:
        raise
    except Exception:              # recording failed too; the rows are skipped for the rest of this tick
        log.exception("could not record the failure of timer %s", claimed[0].id)


def run_due_timers(session: Session, clock, batch_size: int = 50, *, policy: RetryPolicy | None = None,
                   skip: set[int] | None = None, reviewer_rule=None) -> RunReport:
    """Claim up to ``batch_size`` due timer rows in one statement and fire their instances in one transaction.

    The instances are loaded and locked in one statement, and so are their definitions, case index rows,
    provisional ledgers and audit chain heads; each deployed version's spec is parsed once per process. The
    batch is first fired without savepoints; when an instance fails or conflicts, the batch is rolled back
    and fired again with a SAVEPOINT per instance: the failing one is rolled back alone and its failure
    counted on its rows (see :class:`RetryPolicy`), a conflicting one (a user or another transaction changed
    it meanwhile) is rolled back alone and retried later, and the others commit together.

    ``skip`` (shared by the caller's batches) holds the rows of this tick that were claimed and are still
    waiting (failed, conflicting, or their instance was held elsewhere): none is claimed twice, so a tick
    ends even when rows keep failing or conflicting. An OperationalError ends the run (re-raised); the
    batch's transaction is rolled back and its rows stay due."""
    policy = policy or RetryPolicy()
    report = RunReport(skipped=skip if skip is not None else set())
    attempt = RunReport()
    fired: list[tuple[int, int]] = []
    try:
        rows = claim_due_timers(session, clock.now(), report.skipped, max(batch_size, 1))
        report.claimed = len(rows)
        if rows:
            report.last_claimed, report.last_instance = rows[-1].id, rows[-1].instance_id
            try:
                _fire_batch(session, clock, rows, attempt, policy, reviewer_rule, fired, careful=False)
                session.commit()
            except _Redo:
                session.rollback()
                ids = [r.id for r in rows]
                attempt, fired = RunReport(), []
                # the same rows again, those still due and not taken meanwhile by another scheduler
                rows = list(session.scalars(_locking(session, _due(select(Timer), clock.now()).where(
                    Timer.id.in_(ids)).order_by(Timer.due_at, Timer.id), Timer)))
                _fire_batch(session, clock, rows, attempt, policy, reviewer_rule, fired, careful=True)
                session.commit()
        else:
            session.commit()
    except OperationalError:
        session.rollback()
        report.ok = False
        raise
    except Exception:
        session.rollback()         # the claim itself failed: not an instance's fault
        raise
    for name in ("fired_instances", "conflicts", "failures", "incidents"):
        setattr(report, name, getattr(report, name) + getattr(attempt, name))
    report.skipped.update(attempt.skipped)
    for timer_id, instance_id in fired:
        log.info("timer %s of instance %s: fired", timer_id, instance_id,
                 extra={"timer_id": timer_id, "instance_id": instance_id})
    report.last_fired = bool(fired)
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
