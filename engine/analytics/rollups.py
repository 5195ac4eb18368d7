"""Rollups: figures over finished work kept up to date as the work finishes, so a dashboard never scans history.

``handling_rollups`` holds, per procedure (the instance's process key), step (BPMN element), unit and local
calendar month — and again per local calendar year (``span`` 'Y', ``month`` its 1 January) — of the task's
offer (Asia/Shanghai), how many human tasks were completed, the sum of their handling seconds (offer →
completion) and the greatest step name seen. It is maintained by one UPSERT (two rows) per completed human
task (``record_completion``, called by ``TaskService.complete`` in the step's transaction, so it commits or
rolls back with the completion) and can be rebuilt from ``human_tasks`` at any time (``rebuild``: the
migration that creates it, and ``flask rollups rebuild``).

``handling_groups`` answers the dashboard's question — per (procedure, step, unit): tasks, seconds, name —
for an area and a window of offer times: whole years inside the window from the year rows (the dashboard's
default window, this year, reads only those), whole months from the month rows, and the days at the edges
of a window that does not start or end on a month boundary straight from ``human_tasks`` (index
``ix_human_tasks_created_at``). The answer equals a direct aggregate over ``human_tasks``."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import (Date, Float, Index, Integer, Interval, String, and_, bindparam, case, delete, false, func,
                        literal_column, or_, select)
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.models import Base, HumanTask, ProcessInstance

LOCAL_TZ = ZoneInfo("Asia/Shanghai")      # as engine.calendar; no daylight saving since 1991: UTC+8 all year
LOCAL_OFFSET_HOURS = 8
NO_UNIT = 0                               # unit_id of tasks without a unit (a key column cannot be NULL)
MONTH, YEAR = "M", "Y"


class HandlingRollup(Base):
    __tablename__ = "handling_rollups"
    process_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    element_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)          # NO_UNIT for none
    span: Mapped[str] = mapped_column(String(1), primary_key=True)           # M: a month; Y: a year
    month: Mapped[date] = mapped_column(Date, primary_key=True)              # first day of the local month/year
    tasks: Mapped[int] = mapped_column(Integer, nullable=False)
    seconds: Mapped[float] = mapped_column(Float, nullable=False)            # sum of handling seconds
    name: Mapped[str | None] = mapped_column(String(200))                    # the greatest step name seen
    # the dashboard reads one span over a range of months (this year's year rows): not the whole table
    __table_args__ = (Index("ix_handling_rollups_span_month", "span", "month"),)


def month_of(moment: datetime) -> date:
    """The first day of the local month holding an aware moment."""
    return moment.astimezone(LOCAL_TZ).date().replace(day=1)


def month_start(month: date) -> datetime:
    """The aware moment a local month begins."""
    return datetime(month.year, month.month, 1, tzinfo=LOCAL_TZ)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _upsert_for(dialect: str):
    """The dialect's INSERT that takes ON CONFLICT DO UPDATE."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def record_completion(session: Session, task: HumanTask, process_key: str) -> None:
    """Add one completed human task to the rollup: one INSERT … ON CONFLICT DO UPDATE statement, sent with the
    month's row and the year's row (executemany)."""
    if task.completed_at is None or task.created_at is None:
        return
    month = month_of(task.created_at)
    row = {"process_key": process_key, "element_id": task.element_id,
           "unit_id": task.unit_id if task.unit_id is not None else NO_UNIT,
           "seconds": (task.completed_at - task.created_at).total_seconds(), "name": task.name}
    session.execute(_completion_upsert(session.get_bind().dialect.name),
                    [{**row, "span": MONTH, "month": month}, {**row, "span": YEAR, "month": month.replace(month=1)}])


@cache
def _completion_upsert(dialect: str):
    """The statement of ``record_completion``, built once per dialect (and compiled once: one row of VALUES,
    unlike a multi-row VALUES, is cached by SQLAlchemy)."""
    table = HandlingRollup.__table__
    stmt = _upsert_for(dialect)(table).values(
        tasks=1, **{name: bindparam(name, type_=table.c[name].type)
                    for name in ("process_key", "element_id", "unit_id", "span", "month", "seconds", "name")})
    greater = case((or_(table.c.name.is_(None), stmt.excluded.name > table.c.name), stmt.excluded.name),
                   else_=table.c.name)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.process_key, table.c.element_id, table.c.unit_id, table.c.span, table.c.month],
        set_={"tasks": table.c.tasks + stmt.excluded.tasks, "seconds": table.c.seconds + stmt.excluded.seconds,
              "name": greater})


def _seconds_sql(dialect: str, start, end):
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _month_sql(dialect: str, column, span: str = MONTH):
    """SQL for the first day of the local month (year) of a naive-UTC timestamp column."""
    unit = "month" if span == MONTH else "year"
    if dialect == "postgresql":
        return func.date_trunc(unit, column + literal_column(f"interval '{LOCAL_OFFSET_HOURS} hours'", Interval)
                               ).cast(Date)
    return func.date(column, f"+{LOCAL_OFFSET_HOURS} hours", f"start of {unit}")


def _completed():
    return and_(HumanTask.status == "completed", HumanTask.completed_at.is_not(None))


def rebuild(session: Session) -> int:
    """Recompute the whole rollup from ``human_tasks`` (a DELETE and an INSERT … SELECT per span). Returns its rows."""
    dialect = session.get_bind().dialect.name
    session.execute(delete(HandlingRollup))
    unit = func.coalesce(HumanTask.unit_id, NO_UNIT)
    table = HandlingRollup.__table__
    for span in (MONTH, YEAR):
        month = _month_sql(dialect, HumanTask.created_at, span)
        source = (select(ProcessInstance.process_key, HumanTask.element_id, unit, literal_column(f"'{span}'"), month,
                         func.count(), func.sum(_seconds_sql(dialect, HumanTask.created_at, HumanTask.completed_at)),
                         func.max(HumanTask.name))
                  .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                  .where(_completed())
                  .group_by(ProcessInstance.process_key, HumanTask.element_id, unit, month))
        session.execute(table.insert().from_select(
            ["process_key", "element_id", "unit_id", "span", "month", "tasks", "seconds", "name"], source))
    return session.scalar(select(func.count()).select_from(HandlingRollup)) or 0


