"""The scheduler never stalls: a case whose state cannot be loaded, or whose process fails after its timer,
costs only its own timer row attempts and then an incident; the other timers fire and the SLA sweep runs in
the same tick; `flask scheduler --drain` ends; administrators retry or cancel incidents (page and API);
/api/health reports the last scheduler tick and the open incidents. SQLite, and PostgreSQL with
TEST_DATABASE_URL."""
from __future__ import annotations

import json
import re
import signal
from contextlib import contextmanager
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from freezegun import freeze_time
from sqlalchemy import select, text

from engine.models import AuditEvent, HumanTask, ProcessInstance, Timer, User
from engine.runtime import Runtime
from engine.tasks import TaskService
from web.extensions import db
from web.scheduler import tick

SH = ZoneInfo("Asia/Shanghai")
HANDLER = "guan_scjg_handler"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def iso(dt: datetime) -> str:
    """How the API writes a time: ISO 8601 in UTC."""
    return dt.astimezone(timezone.utc).isoformat()


def user(name: str) -> User:
    return db.session.query(User).filter_by(username=name).one()


def start(ctx, key: str, business_key: str, data: dict | None = None, who: str = HANDLER) -> int:
    starter = user(who)           # started by the platform for the user's unit: timer inputs are start data
    instance = Runtime(db.session, ctx.extensions["clock"]).start(key, business_key=business_key, data={
        "initiator": starter.username, "case_unit": starter.unit.code, **(data or {})})
    db.session.commit()
    return instance.id


def state_of(instance_id: int) -> str:
    return db.session.execute(text("SELECT state FROM process_instances WHERE id = :id"), {"id": instance_id}).scalar()


def set_state(instance_id: int, state: str) -> None:
    db.session.execute(text("UPDATE process_instances SET state = :s WHERE id = :id"), {"s": state, "id": instance_id})
    db.session.commit()


