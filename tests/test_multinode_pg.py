"""Issue 13 §3: two gunicorn nodes on different ports and two `flask scheduler` processes against one
PostgreSQL, started as an operator starts them (production configuration, JSON logs). A case started on
node A is completed on node B; the attachment uploaded on A downloads on B byte-identical; due timers fire
exactly once between the two schedulers (audit rows and the schedulers' log lines). Prints its figures."""
from __future__ import annotations

import os
import statistics
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import delete, func, select

from engine.models import Attachment, AuditEvent, CalendarYear, ProcessInstance, SchedulerHeartbeat, Timer
from web.extensions import db

from .servers import Client, csrf, gunicorn, production_env, scheduler, wait_healthy
from .test_scheduler_pg import _due_timers

SUP, BUREAU, HANDLER, UNIT = "guan_sup", "lf.guan.sfj", "guan_scjg_handler", "lf.guan.scjg"
NOTICE = {"notice_unit": UNIT, "notice_kind": "notice", "notice_issues": "行政处罚决定书未载明救济途径"}
ISSUE = {"notice_number": "固司监〔2026〕9号", "notice_content": "限期整改并书面回复"}
CONTENT = os.urandom(1024 * 1024) + "整改报告（节点 A 上传）".encode()
N_TIMERS = 200


@pytest.fixture
def pg(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL): several nodes share one PostgreSQL")
    return ctx


@pytest.fixture
def calendar_ahead(pg):
    """The real clock runs here: make sure this year and the next are in the working-day calendar."""
    year = datetime.now(timezone.utc).year
    added = [y for y in (year, year + 1) if db.session.get(CalendarYear, y) is None]
    for y in added:
        db.session.add(CalendarYear(year=y, source="test"))
    db.session.commit()
    yield
    db.session.rollback()
    if added:
        db.session.execute(delete(CalendarYear).where(CalendarYear.year.in_(added)))
        db.session.commit()


def _open_task(node: Client, case_id: int, name: str, headers: dict) -> dict:
    answer = node.get(f"/api/instances/{case_id}", headers=headers)
    assert answer.status == 200, answer.text
    named = [t for t in answer.json()["open_tasks"] if t["name"] == name]
    assert len(named) == 1, answer.json()["open_tasks"]
    return named[0]


def _wait_for(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.2)
    return time.monotonic() - started


def _wait_timer_counts() -> tuple[int, int, int]:
    """(timers fired, timer_fired audit rows, instances with one) of the wait_timer cases."""
    db.session.rollback()
    ids = select(ProcessInstance.id).where(ProcessInstance.process_key == "wait_timer")
    fired = db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired",
                                                                            Timer.instance_id.in_(ids)))
    audit = select(AuditEvent).where(AuditEvent.action == "timer_fired", AuditEvent.instance_id.in_(ids))
    rows = db.session.scalar(select(func.count()).select_from(audit.subquery()))
    distinct = db.session.scalar(select(func.count(func.distinct(AuditEvent.instance_id)))
                                 .where(AuditEvent.action == "timer_fired", AuditEvent.instance_id.in_(ids)))
    return fired, rows, distinct


