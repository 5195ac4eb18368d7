"""Issue 14 (scale): the handling-time rollup equals a direct count over the tasks, and every paged list —
the dashboard's overdue list, the inbox tabs, /api/tasks — returns each row exactly once across its pages."""
from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from engine.analytics.rollups import (MONTH, NO_UNIT, YEAR, HandlingRollup, direct_groups, handling_groups, rebuild,
                                      record_completion)
from engine.dashboard import Dashboard, Filters
from engine.models import HumanTask, OrgUnit, ProcessDefinition, ProcessInstance, User
from web.extensions import db

from .test_dashboard import county_area, signed_in

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 1, 1, 0, tzinfo=timezone.utc)
HANDLER, HANDLER_UNIT = "guan_scjg_handler", "lf.guan.scjg"


def _unit(code: str) -> int:
    return db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))


def seed_mix(n_instances: int = 60, seed: int = 14) -> dict:
    """Instances of two procedures with open and completed tasks over several units (one task without a unit),
    offers spread over 14 months around month ends in Shanghai time, equal due times (ties for paging) and
    completions by the handler. Completed tasks go into the rollup as TaskService.complete does."""
    rnd = random.Random(seed)
    definitions = db.session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.id).limit(2)).all()
    units = [_unit(c) for c in (HANDLER_UNIT, "lf.sanhe.scjg", "lf.anci.scjg", "lf.guan.guanzhen.zfd")] + [None]
    handler = db.session.scalar(select(User).where(User.username == HANDLER))
    handler_unit = _unit(HANDLER_UNIT)
    same_due = NOW - timedelta(days=3)
    completed = []
    for i in range(n_instances):
        definition = definitions[i % len(definitions)]
        instance = ProcessInstance(definition_id=definition.id, process_key=definition.key, business_key=f"R-{i:03d}",
                                   status="running", unit_id=handler_unit, started_by=HANDLER,
                                   started_at=NOW - timedelta(days=400), state="{}", version=1)
        db.session.add(instance)
        db.session.flush()
        for j in range(6):
            # 00:30 or 07:30 local on the 1st of a month is still the previous month in UTC
            base = datetime(2025, 4, 1, tzinfo=SH) + timedelta(days=rnd.randrange(0, 420))
            created = base.replace(hour=rnd.choice([0, 7, 12, 23]), minute=30)
            unit = rnd.choice(units)
            task = HumanTask(id=str(uuid.uuid4()), instance_id=instance.id, element_id=f"step_{j % 3}",
                             name=rnd.choice([f"第{j % 3}步", f"第{j % 3}步（改）", None]), role_code="handler",
                             unit_id=unit, created_at=created, status="open")
            if j < 4:
                task.status = "completed"
                task.completed_at = created + timedelta(hours=rnd.randrange(1, 200), minutes=rnd.randrange(60))
                task.completed_by_id = handler.id
            else:
                task.unit_id = handler_unit if j == 4 else unit
                task.due_at = same_due if i % 3 else NOW + timedelta(days=2)
                task.sla_state = "escalated" if i % 7 == 0 else "on_time"
            db.session.add(task)
            if task.status == "completed":
                completed.append((task, definition.key))
    db.session.flush()
    for task, key in completed:
        record_completion(db.session, task, key)
    db.session.commit()
    return {"handler": handler}


def _as_dict(groups) -> dict:
    return {(g.process_key, g.element_id, g.unit_id): (g.tasks, round(g.seconds, 3), g.name) for g in groups}


def _rollup_rows() -> set:
    return {(r.process_key, r.element_id, r.unit_id, r.span, r.month, r.tasks, round(r.seconds, 3), r.name)
            for r in db.session.scalars(select(HandlingRollup))}


def test_the_rollup_equals_a_direct_count(ctx):
    seed_mix()
    # task rows written without their procedure take their case's (what the dashboard counts by)
    pairs = {(t.process_key, t.instance.process_key) for t in db.session.scalars(select(HumanTask))}
    assert len(pairs) >= 2 and all(own == case for own, case in pairs)
    kept = _rollup_rows()                       # maintained completion by completion
    assert kept and any(r[2] == NO_UNIT for r in kept) and {r[3] for r in kept} == {MONTH, YEAR}
    assert rebuild(db.session) == len(kept)     # … equals the rollup rebuilt from the tasks
    assert _rollup_rows() == kept
    keys = sorted({k for k, *_ in kept})
    windows = [(None, None),
               (datetime(2026, 1, 1, tzinfo=SH), None),                                   # whole months
               (None, datetime(2025, 11, 1, tzinfo=SH)),
               (datetime(2025, 6, 17, tzinfo=SH), datetime(2026, 2, 3, tzinfo=SH)),      # edge days
               (datetime(2025, 9, 3, tzinfo=SH), datetime(2025, 9, 20, tzinfo=SH)),      # inside one month
               (datetime(2025, 9, 30, 16, tzinfo=timezone.utc), datetime(2025, 12, 1, tzinfo=SH)),
               (datetime(2026, 3, 1, tzinfo=SH), datetime(2026, 3, 1, tzinfo=SH)),
               (None, datetime(2026, 3, 1, tzinfo=SH)),                                   # a year and months
               (datetime(2025, 1, 1, tzinfo=SH), datetime(2026, 1, 1, tzinfo=SH)),       # one whole year
               (datetime(2024, 12, 20, tzinfo=SH), datetime(2026, 4, 9, tzinfo=SH))]
    areas = [None, county_area("lf.guan"), county_area("lf.sanhe"), set()]
    checked = 0
    for start, end in windows:
        for area in areas:
            for key in [None] + keys:
                want = _as_dict(direct_groups(db.session, area, key, start, end))
                assert _as_dict(handling_groups(db.session, area, key, start, end)) == want, (start, end, key)
                checked += bool(want)
    assert checked > 10
    # and through the dashboard: the figures of every unit equal the tasks' own
    rows = Dashboard(db.session, NOW, None).handling_times()
    for row in rows:
        tasks = db.session.scalars(select(HumanTask).join(ProcessInstance).where(
            HumanTask.status == "completed", HumanTask.element_id == row.element_id,
            ProcessInstance.process_key == row.process_key,
            HumanTask.unit_id.is_(None) if row.unit_id is None else HumanTask.unit_id == row.unit_id)).all()
        assert row.tasks == len(tasks)
        assert abs(row.avg_hours - sum((t.completed_at - t.created_at).total_seconds() for t in tasks)
                   / len(tasks) / 3600) < 0.001


