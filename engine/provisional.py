"""Provisional deadlines recomputed when an administrator enters a year (DOMAIN §6).

While the holiday table lacks a year, deadlines reaching it are counted provisionally (engine.calendar) and
the runtime notes, per running instance, where each such value went and how it was computed
(:class:`~engine.models.ProvisionalValue`: a case-data variable, a waiting timer, a human task's deadline or
reminder). :func:`recompute_provisional` runs in the caller's transaction right after the year is stored:
every noted value is computed again from its recipe (its start moment and limit as written), in the order
it was first computed, so that a deadline counted from another (an extension of review_deadline) is counted
from the new one, and is put back everywhere it went:

- case-data variables in the workflow state (every task whose data holds the old value);
- a waiting timer's value in the workflow state (``internal_data['event_value']``, which SpiffWorkflow
  compares with the clock when the scheduler refreshes timers) *and* its Timer row (which the scheduler
  claims by ``due_at``) — both, so they never disagree: a row moved alone would be set back from the state
  at the next save, and a timer moved earlier in the row only would be claimed and then not fire;
- an open human task's ``due_at``/``remind_at`` and SLA state.

Flags (``provisional`` on tasks and timers) follow; one audit event per instance lists what moved, and
one system event the counts."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import history
from .calendar import set_year
from .errors import N_, Conflict
from .models import HumanTask, ProcessInstance, ProvisionalValue, Timer
from .runtime import Runtime
from .serialization import state_to_json
from .sla import ProvisionalISO, recompute, state_at


@dataclass
class RecomputeReport:
    instances: int = 0            # running cases that had provisional deadlines
    deadlines: int = 0            # task deadlines, reminders and timers recomputed
    moved: int = 0                # … of which now fall at another time
    still_provisional: int = 0    # … still provisional (they reach another year the table lacks)
    tasks: int = 0                # open tasks whose deadline or reminder moved
    timers: int = 0               # waiting timers that moved
    variables: int = 0            # case-data values (e.g. review_deadline) that changed
    changes: list = field(default_factory=list)

    def counts(self) -> dict:
        body = asdict(self)
        body.pop("changes")
        return body


def pending_count(session: Session) -> int:
    """Open tasks and waiting timers whose deadline is provisional."""
    tasks = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.status == "open", HumanTask.provisional.is_(True)))
    timers = session.scalar(select(func.count()).select_from(Timer).where(
        Timer.status == "waiting", Timer.provisional.is_(True)))
    return (tasks or 0) + (timers or 0)


def enter_year(session: Session, clock, year: int, days: list[dict], *, actor: str) -> tuple[int, RecomputeReport]:
    """Store a whole year (engine.calendar.set_year) and recompute the provisional deadlines with it, in the
    caller's transaction: the year, the moved deadlines and their audit events commit together."""
    count = set_year(session, year, days)
    history.record(session, clock.now(), "calendar_year_set", actor=actor, data={"year": year, "days": count})
    return count, recompute_provisional(session, clock, actor=actor, reason={"year": year})


def recompute_provisional(session: Session, clock, *, actor: str, reason: dict | None = None) -> RecomputeReport:
    """Recompute every provisional deadline of running instances on the calendar as it is now; audited."""
    now = clock.now()
    runtime = Runtime(session, clock)            # a fresh calendar: it reads the year just entered
    report = RecomputeReport()
    instance_ids = session.scalars(select(ProvisionalValue.instance_id).distinct()
                                   .order_by(ProvisionalValue.instance_id)).all()
    for instance_id in instance_ids:
        stmt = select(ProcessInstance).where(ProcessInstance.id == instance_id)
        if session.get_bind().dialect.name == "postgresql":    # a scheduler firing this case is waited for
            stmt = stmt.with_for_update(of=ProcessInstance).execution_options(populate_existing=True)
        instance = session.scalars(stmt).first()
        if instance is None or instance.status != "running":
            for row in session.scalars(select(ProvisionalValue).where(ProvisionalValue.instance_id == instance_id)):
                session.delete(row)
            continue
        _recompute_instance(session, runtime, instance, now, actor, report, reason or {})
    history.record(session, now, "deadlines_recomputed", actor=actor, data={**(reason or {}), **report.counts()})
    session.flush()
    return report


def _recompute_instance(session: Session, runtime: Runtime, instance: ProcessInstance, now: datetime, actor: str,
                        report: RecomputeReport, reason: dict) -> None:
    workflow = runtime.load(instance)
    ledger = runtime.take_provisional(instance)
    tasks = {t.id: t for t in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                                       HumanTask.status == "open"))}
    timers = {t.task_id: t for t in session.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                                        Timer.status == "waiting"))}
    starts: dict[str, str] = {}
    changes: list[dict] = []
    provisional_tasks: set[str] = set()
    for row in ledger:
        new = recompute(runtime.calendar, row.recipe, starts)
        text = str(new)
        starts.setdefault(row.value, text)
        still = isinstance(new, ProvisionalISO)
        kind, _, where = row.slot.partition(":")
        if kind == "data":
            touched = 0
            for task in workflow.get_tasks():
                if task.data.get(where) == row.value:
                    task.data[where] = text
                    touched += 1
            if touched and text != row.value:
                report.variables += 1
                changes.append({"what": "data", "variable": where, "from": row.value, "to": text,
                                "provisional": still})
        elif kind == "timer":
            task = _workflow_task(workflow, where)
            timer = timers.get(where)
            if task is None or task.state != TaskState.WAITING or timer is None \
                    or str(task.internal_data.get("event_value")) != row.value:
                continue                         # fired or withdrawn meanwhile: nothing to move
            task.internal_data["event_value"] = text
            report.deadlines += 1
            if text != row.value:
                report.moved += 1
                report.timers += 1
                changes.append({"what": "timer", "element_id": timer.element_id,
                                "name": getattr(task.task_spec, "bpmn_name", None), "from": row.value, "to": text,
                                "provisional": still})
        elif kind == "task":
            task_id, _, which = where.rpartition(":")
            human = tasks.get(task_id)
            if human is None or which not in ("due", "remind"):
                continue
            attribute = "due_at" if which == "due" else "remind_at"
            old_at = getattr(human, attribute)
            new_at = datetime.fromisoformat(text)
            report.deadlines += 1
            if still:
                provisional_tasks.add(task_id)
            if old_at is None or old_at != new_at:
                setattr(human, attribute, new_at)
                report.moved += 1
                report.tasks += 1
                changes.append({"what": which, "task_id": task_id, "element_id": human.element_id,
                                "name": human.name, "from": row.value, "to": text, "provisional": still})
        if still:
            report.still_provisional += kind != "data"
            runtime.note_provisional(instance, row.slot, text, new.recipe)
    for task_id, human in tasks.items():
        human.provisional = task_id in provisional_tasks
        if human.sla_state != "escalated":
            human.sla_state = state_at(now, human.due_at, human.remind_at, human.sla_state)
    runtime.index_timers(instance, workflow)      # rows follow the values in the state (due_at, next timer)
    still_noted = runtime.provisional_slots(instance)
    for task_id, timer in timers.items():
        timer.provisional = f"timer:{task_id}" in still_noted
    instance.state = state_to_json(workflow)
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(N_("The case was changed by someone else at the same moment; reload and try again")) from None
    report.instances += 1
    history.record(session, now, "deadlines_recomputed", actor=actor, instance_id=instance.id,
                   data={**reason, "changes": changes})
    report.changes.extend({"instance_id": instance.id, **c} for c in changes)


def _workflow_task(workflow, task_id: str):
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except Exception:
        return None