def nested(depth: int):
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def poison(instance_id: int, how: str) -> str:
    """Damage an instance's stored state the way it happens in production; returns the intact state.
    ``truncated``: a half-written state (invalid JSON); ``deep``: case data nested 600 levels (the API used
    to accept it), which loading fails on with RecursionError; ``dissolved``: the case's unit code no longer
    exists, so the step after the timer cannot be routed (an engine error)."""
    intact = state_of(instance_id)
    if how == "truncated":
        set_state(instance_id, intact[: len(intact) // 2])
    elif how == "deep":
        state = json.loads(intact)
        state["data"] = {**state.get("data", {}), "attachment_index": nested(600)}
        set_state(instance_id, json.dumps(state))
    elif how == "dissolved":
        set_state(instance_id, intact.replace('"case_unit":"lf.guan.scjg"', '"case_unit":"lf.guan.dissolved"'))
    return intact


def timer_of(instance_id: int) -> Timer:
    db.session.expire_all()
    return db.session.scalars(select(Timer).where(Timer.instance_id == instance_id).order_by(Timer.id.desc())).first()


def status_of(instance_id: int) -> str:
    db.session.expire_all()
    return db.session.get(ProcessInstance, instance_id).status


def run_tick(ctx):
    db.session.commit()            # the scheduler has its own session: end ours (on SQLite: the write lock)
    report = tick(ctx)
    db.session.expire_all()
    return report


@contextmanager
def watchdog(seconds: int):
    """Fail instead of hanging when the code under test loops forever."""
    def _alarm(_signum, _frame):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_one_poisoned_case_among_fifty_does_not_stop_the_others_nor_the_sla_sweep(ctx, client, monkeypatch):
    monkeypatch.setitem(ctx.config, "SCHEDULER_EXPECTED", True)
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        fire_at = iso(at(2026, 6, 11, 9, 0))
        ids = [start(ctx, "wait_timer", f"BULK-{n:02d}", {"fire_at": fire_at}) for n in range(50)]
        poisoned = ids[0]                       # the first row the scheduler claims
        poison(poisoned, "deep")
        # an open review whose deadline (7 working days: 10 June 23:59:59) passes before the timers fall due
        review_case = start(ctx, "two_lane_review", "SLA-1", who="guan_guanzhen_handler")
        [submit] = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == review_case)).all()
        TaskService(db.session, ctx.extensions["clock"]).complete(user("guan_guanzhen_handler"), submit.id, {})
        db.session.commit()
        [review] = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == review_case,
                                                              HumanTask.status == "open")).all()
        assert (review.sla_state, review.due_at) == ("on_time", at(2026, 6, 10, 23, 59, 59))

        frozen.move_to(at(2026, 6, 11, 10, 0))
        report = run_tick(ctx)
        assert (report.fired_instances, report.failures, report.incidents, report.ok) == (49, 1, 0, True)
        assert [status_of(i) for i in ids[1:]] == ["completed"] * 49
        assert status_of(poisoned) == "running"
        assert db.session.get(HumanTask, review.id).sla_state == "overdue"       # the sweep ran in that tick
        row = timer_of(poisoned)
        assert (row.status, row.attempts, row.incident_at) == ("waiting", 1, None)
        assert row.next_attempt_at == at(2026, 6, 11, 10, 1)                     # backoff: 1 minute
        assert row.last_error["msgid"] == "The case data is nested too deeply to be processed"
        assert row.last_error_class == "RecursionError"
        assert row.first_failed_at == row.last_failed_at == at(2026, 6, 11, 10, 0)

        assert run_tick(ctx).claimed == 0                                          # not due again yet
        frozen.move_to(at(2026, 6, 11, 10, 1))
        assert run_tick(ctx).failures == 1
        row = timer_of(poisoned)
        assert (row.attempts, row.next_attempt_at) == (2, at(2026, 6, 11, 10, 3))  # then 2 minutes
        frozen.move_to(at(2026, 6, 11, 10, 2))
        assert run_tick(ctx).claimed == 0
        frozen.move_to(at(2026, 6, 11, 10, 3))
        report = run_tick(ctx)
        assert (report.failures, report.incidents) == (1, 1)
        row = timer_of(poisoned)
        assert (row.status, row.attempts, row.incident_at, row.next_attempt_at) == (
            "waiting", 3, at(2026, 6, 11, 10, 3), None)
        assert row.first_failed_at == at(2026, 6, 11, 10, 0) and row.last_failed_at == at(2026, 6, 11, 10, 3)
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "timer_incident")).all()
        assert (event.instance_id, event.data["attempts"], event.data["name"]) == (poisoned, 3, "等待到期")

        frozen.move_to(at(2026, 6, 12, 10, 0))                                    # an incident waits for an admin
        assert run_tick(ctx).claimed == 0
        assert timer_of(poisoned).attempts == 3
        health = client.get("/api/health").get_json()
        assert health["incidents"] == 1 and health["status"] == "warning"
        assert health["scheduler"] == {"last_tick_at": iso(at(2026, 6, 12, 10, 0)),
                                       "last_attempted_tick_at": iso(at(2026, 6, 12, 10, 0)),
                                       "stale": False, "max_age_seconds": 15}
        assert any("1" in w and "管理员" in w for w in health["warnings"]), health["warnings"]