@dataclass(slots=True)
class HandlingGroup:
    process_key: str
    element_id: str
    unit_id: int | None
    name: str | None
    tasks: int
    seconds: float                          # the sum

    @property
    def avg_seconds(self) -> float:
        return self.seconds / self.tasks if self.tasks else 0.0


def _direct(session: Session, area: set[int] | None, process_key: str | None,
            start: datetime | None, end: datetime | None) -> list:
    dialect = session.get_bind().dialect.name
    stmt = (select(ProcessInstance.process_key, HumanTask.element_id, HumanTask.unit_id,
                   func.max(HumanTask.name), func.count(),
                   func.sum(_seconds_sql(dialect, HumanTask.created_at, HumanTask.completed_at)))
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(_completed())
            .group_by(ProcessInstance.process_key, HumanTask.element_id, HumanTask.unit_id))
    if area is not None:
        stmt = stmt.where(HumanTask.unit_id.in_(area) if area else false())
    if process_key:
        stmt = stmt.where(ProcessInstance.process_key == process_key)
    if start is not None:
        stmt = stmt.where(HumanTask.created_at >= start)
    if end is not None:
        stmt = stmt.where(HumanTask.created_at < end)
    return [(k, e, u, n, int(c), float(s or 0)) for k, e, u, n, c, s in session.execute(stmt)]


def _rolled(session: Session, area: set[int] | None, process_key: str | None,
            first: date | None, stop: date | None, span: str = MONTH) -> list:
    r = HandlingRollup
    stmt = (select(r.process_key, r.element_id, r.unit_id, func.max(r.name), func.sum(r.tasks), func.sum(r.seconds))
            .where(r.span == span).group_by(r.process_key, r.element_id, r.unit_id))
    if area is not None:
        stmt = stmt.where(r.unit_id.in_(area) if area else false())
    if process_key:
        stmt = stmt.where(r.process_key == process_key)
    if first is not None:
        stmt = stmt.where(r.month >= first)
    if stop is not None:
        stmt = stmt.where(r.month < stop)
    # through the connection, not the ORM: thousands of plain rows (8,226 for the city this year) come back in
    # half the time; the rollup is written by statements, never by pending ORM objects, so no flush is missed
    return [(k, e, None if u == NO_UNIT else u, n, int(c), float(s or 0))
            for k, e, u, n, c, s in session.connection().execute(stmt).all()]


def handling_groups(session: Session, area: set[int] | None = None, process_key: str | None = None,
                    created_from: datetime | None = None, created_to: datetime | None = None) -> list[HandlingGroup]:
    """Completed human tasks per (procedure, step, unit) offered in [created_from, created_to): how many, the sum
    of their handling seconds, the greatest step name. ``area`` None = every unit."""
    if created_from is not None and created_to is not None and created_from >= created_to:
        return []
    # whole local months inside the window come from the rollup …
    first = None
    if created_from is not None:
        first = month_of(created_from)
        if month_start(first) < created_from:
            first = _next_month(first)
    stop = month_of(created_to) if created_to is not None else None
    parts: list[list] = []
    if first is not None and stop is not None and first >= stop:       # no whole month inside: all direct
        parts.append(_direct(session, area, process_key, created_from, created_to))
    else:
        # whole years inside [first, stop) from the year rows, the months around them from the month rows
        y_first = None if first is None else first if first.month == 1 else date(first.year + 1, 1, 1)
        y_stop = None if stop is None else date(stop.year, 1, 1)
        if y_first is not None and y_stop is not None and y_first >= y_stop:
            parts.append(_rolled(session, area, process_key, first, stop, MONTH))
        else:
            parts.append(_rolled(session, area, process_key, y_first, y_stop, YEAR))
            if first is not None and first < y_first:
                parts.append(_rolled(session, area, process_key, first, y_first, MONTH))
            if stop is not None and y_stop < stop:
                parts.append(_rolled(session, area, process_key, y_stop, stop, MONTH))
        # … the days before the first and after the last whole month straight from the tasks
        if created_from is not None and month_start(first) > created_from:
            parts.append(_direct(session, area, process_key, created_from, month_start(first)))
        if created_to is not None and month_start(stop) < created_to:
            parts.append(_direct(session, area, process_key, month_start(stop), created_to))
    if len(parts) == 1:                      # one source (e.g. this year's rows): nothing to merge
        return [HandlingGroup(*p) for p in parts[0] if p[4]]
    merged: dict[tuple, HandlingGroup] = {}
    for key, element, unit, name, tasks, seconds in itertools.chain(*parts):
        group = merged.get((key, element, unit))
        if group is None:
            merged[(key, element, unit)] = HandlingGroup(key, element, unit, name, tasks, seconds)
        else:
            group.tasks += tasks
            group.seconds += seconds
            if name is not None and (group.name is None or name > group.name):
                group.name = name
    return [g for g in merged.values() if g.tasks]


def direct_groups(session: Session, area: set[int] | None = None, process_key: str | None = None,
                  created_from: datetime | None = None, created_to: datetime | None = None) -> list[HandlingGroup]:
    """The same figures as ``handling_groups``, aggregated straight from ``human_tasks`` (tests, checks)."""
    return [HandlingGroup(*row) for row in _direct(session, area, process_key, created_from, created_to)]

