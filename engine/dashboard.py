"""The supervisor dashboard's figures (DESIGN: supervisors; DOMAIN §5, §7), read from the indexed tables only.

Every figure is limited to an *area*: a set of unit ids (the units at and below a supervisor's tier), or
None for everything (an administrator). A task belongs to the unit that holds it (``HumanTask.unit_id``).

The SLA categories are defined once, as SQL conditions on open tasks at a moment ``now``, and every count
and list uses them:

- open       — the task waits for someone;
- due soon   — past its reminder point and not yet past its deadline (and neither overdue nor escalated);
- overdue    — past its deadline (``due_at < now``), or marked overdue by the scheduler;
- escalated  — its escalation timer fired (``sla_state = 'escalated'``); an escalated task past its
               deadline is overdue as well.

Handling time is elapsed (calendar) hours from when a task was offered to when it was completed."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from .analytics.rollups import handling_groups
from .models import HumanTask, OrgUnit, ProcessDefinition, ProcessInstance, User
from .org import GOVERNMENT, Directory

SUPERVISOR_ROLES = frozenset({"supervision_officer", "admin", "invited_supervisor"})
PILOT_PROCESS = "pilot_reporting"
CIRCULAR_PREFIX = "逾期未报送"          # pilot steps listing a county for 通报 (public criticism)
STATES = ("open", "due_soon", "overdue", "escalated")
OUTLIER_FACTOR = 1.5                   # a unit is flagged above this multiple of the units' mean …
OUTLIER_MIN_UNITS = 3                  # … when at least this many units did the step


# --- the SLA categories ------------------------------------------------------------------------------

def is_open():
    return HumanTask.status == "open"


# each category of an open task (the conditions below hold for open tasks only: is_open() is added by the
# is_… functions, or is the WHERE of a statement that counts them all at once)
def _late(now: datetime):
    return or_(HumanTask.due_at < now, HumanTask.sla_state == "overdue")


def _reminding(now: datetime):
    return and_(HumanTask.remind_at <= now, or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now),
                HumanTask.sla_state.notin_(("overdue", "escalated")))


def _escalated():
    return HumanTask.sla_state == "escalated"


def is_overdue(now: datetime):
    return and_(is_open(), _late(now))


def is_due_soon(now: datetime):
    return and_(is_open(), _reminding(now))


def is_escalated():
    return and_(is_open(), _escalated())


def conditions(now: datetime) -> dict:
    return {"open": is_open(), "due_soon": is_due_soon(now), "overdue": is_overdue(now), "escalated": is_escalated()}


# --- who sees what -----------------------------------------------------------------------------------

def area_of(session: Session, user: User) -> set[int] | None:
    """The units a supervisor's dashboard covers: everything (None) for an administrator, the county or city
    of a supervision officer's bureau; an invited supervisor the units the register assigns for the current
    term (engine.registers.supervisors). Anyone else gets nothing (an empty set)."""
    return Directory(session).supervised_area(user)


# --- the figures -------------------------------------------------------------------------------------

@dataclass
class Filters:
    process_key: str | None = None
    created_from: datetime | None = None       # aware; tasks created at or after
    created_to: datetime | None = None         # aware; tasks created before


@dataclass
class HandlingRow:
    process_key: str
    procedure: str
    element_id: str
    step: str
    unit_id: int | None
    unit: str
    county: str
    tasks: int
    avg_hours: float
    step_mean_hours: float = 0.0
    units_on_step: int = 0
    ratio: float | None = None
    flagged: bool = False


@dataclass
class PilotRow:
    instance_id: int
    round: str
    instance_status: str
    county_id: int
    county: str
    stages: list[str] = field(default_factory=list)     # names of the county's open tasks
    overdue: int = 0
    circulars: int = 0


class Dashboard:
    """The figures for one area at one moment. ``area`` None = every unit."""

    def __init__(self, session: Session, now: datetime, area: set[int] | None, filters: Filters | None = None):
        self.session = session
        self.now = now
        self.area = area
        self.filters = filters or Filters()
        self._units: dict[int, OrgUnit] | None = None
        self._names: dict[str, str] | None = None
        self._counties: dict[int | None, OrgUnit | None] | None = None
        self._cells: list[dict] | None = None

    # -- helpers ------------------------------------------------------------------------------------
    def units(self) -> dict[int, OrgUnit]:
        if self._units is None:
            self._units = {u.id: u for u in self.session.scalars(select(OrgUnit))}
        return self._units

    def county_of(self, unit_id: int | None) -> OrgUnit | None:
        """The county- or city-level government whose area holds the unit."""
        if self._counties is None:
            self._counties = {}
        if unit_id not in self._counties:
            self._counties[unit_id] = self._county_of(unit_id)
        return self._counties[unit_id]

    def _county_of(self, unit_id: int | None) -> OrgUnit | None:
        units = self.units()
        unit = units.get(unit_id) if unit_id is not None else None
        while unit is not None:
            if unit.kind == GOVERNMENT and unit.tier in ("county", "city"):
                return unit
            unit = units.get(unit.parent_id) if unit.parent_id is not None else None
        return None

    def unit_name(self, unit_id: int | None) -> str:
        unit = self.units().get(unit_id) if unit_id is not None else None
        return unit.name if unit else ""

    def county_name(self, unit_id: int | None) -> str:
        county = self.county_of(unit_id)
        return county.name if county else ""

    def procedure_names(self) -> dict[str, str]:
        """Process key → name of its latest version."""
        if self._names is None:
            self._names = {}
            for key, name in self.session.execute(select(ProcessDefinition.key, ProcessDefinition.name)
                                                  .order_by(ProcessDefinition.key, ProcessDefinition.version)):
                self._names[key] = name or key
        return self._names

    def _scoped(self, stmt):
        """Limit a statement over HumanTask to the area and the filters."""
        if self.area is not None:
            stmt = stmt.where(HumanTask.unit_id.in_(self.area) if self.area else false())
        f = self.filters
        if f.process_key:
            stmt = stmt.where(HumanTask.process_key == f.process_key)
        if f.created_from is not None:
            stmt = stmt.where(HumanTask.created_at >= f.created_from)
        if f.created_to is not None:
            stmt = stmt.where(HumanTask.created_at < f.created_to)
        return stmt

    # -- counts -------------------------------------------------------------------------------------
    def _grid(self) -> list[dict]:
        """One pass over the open tasks of the area: per (unit, procedure) the four SLA counts, the tasks nobody
        can take, and those on the overdue list. Every count on the page is a sum over these cells."""
        if self._cells is None:
            # over the open tasks only (the WHERE), so the categories need not test it again; count(*) FILTER
            # costs PostgreSQL a quarter less than sum(CASE …) over 100,000 rows
            conds = {"due_soon": _reminding(self.now), "overdue": _late(self.now), "escalated": _escalated(),
                     "unassigned": HumanTask.unassigned.is_(True), "listed": or_(_late(self.now), _escalated())}
            counts = [func.count().filter(cond).label(name) for name, cond in conds.items()]
            stmt = (select(HumanTask.unit_id, HumanTask.process_key, func.count().label("open"), *counts)
                    .select_from(HumanTask).where(is_open()).group_by(HumanTask.unit_id, HumanTask.process_key))
            names = ("unit_id", "process_key", "open", *conds)
            self._cells = [dict(zip(names, (unit_id, key, *(int(n or 0) for n in counts))))
                           for unit_id, key, *counts in self.session.execute(self._scoped(stmt))]
        return self._cells

    def _unit_row(self, unit_id: int | None) -> dict:
        unit = self.units().get(unit_id) if unit_id is not None else None
        return {"unit_id": unit_id, "code": unit.code if unit else "", "unit": unit.name if unit else "",
                "county": self.county_name(unit_id)}

    def unit_counts(self) -> list[dict]:
        """Per unit holding open tasks: open, due soon, overdue, escalated; ordered by unit code."""
        by_unit: dict = {}
        for cell in self._grid():
            row = by_unit.get(cell["unit_id"])
            if row is None:
                row = by_unit[cell["unit_id"]] = {**self._unit_row(cell["unit_id"]), **{s: 0 for s in STATES}}
            for s in STATES:
                row[s] += cell[s]
        return sorted(by_unit.values(), key=lambda row: row["code"])

    def procedure_counts(self) -> list[dict]:
        """Per procedure (the instance's process key; steps of called sub-processes count for it)."""
        names = self.procedure_names()
        by_key: dict = {}
        for cell in self._grid():
            key = cell["process_key"]
            row = by_key.get(key)
            if row is None:
                row = by_key[key] = {"process_key": key, "procedure": names.get(key, key), **{s: 0 for s in STATES}}
            for s in STATES:
                row[s] += cell[s]
        return sorted(by_key.values(), key=lambda row: row["process_key"])

    def unassigned_counts(self) -> list[dict]:
        """Per unit holding open tasks nobody can take (无人承接, waiting in the 待分派 queue): how many."""
        by_unit: dict = {}
        for cell in self._grid():
            if cell["unassigned"]:
                row = by_unit.get(cell["unit_id"])
                if row is None:
                    row = by_unit[cell["unit_id"]] = {**self._unit_row(cell["unit_id"]), "unassigned": 0}
                row["unassigned"] += cell["unassigned"]
        return sorted(by_unit.values(), key=lambda row: row["code"])

    @staticmethod
    def totals(rows: list[dict]) -> dict:
        return {s: sum(row[s] for row in rows) for s in STATES}

    # -- lists --------------------------------------------------------------------------------------
    def overdue_tasks(self) -> list[HumanTask]:
        """Open tasks that are overdue or escalated, the longest overdue first."""
        stmt = (select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .where(or_(is_overdue(self.now), is_escalated()))
                .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id))
        return list(self.session.scalars(self._scoped(stmt)))

    def overdue_count(self) -> int:
        """How many tasks the overdue list holds."""
        return sum(cell["listed"] for cell in self._grid())

    def overdue_rows(self, limit: int | None = None, offset: int = 0, stream: bool = False):
        """The overdue list as column tuples (no ORM objects), in ``overdue_tasks``' order (a total order, so
        pages read one after the other return every task once): id, instance_id, name, element_id, subject,
        unit_id, due_at, provisional, sla_state, process_key, business_key, claimed_by (display name).
        A page is chosen on the task table alone, then its rows are joined to their cases and claimants.
        ``stream``: fetched in batches as they are read (exports)."""
        order = (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id)
        chosen = self._scoped(select(HumanTask.id).where(or_(is_overdue(self.now), is_escalated())))
        chosen = chosen.order_by(*order).offset(offset).limit(limit)
        claimant = aliased(User)
        stmt = (select(HumanTask.id, HumanTask.instance_id, HumanTask.name, HumanTask.element_id, HumanTask.subject,
                       HumanTask.unit_id, HumanTask.due_at, HumanTask.provisional, HumanTask.sla_state,
                       ProcessInstance.process_key, ProcessInstance.business_key,
                       claimant.display_name.label("claimed_by"))
                .select_from(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .outerjoin(claimant, claimant.id == HumanTask.claimed_by_id).order_by(*order))
        if limit is None:                       # every row (exports): one plain scan
            stmt = self._scoped(stmt.where(or_(is_overdue(self.now), is_escalated())))
        else:
            chosen = chosen.subquery()
            stmt = stmt.join(chosen, chosen.c.id == HumanTask.id)
        if stream:
            return self.session.execute(stmt.execution_options(yield_per=2000))
        return self.session.execute(stmt).all()

    # -- handling time (平均数测算) -------------------------------------------------------------------
    def handling_times(self, factor: float = OUTLIER_FACTOR, min_units: int = OUTLIER_MIN_UNITS) -> list[HandlingRow]:
        """Average hours from offer to completion per step and unit. A unit is flagged when at least
        ``min_units`` units did the step and its average exceeds ``factor`` times the mean of those units'
        averages."""
        return self.handling_page(factor, min_units)[1]

    def handling_page(self, factor: float = OUTLIER_FACTOR, min_units: int = OUTLIER_MIN_UNITS,
                      offset: int = 0, limit: int | None = None) -> tuple[int, list[HandlingRow]]:
        """(rows in all, the rows from ``offset``, at most ``limit``) of ``handling_times``: the means and flags
        are computed over every step and unit, the row objects only for the rows asked for."""
        f = self.filters
        groups = handling_groups(self.session, self.area, f.process_key, f.created_from, f.created_to)
        # one pass: each step's label (the greatest name, whatever the unit), its units' hours summed and counted
        steps, hours = [], []
        step_names: dict[tuple, str] = {}
        sums: dict[tuple, float] = defaultdict(float)
        units_on: dict[tuple, int] = defaultdict(int)
        for g in groups:
            step = (g.process_key, g.element_id)
            name = g.name or g.element_id
            if name > step_names.get(step, ""):
                step_names[step] = name
            h = round(g.avg_seconds, 1) / 3600
            sums[step] += h
            units_on[step] += 1
            steps.append(step)
            hours.append(h)
        codes = {unit_id: unit.code for unit_id, unit in self.units().items()}
        order = sorted(range(len(groups)), key=lambda i: (steps[i][0], step_names[steps[i]],
                                                          codes.get(groups[i].unit_id, "")))
        chosen = order[offset:] if limit is None else order[offset:offset + limit]
        names = self.procedure_names()
        rows = []
        for i in chosen:
            g, h = groups[i], hours[i]
            step = (g.process_key, g.element_id)
            mean, count = sums[step] / units_on[step], units_on[step]
            ratio = h / mean if mean > 0 else None
            rows.append(HandlingRow(process_key=g.process_key, procedure=names.get(g.process_key, g.process_key),
                                    element_id=g.element_id, step=step_names[step], unit_id=g.unit_id,
                                    unit=self.unit_name(g.unit_id), county=self.county_name(g.unit_id),
                                    tasks=g.tasks, avg_hours=h, step_mean_hours=mean, units_on_step=count,
                                    ratio=ratio, flagged=count >= min_units and ratio is not None and ratio > factor))
        return len(groups), rows

    # -- pilot rounds (DOMAIN §5) ---------------------------------------------------------------------
    def pilot_status(self) -> list[PilotRow]:
        """Per running or completed reporting round and county in the area: the county's open steps, how many
        of them are overdue (or escalated), and how many times it was listed for 通报. A task is the county's
        when its subject names the county government (the round's steps carry it) or its unit lies there."""
        counties = {u.id: u for u in self.units().values() if u.kind == GOVERNMENT and u.tier == "county"
                    and (self.area is None or u.id in self.area)}
        if not counties:
            return []
        by_name = {u.name: u.id for u in counties.values()}
        late = case((or_(is_overdue(self.now), is_escalated()), 1), else_=0)
        stmt = (select(HumanTask, ProcessInstance, late.label("late"))
                .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .where(ProcessInstance.process_key == PILOT_PROCESS,
                       ProcessInstance.status.in_(("running", "completed")), HumanTask.status != "cancelled")
                .order_by(ProcessInstance.started_at, ProcessInstance.id, HumanTask.created_at, HumanTask.id))
        rows: dict[tuple[int, int], PilotRow] = {}
        for task, instance, is_late in self.session.execute(stmt):
            county_id = by_name.get(task.subject or "")
            if county_id is None:
                county = self.county_of(task.unit_id)
                county_id = county.id if county is not None and county.id in counties else None
            if county_id is None:
                continue
            row = rows.get((instance.id, county_id))
            if row is None:
                row = rows[(instance.id, county_id)] = PilotRow(
                    instance_id=instance.id, round=instance.business_key or str(instance.id),
                    instance_status=instance.status, county_id=county_id, county=counties[county_id].name)
            if task.status == "open":
                if task.name not in row.stages:
                    row.stages.append(task.name)
                row.overdue += is_late
            if (task.name or "").startswith(CIRCULAR_PREFIX):
                row.circulars += 1
        order = {iid: n for n, iid in enumerate(dict.fromkeys(iid for iid, _c in rows))}
        return sorted(rows.values(), key=lambda r: (order[r.instance_id], counties[r.county_id].code))