def test_drain_ends_with_a_small_batch_and_five_failing_timers(ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "SCHEDULER_BATCH_SIZE", 2)
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        reviews = [start(ctx, "timed_review", f"DISSOLVED-{n}") for n in range(3)]
        fire_at = {"fire_at": iso(at(2026, 6, 11, 9, 0))}
        truncated, deep, healthy = (start(ctx, "wait_timer", key, fire_at) for key in ("HALF", "DEEP", "OK"))
        frozen.move_to(at(2026, 6, 9, 9, 0))                     # the reminders (5th working day) fire normally
        assert run_tick(ctx).fired_instances == 3
        for instance_id in reviews:                              # then the county's bureau is reorganised
            poison(instance_id, "dissolved")
        poison(truncated, "truncated")
        poison(deep, "deep")

        frozen.move_to(at(2026, 6, 11, 10, 0))                   # escalations and waits are due: 5 of 6 fail
        runner = ctx.test_cli_runner()
        db.session.commit()
        with watchdog(120):
            result = runner.invoke(args=["scheduler", "--drain"])
        assert result.exit_code == 0, result.output
        assert "fired 1 instances" in result.output and "5 failures" in result.output, result.output
        assert status_of(healthy) == "completed"
        failing = [timer_of(i) for i in reviews + [truncated, deep]]
        assert [(t.attempts, t.next_attempt_at) for t in failing] == [(1, at(2026, 6, 11, 10, 1))] * 5
        # the routing helper's own message (in the reader's language when shown), not the expression's code
        assert {t.last_error["msgid"] for t in failing[:3]} == {"Unknown unit: %(code)s"}
        assert "lf.guan.dissolved" in failing[0].last_error["detail"], failing[0].last_error
        assert failing[3].last_error["msgid"] == "The stored state of the case is damaged and cannot be read"
        assert failing[3].last_error_class == "json.decoder.JSONDecodeError"
        assert failing[4].last_error["msgid"] == "The case data is nested too deeply to be processed"
        # the reviews of the failing escalations still became overdue: the SLA sweep ran
        assert {t.sla_state for t in db.session.scalars(select(HumanTask).where(
            HumanTask.instance_id.in_(reviews), HumanTask.status == "open"))} == {"overdue"}

        db.session.commit()
        with watchdog(120):
            again = runner.invoke(args=["scheduler", "--drain"])
        assert again.exit_code == 0 and "fired 0 instances" in again.output and "0 failures" in again.output


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _sign_in(client, username: str) -> None:
    client.post("/login", data={"csrf_token": _csrf(client.get("/login")), "username": username,
                                "password": "demo1234"})