@pytest.mark.realtime
def test_two_nodes_and_two_schedulers_share_one_postgresql(pg, db_url, token, tmp_path, calendar_ahead, figures):
    env = production_env(db_url, SCHEDULER_POLL_SECONDS="1", SCHEDULER_BATCH_SIZE="25")
    sup, handler = token(SUP), token(HANDLER)
    db.session.commit()
    procs = []
    launched = time.monotonic()
    try:
        a_proc, node_a = gunicorn("node-a", env, tmp_path)
        b_proc, node_b = gunicorn("node-b", env, tmp_path)
        schedulers = [scheduler("scheduler-1", env, tmp_path), scheduler("scheduler-2", env, tmp_path)]
        procs = [a_proc, b_proc, *schedulers]
        boot = {"node-a": wait_healthy(a_proc, node_a), "node-b": wait_healthy(b_proc, node_b)}
        _wait_for(lambda: db.session.rollback() or db.session.scalar(
            select(func.count()).select_from(SchedulerHeartbeat).where(SchedulerHeartbeat.last_ok_at.is_not(None)))
            == 2, 90, "both schedulers tick")
        boot["schedulers"] = time.monotonic() - launched

        # -- a case started on node A (API), its reply with an attachment uploaded on A (page) ----------
        started = node_a.post("/api/instances", headers=sup, json_body={
            "process_key": "supervision_notice", "business_key": "JD-NODES-1", "data": NOTICE})
        assert started.status == 201, started.text
        case_id = started.json()["id"]
        issue = _open_task(node_a, case_id, "制发监督文书", sup)
        issued = node_a.post(f"/api/tasks/{issue['id']}/complete", headers=sup, json_body={"data": ISSUE})
        assert issued.status == 200, issued.text
        reply = _open_task(node_a, case_id, "整改并书面回复", handler)
        page = Client(node_a.base)
        page.sign_in(HANDLER)
        form = page.get(f"/tasks/{reply['id']}")
        uploaded = page.post(f"/tasks/{reply['id']}/complete", form={
            "csrf_token": csrf(form.text),
            "rectification_measures": "已补正救济途径"}, files={"reply_files__upload": ("整改报告.pdf", CONTENT)})
        assert uploaded.status == 302, uploaded.text[:1000]

        # -- completed on node B; the attachment downloads on B with the session signed in on A ----------
        check = _open_task(node_b, case_id, "审查整改回复", sup)
        completed = node_b.post(f"/api/tasks/{check['id']}/complete", headers=sup,
                                json_body={"data": {"reply_accepted": True}})
        assert completed.status == 200, completed.text
        assert node_a.get(f"/api/instances/{case_id}", headers=sup).json()["status"] == "completed"
        db.session.rollback()
        attachment_id = db.session.scalar(select(Attachment.id).where(      # not the issued 督办通知书
            Attachment.instance_id == case_id, Attachment.filename == "整改报告.pdf"))
        download = Client(node_b.base, cookies=dict(page.cookies)).get(f"/documents/{attachment_id}")
        assert download.status == 200 and download.body == CONTENT

        # -- timers due in two seconds fire exactly once between the two schedulers ---------------------
        due_at = _due_timers(pg, N_TIMERS)
        fire_seconds = _wait_for(lambda: _wait_timer_counts()[0] == N_TIMERS, 240, f"{N_TIMERS} timers fire")
        time.sleep(2.5)                          # a few more polls: nothing fires a second time
        assert _wait_timer_counts() == (N_TIMERS, N_TIMERS, N_TIMERS)
        twice = db.session.execute(select(AuditEvent.instance_id).where(AuditEvent.action == "timer_fired")
                                   .group_by(AuditEvent.instance_id).having(func.count() > 1)).all()
        assert twice == []

        health = [node.get("/api/health").json()["scheduler"] for node in (node_a, node_b)]
        assert [h["stale"] for h in health] == [False, False]
        metrics = node_b.get("/metrics").text
        assert "supervision_timers_due 0.0" in metrics and "supervision_timer_incidents 0.0" in metrics
    finally:
        for proc in procs:
            proc.stop()

    by_scheduler: dict[str, set[int]] = {}
    for proc in schedulers:
        for line in proc.json_lines():
            if line.get("logger") == "engine.jobs" and line["message"].endswith(": fired"):
                assert line["scheduler"] == proc.name and line["timer_id"]
                by_scheduler.setdefault(proc.name, set()).add(line["instance_id"])
    fired_instances = [i for ids in by_scheduler.values() for i in ids]
    assert len(fired_instances) == N_TIMERS == len(set(fired_instances))       # each by one scheduler, once
    requests_logged = sum(1 for proc in (a_proc, b_proc) for line in proc.json_lines()
                          if line.get("logger") == "web.request" and line.get("request_id"))
    assert requests_logged >= 10

    lateness = sorted((t.fired_at - t.due_at).total_seconds() for t in db.session.scalars(
        select(Timer).where(Timer.status == "fired", Timer.instance_id.in_(
            select(ProcessInstance.id).where(ProcessInstance.process_key == "wait_timer")))))
    split = ", ".join(f"{name} {len(ids)}" for name, ids in sorted(by_scheduler.items()))
    figures(f"two nodes + two schedulers on PostgreSQL: boot node A {boot['node-a']:.1f} s, node B "
            f"{boot['node-b']:.1f} s, both schedulers ticking {boot['schedulers']:.1f} s after launch\n"
            f"  case started on A {started.seconds * 1000:.0f} ms, reply with {len(CONTENT) // 1024} kB attachment "
            f"uploaded on A {uploaded.seconds * 1000:.0f} ms, completed on B {completed.seconds * 1000:.0f} ms, "
            f"downloaded on B {download.seconds * 1000:.0f} ms (byte-identical)\n"
            f"  {N_TIMERS} timers due at {due_at:%H:%M:%S}: all fired once {fire_seconds:.1f} s after creation "
            f"({split}); due → fired median {statistics.median(lateness):.1f} s, max {lateness[-1]:.1f} s; "
            f"{requests_logged} request log lines with request ids")
