"""Figures an operator watches (Prometheus gauges at /metrics): cheap COUNT queries over indexed columns, run
when the metrics are scraped."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import HumanTask, ProcessInstance, SchedulerHeartbeat, Timer

SLA_STATES = ("on_time", "due_soon", "overdue", "escalated")


@dataclass
class Figures:
    open_tasks: dict[str, int] = field(default_factory=dict)   # by stored SLA state
    running_instances: int = 0
    timers_waiting: int = 0
    timers_due: int = 0          # due now, not an incident, not waiting for a retry
    timers_late: int = 0         # of those, due for longer than ``late_after``
    incidents: int = 0           # timers that failed too often and wait for an administrator
    last_tick_at: datetime | None = None


def figures(session: Session, now: datetime, late_after: timedelta) -> Figures:
    out = Figures()
    counts = dict(session.execute(select(HumanTask.sla_state, func.count()).where(HumanTask.status == "open")
                                  .group_by(HumanTask.sla_state)).all())
    out.open_tasks = {state: counts.pop(state, 0) for state in SLA_STATES}
    out.open_tasks.update(counts)
    out.running_instances = session.scalar(select(func.count()).select_from(ProcessInstance)
                                           .where(ProcessInstance.status == "running")) or 0
    waiting = select(func.count()).select_from(Timer).where(Timer.status == "waiting")
    out.timers_waiting = session.scalar(waiting) or 0
    due = waiting.where(Timer.due_at <= now, Timer.incident_at.is_(None))
    out.timers_due = session.scalar(due) or 0
    out.timers_late = session.scalar(due.where(Timer.due_at <= now - late_after)) or 0
    out.incidents = session.scalar(waiting.where(Timer.incident_at.is_not(None))) or 0
    out.last_tick_at = session.scalar(select(func.max(SchedulerHeartbeat.last_ok_at)))
    return out