def test_administrators_retry_and_cancel_incidents_on_the_page_and_the_api(ctx, client, token, monkeypatch):
    monkeypatch.setitem(ctx.config, "SCHEDULER_MAX_ATTEMPTS", 1)
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        fire_at = {"fire_at": iso(at(2026, 6, 2, 9, 0))}
        fixed, dropped = start(ctx, "wait_timer", "固市监罚〔2026〕7号", fire_at), start(ctx, "wait_timer", "固市监罚〔2026〕8号", fire_at)
        intact = {i: poison(i, "truncated") for i in (fixed, dropped)}
        frozen.move_to(at(2026, 6, 2, 9, 30))
        assert run_tick(ctx).incidents == 2
        fixed_timer, dropped_timer = timer_of(fixed).id, timer_of(dropped).id

        # the API: administrators only
        assert client.get("/api/incidents", headers=token("guan_review")).status_code == 403
        assert client.post(f"/api/incidents/{fixed_timer}/retry", headers=token("guan_review")).status_code == 403
        listed = client.get("/api/incidents", headers=token("admin")).get_json()["incidents"]
        assert [(i["business_key"], i["process_name"], i["step"], i["attempts"], i["error"]) for i in listed] == [
            ("固市监罚〔2026〕7号", "定时等待测试", "等待到期", 1, "案件的流程状态数据已损坏，无法读取"),
            ("固市监罚〔2026〕8号", "定时等待测试", "等待到期", 1, "案件的流程状态数据已损坏，无法读取")]
        assert listed[0]["error_class"] == "json.decoder.JSONDecodeError"
        assert listed[0]["due_at"] == iso(at(2026, 6, 2, 9, 0))
        assert listed[0]["first_failed_at"] == listed[0]["last_failed_at"] == iso(at(2026, 6, 2, 9, 30))

        # the page: nobody but administrators sees it or the link
        _sign_in(client, HANDLER)
        assert client.get("/admin/incidents").status_code == 403
        assert "/admin/incidents" not in client.get("/").get_data(as_text=True)
        client.post("/logout", data={"csrf_token": _csrf(client.get("/"))})
        _sign_in(client, "admin")
        page = client.get("/admin/incidents")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "异常定时任务" in html and 'id="count-incidents">2<' in html
        for shown in ("固市监罚〔2026〕7号", "定时等待测试", "等待到期", "案件的流程状态数据已损坏，无法读取",
                      "2026-06-02 09:00", "2026-06-02 09:30", "重试", "取消定时"):
            assert shown in html, shown
        for hidden in ("wait_timer", "w_wait", "JSONDecodeError", "Retry"):
            assert hidden not in html, hidden
        assert client.post(f"/admin/incidents/{fixed_timer}/retry").status_code == 400       # no CSRF token

        # the cause removed, the administrator retries: the next tick fires the timer
        set_state(fixed, intact[fixed])
        resp = client.post(f"/admin/incidents/{fixed_timer}/retry", data={"csrf_token": _csrf(page)},
                           follow_redirects=True)
        assert resp.status_code == 200 and "固市监罚〔2026〕7号" in resp.get_data(as_text=True)
        row = timer_of(fixed)
        assert (row.status, row.attempts, row.incident_at, row.next_attempt_at) == ("waiting", 0, None, None)
        assert run_tick(ctx).fired_instances == 1
        assert status_of(fixed) == "completed" and timer_of(fixed).status == "fired"

        # the other one is cancelled through the API: it never fires, and the case keeps its record
        case_page = client.get(f"/cases/{dropped}")
        assert case_page.status_code == 200 and "定时任务多次失败" in case_page.get_data(as_text=True)
        client.post("/logout", data={"csrf_token": _csrf(client.get("/"))})
        assert client.post(f"/api/incidents/{dropped_timer}/cancel", headers=token("guan_sup")).status_code == 403
        resp = client.post(f"/api/incidents/{dropped_timer}/cancel", headers=token("admin"))
        assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
        assert client.post(f"/api/incidents/{dropped_timer}/cancel", headers=token("admin")).status_code == 404
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id.in_((fixed, dropped)),
                                                             AuditEvent.action.like("timer_incident_%"))
                                    .order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor, e.instance_id) for e in events] == [
            ("timer_incident_retried", "admin", fixed), ("timer_incident_cancelled", "admin", dropped)]
        assert client.get("/api/incidents", headers=token("admin")).get_json()["incidents"] == []
        assert client.get("/api/health").get_json()["incidents"] == 0

        # repaired later, the case moves on without bringing the cancelled timer back
        set_state(dropped, intact[dropped])
        runtime = Runtime(db.session, ctx.extensions["clock"])
        instance = db.session.get(ProcessInstance, dropped)
        runtime.advance(instance, runtime.load(instance), actor="admin")
        db.session.commit()
        assert [t.status for t in db.session.scalars(select(Timer).where(Timer.instance_id == dropped))] == ["cancelled"]
        assert run_tick(ctx).claimed == 0 and status_of(dropped) == "running"


def test_health_reports_the_last_scheduler_tick(ctx, client, monkeypatch):
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        health = client.get("/api/health").get_json()            # tests expect no scheduler: nothing to say
        assert health["status"] == "ok" and health["scheduler"]["stale"] is False and health["incidents"] == 0
        monkeypatch.setitem(ctx.config, "SCHEDULER_EXPECTED", True)
        health = client.get("/api/health").get_json()
        assert health["status"] == "warning" and health["scheduler"]["stale"] is True
        assert health["scheduler"]["last_tick_at"] is None
        assert "定时任务调度" in health["warnings"][0]

        run_tick(ctx)
        health = client.get("/api/health").get_json()
        assert health == {"status": "ok", "warnings": [], "incidents": 0,
                          "scheduler": {"last_tick_at": iso(at(2026, 6, 1, 9, 0)),
                                        "last_attempted_tick_at": iso(at(2026, 6, 1, 9, 0)),
                                        "stale": False, "max_age_seconds": 15}}
        frozen.move_to(at(2026, 6, 1, 9, 0, 15))                 # three poll intervals: still fresh
        assert client.get("/api/health").get_json()["scheduler"]["stale"] is False
        frozen.move_to(at(2026, 6, 1, 9, 0, 16))
        health = client.get("/api/health").get_json()
        assert health["status"] == "warning" and health["scheduler"]["stale"] is True
