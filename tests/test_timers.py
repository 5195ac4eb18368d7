"""Timers and SLAs with frozen time on the real engine and database (DOMAIN §6 working days)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from engine.jobs import run_due_timers, sweep_sla
from engine.models import AuditEvent, HumanTask, Notification, ProcessInstance, Timer, User
from engine.runtime import Runtime
from engine.tasks import TaskService
from web import create_app
from web.extensions import db
from web.scheduler import tick

SH = ZoneInfo("Asia/Shanghai")
HANDLER = "guan_scjg_handler"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def user(name: str) -> User:
    return db.session.query(User).filter_by(username=name).one()


def start(ctx, key: str, data=None, who=HANDLER) -> ProcessInstance:
    """Started by the platform for ``who``'s unit: the test processes take their timer inputs as start data,
    which a person may not give a procedure without a start form."""
    rt = Runtime(db.session, ctx.extensions["clock"])
    starter = user(who)
    instance = rt.start(key, business_key="T-1", data={"initiator": starter.username,
                                                      "case_unit": starter.unit.code, **(data or {})})
    db.session.commit()
    return instance


def fired(instance_id: int) -> list[str]:
    return [e.data["element_id"] for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id == instance_id, AuditEvent.action == "timer_fired").order_by(AuditEvent.seq))]


def open_tasks(instance_id: int) -> list[HumanTask]:
    db.session.expire_all()
    return list(db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                           HumanTask.status == "open")))


def run(ctx):
    report = run_due_timers(db.session, ctx.extensions["clock"])
    db.session.expire_all()
    return report


def test_seven_working_day_boundary_timer_over_national_day(ctx):
    with freeze_time(at(2022, 9, 29, 10, 0)) as frozen:
        instance = start(ctx, "timed_review")
        [review] = open_tasks(instance.id)
        assert review.due_at == at(2022, 10, 13, 23, 59, 59)
        assert review.remind_at == at(2022, 10, 11, 23, 59, 59)
        # (only this case's: the app fixture parks a timer-started procedure at its start event)
        timers = {t.element_id: t.due_at for t in db.session.scalars(select(Timer).where(
            Timer.instance_id == instance.id))}
        assert timers == {"overdue": at(2022, 10, 13, 23, 59, 59), "remind": at(2022, 10, 11, 23, 59, 59)}
        assert db.session.get(ProcessInstance, instance.id).next_timer_at == at(2022, 10, 11, 23, 59, 59)

        frozen.move_to(at(2022, 10, 10, 12, 0))          # a weekend-only count would end here
        run(ctx)
        assert fired(instance.id) == []

        frozen.move_to(at(2022, 10, 12, 0, 0, 1))        # past the reminder point (5th working day: 10-11)
        run(ctx)
        run(ctx)
        assert fired(instance.id) == ["remind"]
        [still] = open_tasks(instance.id)
        assert still.id == review.id                     # non-interrupting: the review goes on

        frozen.move_to(at(2022, 10, 13, 23, 59, 58))     # not yet
        run(ctx)
        assert fired(instance.id) == ["remind"]

        frozen.move_to(at(2022, 10, 14, 0, 0, 1))
        run(ctx)
        run(ctx)
        assert fired(instance.id) == ["remind", "overdue"]
        [supervise] = open_tasks(instance.id)
        assert (supervise.name, supervise.role_code, supervise.unit.code) == ("逾期督办", "supervision_officer",
                                                                               "lf.guan.sfj")
        old = db.session.get(HumanTask, review.id)
        assert (old.status, old.sla_state) == ("cancelled", "escalated")
        assert db.session.scalar(select(func.count()).select_from(Timer).where(
            Timer.instance_id == instance.id, Timer.status == "waiting")) == 0
        escalated = db.session.scalars(select(Notification).where(Notification.kind == "escalated")).all()
        assert {db.session.get(User, n.user_id).username for n in escalated} >= {"guan_sup", "guan_scjg_review"}


def test_completing_before_the_deadline_cancels_the_timers(ctx):
    with freeze_time(at(2022, 9, 29, 10, 0)) as frozen:
        instance = start(ctx, "timed_review")
        [review] = open_tasks(instance.id)
        frozen.move_to(at(2022, 10, 11, 9, 0))
        TaskService(db.session, ctx.extensions["clock"]).complete(user("guan_scjg_review"), review.id, {"outcome": "同意"})
        db.session.commit()
        frozen.move_to(at(2022, 10, 20, 9, 0))
        run(ctx)
        assert fired(instance.id) == []
        assert db.session.get(ProcessInstance, instance.id).status == "completed"
        assert {t.status for t in db.session.scalars(select(Timer))} == {"cancelled"}


def test_absolute_date_and_restart(ctx, db_url):
    """A timer that fell due while no scheduler ran fires once when one starts."""
    instance = start(ctx, "wait_timer", {"fire_at": (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()})
    assert db.session.get(ProcessInstance, instance.id).status == "running"
    db.session.remove()
    with freeze_time(datetime.now(timezone.utc) + timedelta(hours=5)):
        restarted = create_app("testing", SQLALCHEMY_DATABASE_URI=db_url)
        first = tick(restarted)
        second = tick(restarted)
    assert (first.fired_instances, second.fired_instances) == (1, 0)
    assert db.session.get(ProcessInstance, instance.id).status == "completed"
    assert fired(instance.id) == ["w_wait"]


def test_completion_racing_the_timer_leaves_one_winner(ctx):
    """The user completes the task in the same instant its escalation timer falls due."""
    with freeze_time(at(2022, 9, 29, 10, 0)) as frozen:
        instance = start(ctx, "timed_review")
        [review] = open_tasks(instance.id)
        frozen.move_to(at(2022, 10, 14, 0, 0, 1))
        # the reviewer's request loaded the task before the scheduler fired; the scheduler commits first
        reviewer = user("guan_scjg_review")
        svc = TaskService(db.session, ctx.extensions["clock"])
        task = svc.get_for(reviewer, review.id)
        assert task.status == "open"
        run(ctx)
        from engine.errors import Conflict
        with pytest.raises(Conflict):
            svc.complete(reviewer, review.id, {"outcome": "同意"})
        db.session.rollback()
        assert fired(instance.id) == ["remind", "overdue"]
        assert [t.name for t in open_tasks(instance.id)] == ["逾期督办"]


def test_user_wins_when_completing_first(ctx):
    with freeze_time(at(2022, 9, 29, 10, 0)) as frozen:
        instance = start(ctx, "timed_review")
        [review] = open_tasks(instance.id)
        frozen.move_to(at(2022, 10, 14, 0, 0, 1))
        TaskService(db.session, ctx.extensions["clock"]).complete(user("guan_scjg_review"), review.id, {"ok": True})
        db.session.commit()
        run(ctx)
        assert fired(instance.id) == []                   # the task finished first: its timers are cancelled
        assert db.session.get(ProcessInstance, instance.id).status == "completed"


def test_sla_states_move_and_notify_once(ctx, client, token):
    with freeze_time(at(2022, 9, 29, 10, 0)) as frozen:
        resp = client.post("/api/instances", headers=token("guan_guanzhen_handler"),
                           json={"process_key": "two_lane_review", "business_key": "SLA-1"})
        first = resp.get_json()["open_tasks"][0]
        client.post(f"/api/tasks/{first['id']}/complete", headers=token("guan_guanzhen_handler"), json={})
        [review] = client.get("/api/tasks?scope=group", headers=token("guan_review")).get_json()["tasks"]
        assert review["sla_state"] == "on_time" and review["sla"] == "7 working days"
        clock = ctx.extensions["clock"]

        frozen.move_to(at(2022, 10, 11, 9, 0))
        assert sweep_sla(db.session, clock).sla_changes == 0
        frozen.move_to(at(2022, 10, 13, 9, 0))
        assert sweep_sla(db.session, clock).sla_changes == 1
        assert sweep_sla(db.session, clock).sla_changes == 0
        task = client.get(f"/api/tasks/{review['id']}", headers=token("guan_review")).get_json()
        assert task["sla_state"] == "due_soon" and task["working_days_left"] == 0
        frozen.move_to(at(2022, 10, 14, 9, 0))
        assert sweep_sla(db.session, clock).sla_changes == 1
        sweep_sla(db.session, clock)
        kinds = db.session.execute(select(Notification.kind, func.count()).group_by(Notification.kind)).all()
        # the candidate (guan_review at the county bureau) and the officers of the bureau above it (the city's)
        counts = dict(kinds)
        assert counts["due_soon"] == counts["overdue"] >= 2
        mine = client.get("/api/notifications", headers=token("guan_review")).get_json()["notifications"]
        # besides the new task it was told of when the task was offered (issue 10)
        assert sorted(n["kind"] for n in mine) == ["due_soon", "new_task", "overdue"]
        assert mine[0]["task"]["id"] == review["id"] and mine[0]["kind"] == "overdue"
        resp = client.post(f"/api/notifications/{mine[0]['id']}/read", headers=token("guan_review"))
        assert resp.status_code == 200 and resp.get_json()["read_at"]
        assert client.post(f"/api/notifications/{mine[0]['id']}/read", headers=token("sanhe_review")).status_code == 404


def test_timer_inside_a_call_activity_is_indexed_and_fires(ctx):
    with freeze_time(at(2026, 3, 2, 9, 0)) as frozen:
        instance = start(ctx, "call_wait", {"fire_at": at(2026, 3, 3, 9, 0).isoformat()})
        [row] = db.session.scalars(select(Timer).where(Timer.instance_id == instance.id)).all()
        assert (row.element_id, row.due_at) == ("w_wait", at(2026, 3, 3, 9, 0))
        frozen.move_to(at(2026, 3, 3, 9, 0, 1))
        run(ctx)
        assert fired(instance.id) == ["w_wait"]
        assert db.session.get(ProcessInstance, instance.id).status == "completed"


def test_supervisor_lists_due_timers_of_own_area_only(ctx, client, token):
    with freeze_time(at(2022, 9, 29, 10, 0)):
        start(ctx, "timed_review")                                        # a 固安县 case
        url = "/api/timers?due_before=2022-10-12T00:00:00%2B08:00"
        listed = client.get(url, headers=token("guan_sup")).get_json()["timers"]
        assert [(t["element_id"], t["unit"]["code"]) for t in listed] == [("remind", "lf.guan.scjg")]
        assert client.get("/api/timers", headers=token("city_sup")).get_json()["timers"]   # the city sees all
        assert client.get("/api/timers", headers=token("sanhe_sup")).get_json()["timers"] == []
        assert client.get("/api/timers", headers=token("guan_review")).status_code == 403
        assert client.get("/api/timers?due_before=2022-10-12", headers=token("guan_sup")).status_code == 422


def test_calendar_administration_and_health_warning(ctx, client, token):
    admin = token("admin")
    with freeze_time(at(2026, 12, 2, 9, 0)):
        health = client.get("/api/health").get_json()
        assert health["status"] == "warning" and "2027" in health["warnings"][0]
        body = {"days": [{"day": "2027-01-01", "is_workday": False, "name": "元旦"},
                         {"day": "2027-02-06", "is_workday": True, "name": "春节调休"}]}
        assert client.put("/api/calendar/years/2027", json=body, headers=token("guan_review")).status_code == 403
        assert client.put("/api/calendar/years/2027", json=body, headers=admin).status_code == 200
        assert client.get("/api/health").get_json()["status"] == "ok"
        year = client.get("/api/calendar/2027", headers=admin).get_json()
        assert year["covered"] and [d["day"] for d in year["days"]] == ["2027-01-01", "2027-02-06"]
        resp = client.put("/api/calendar/days/2027-03-01", json={"is_workday": False, "name": "地方假日"}, headers=admin)
        assert resp.status_code == 200
        resp = client.put("/api/calendar/days/2031-03-01", json={"is_workday": False}, headers=admin)
        assert resp.status_code == 422
        resp = client.put("/api/calendar/days/2027-03-02", json={"name": "x"}, headers=admin)
        assert resp.status_code == 422 and "is_workday" in resp.get_json()["fields"]
        shown = ctx.test_cli_runner().invoke(args=["calendar", "show", "2027"])
        assert shown.exit_code == 0 and "2027-02-06" in shown.output and "地方假日" in shown.output
    # leave the shared database as the other tests expect it
    from engine.models import CalendarYear, Holiday
    db.session.query(Holiday).filter(Holiday.day >= datetime(2027, 1, 1).date()).delete()
    db.session.query(CalendarYear).filter(CalendarYear.year == 2027).delete()
    db.session.commit()