def test_the_handling_table_equals_a_computation_from_the_groups_and_pages_every_row_once(ctx):
    """The dashboard's handling-time table — each step's label (its greatest name, in code point order), the
    units doing it, the mean of their averages, the flags and the order (procedure, step, unit code) —
    equals the same computed here from the groups, over a window with several sources (year and month rows,
    edge days), and its pages return every row once."""
    seed_mix()
    start = datetime(2025, 6, 17, tzinfo=SH)                     # month rows and edge days: several sources
    for area, factor, min_units in ((None, 1.5, 3), (None, 1.1, 2), (county_area("lf.guan"), 1.2, 1)):
        d = Dashboard(db.session, NOW, area, Filters(created_from=start))
        groups = handling_groups(db.session, area, None, start, None)
        label, units_on, sums = {}, {}, {}
        for g in groups:
            step = (g.process_key, g.element_id)
            label[step] = max(label.get(step, ""), g.name or g.element_id)
            units_on[step] = units_on.get(step, 0) + 1
            sums[step] = sums.get(step, 0.0) + round(g.seconds / g.tasks, 1) / 3600
        codes = {u.id: u.code for u in db.session.scalars(select(OrgUnit))}
        want = sorted(((g.process_key, label[(g.process_key, g.element_id)], codes.get(g.unit_id, "")), g)
                      for g in groups)
        total, rows = d.handling_page(factor, min_units)
        assert total == len(groups) == len(rows) > 5
        assert [(r.process_key, r.step, codes.get(r.unit_id, "")) for r in rows] == [k for k, _ in want]
        for r, (_, g) in zip(rows, want):
            step = (g.process_key, g.element_id)
            mean = sums[step] / units_on[step]
            assert (r.unit_id, r.tasks, r.units_on_step) == (g.unit_id, g.tasks, units_on[step])
            assert r.avg_hours == pytest.approx(round(g.seconds / g.tasks, 1) / 3600, abs=1e-4)
            assert r.step_mean_hours == pytest.approx(mean, abs=1e-4)
            assert r.flagged == (units_on[step] >= min_units and r.avg_hours / mean > factor)
        assert any(r.flagged for r in rows) or factor > 1.2
        for size in (1, 7, 50):
            paged = [(r.process_key, r.element_id, r.unit_id) for offset in range(0, total + size, size)
                     for r in d.handling_page(factor, min_units, offset=offset, limit=size)[1]]
            assert paged == [(r.process_key, r.element_id, r.unit_id) for r in rows]
        assert d.handling_page(factor, min_units, offset=total + 10, limit=5) == (total, [])


def test_the_overdue_list_pages_return_every_task_once(ctx):
    seed_mix()
    d = Dashboard(db.session, NOW, None)
    every = [t.id for t in d.overdue_tasks()]
    assert len(every) > 25 and d.overdue_count() == len(every)
    for size in (1, 7, 50):
        paged = [r.id for offset in range(0, len(every) + size, size)
                 for r in d.overdue_rows(limit=size, offset=offset)]
        assert paged == every
    # the page: 50 a page, links to every task once across the pages
    with freeze_time(NOW):
        client = signed_in(ctx, "city_sup")
        seen, page = [], 1
        while True:
            body = client.get(f"/dashboard?overdue_page={page}").get_data(as_text=True)
            section = body[body.index('id="overdue-table"'):body.index('id="section-handling"')]
            seen += re.findall(r'href="/tasks/([0-9a-f-]{36})"', section)
            if 'rel="next"' not in section:
                break
            page += 1
    area = county_area("lf")
    assert sorted(seen) == sorted(t.id for t in d.overdue_tasks() if t.unit_id in area)
    assert page == (len(seen) + 49) // 50 >= 1


def test_inbox_tabs_and_the_api_page_every_task_once(ctx, client, token):
    seed_mix(45)
    from web.services import tasks
    handler = db.session.scalar(select(User).where(User.username == HANDLER))
    svc = tasks()
    for tab in ("group", "overdue", "done"):
        whole, total = svc.inbox(handler, tab, now=NOW, page=1, per_page=200)
        assert total == len(whole) > 10, tab
        for size in (3, 20):
            paged = []
            for page in range(1, total // size + 2):
                rows, n = svc.inbox(handler, tab, now=NOW, page=page, per_page=size)
                assert n == total
                paged += [t.id for t in rows]
            assert paged == [t.id for t in whole], (tab, size)
    for status in ("open", "completed"):
        first = client.get(f"/api/tasks?status={status}&limit=500", headers=token(HANDLER)).get_json()
        ids = [t["id"] for t in first["tasks"]]
        assert first["total"] == len(ids) > 10
        paged = []
        for offset in range(0, len(ids), 7):
            body = client.get(f"/api/tasks?status={status}&limit=7&offset={offset}", headers=token(HANDLER)).get_json()
            assert body["total"] == len(ids)
            paged += [t["id"] for t in body["tasks"]]
        assert paged == ids
