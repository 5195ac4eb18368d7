"""Timer incidents: timer rows that failed on every attempt (see engine.jobs) and wait for an administrator.

An open incident is a timer row still ``waiting`` with ``incident_at`` set; the scheduler does not claim it.
Retrying resets its attempts and makes it due now; cancelling sets the row ``cancelled`` (``incident_at``
stays, so the runtime knows an administrator withdrew that timer and does not index it again). Both are
recorded in the case's audit trail. A user action that moves the case past the timer also closes the
incident: the row is then fired or cancelled like any other."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import history
from .errors import N_, NotFound
from .models import HumanTask, ProcessInstance, Timer
from .repository import Repository


def _open():
    return select(Timer).where(Timer.status == "waiting", Timer.incident_at.is_not(None))


def count_open(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(_open().subquery())) or 0


@dataclass
class Incident:
    """One open incident with what an administrator needs to judge it."""
    timer: Timer
    instance: ProcessInstance
    process_name: str | None        # the procedure's name (None when the definition has none)
    step_name: str | None           # the timer event's name, or None when neither it nor its task has one
    task_name: str | None           # for a boundary timer: the name of the task it is attached to

    @property
    def id(self) -> int:
        return self.timer.id


def _step_names(session: Session, instance: ProcessInstance) -> dict[str, str]:
    """bpmn id -> name of every element of the instance's version (and the processes it calls). Read from
    the deployed spec, so it works even when the instance's own state cannot be loaded."""
    try:
        spec, subprocess_specs = Repository.load_spec(instance.definition)
    except Exception:               # a broken definition must not hide the incident list
        return {}
    names = {}
    for process in (spec, *subprocess_specs.values()):
        for task_spec in process.task_specs.values():
            bpmn_id, name = getattr(task_spec, "bpmn_id", None), getattr(task_spec, "bpmn_name", None)
            if bpmn_id and name:
                names.setdefault(bpmn_id, name)
    return names


def step_name(session: Session, row: Timer) -> str | None:
    """The name of the timer's element, or of the task a boundary timer is attached to."""
    name = _step_names(session, row.instance).get(row.element_id)
    if name is None and row.human_task_id:
        task = session.get(HumanTask, row.human_task_id)
        name = task.name if task is not None else None
    return name


def list_open(session: Session, limit: int = 500) -> list[Incident]:
    rows = session.scalars(_open().order_by(Timer.incident_at, Timer.id).limit(limit)).all()
    task_ids = {r.human_task_id for r in rows if r.human_task_id}
    tasks = {t.id: t.name for t in session.scalars(select(HumanTask).where(HumanTask.id.in_(task_ids)))} \
        if task_ids else {}
    names_by_definition: dict[int, dict[str, str]] = {}
    out = []
    for row in rows:
        instance = row.instance
        if instance.definition_id not in names_by_definition:
            names_by_definition[instance.definition_id] = _step_names(session, instance)
        out.append(Incident(timer=row, instance=instance, process_name=instance.definition.name,
                            step_name=names_by_definition[instance.definition_id].get(row.element_id),
                            task_name=tasks.get(row.human_task_id)))
    return out


def get_open(session: Session, timer_id: int) -> Timer:
    row = session.scalars(_open().where(Timer.id == timer_id).with_for_update()).first()
    if row is None:
        raise NotFound(N_("No open incident %(id)s"), id=timer_id)
    return row


def _summary(session: Session, row: Timer) -> dict:
    return {"timer_id": row.id, "element_id": row.element_id, "name": step_name(session, row),
            "attempts": row.attempts, "error": row.last_error, "error_class": row.last_error_class,
            "first_failed_at": row.first_failed_at.isoformat() if row.first_failed_at else None}


def retry(session: Session, timer_id: int, now: datetime, actor: str) -> Timer:
    """Give the timer its attempts back and make it due now (the next scheduler tick fires it)."""
    row = get_open(session, timer_id)
    history.record(session, now, "timer_incident_retried", actor=actor, instance_id=row.instance_id,
                   data=_summary(session, row))
    row.attempts, row.next_attempt_at, row.incident_at = 0, None, None
    row.first_failed_at = row.last_failed_at = None
    session.flush()
    return row


def cancel(session: Session, timer_id: int, now: datetime, actor: str) -> Timer:
    """Withdraw the timer: it never fires; the case stays as it is otherwise."""
    row = get_open(session, timer_id)
    history.record(session, now, "timer_incident_cancelled", actor=actor, instance_id=row.instance_id,
                   data=_summary(session, row))
    row.status = "cancelled"
    session.flush()
    return row
