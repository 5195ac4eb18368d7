"""Demo records of issue 12 §3–4 for `flask demo load`: contact points of 固安县 and the city, the last survey
round that fell due (answered), and the last ended quarter closed (frozen) in the assessment. Idempotent."""
from __future__ import annotations

from sqlalchemy import select

from engine.analytics import assessment as A
from engine.models import OrgUnit
from engine.registers.contact_point_models import ContactPoint, ContactPointUnit
from engine.registers.contact_points import credit_check_char

POINTS = [("lf.guan.sfj", "固安县兴达食品有限公司", "91131022MA0DEMO01", "食品生产", ["lf.guan.scjg", "lf.guan.sthj"]),
          ("lf.guan.sfj", "固安县恒通物流有限公司", "91131022MA0DEMO02", "道路运输", ["lf.guan.scjg", "lf.guan.yjgl"]),
          ("lf.guan.sfj", "固安县新源建材有限公司", "91131022MA0DEMO03", "建材制造", ["lf.guan.sthj", "lf.guan.yjgl"]),
          ("lf.sfj", "廊坊市华北医药有限公司", "91131000MA0DEMO04", "药品经营", ["lf.scjg", "lf.sthj"])]


def _code(body: str) -> str:
    body = body.replace("DEMO", "0000")[:17]
    return body + credit_check_char(body)


def load(session, now) -> None:
    """Contact points of 固安县 and of the city."""
    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    for owner, name, code, sector, enforcers in POINTS:
        credit = _code(code)
        if owner not in units or session.scalar(select(ContactPoint.id).where(ContactPoint.credit_code == credit)):
            continue
        point = ContactPoint(owner_unit_id=units[owner].id, name=name, credit_code=credit, sector=sector,
                             address="廊坊市", contact_name="办公室", contact_phone="0316-0000000", active=True,
                             created_at=now, updated_at=now)
        point.units = [ContactPointUnit(unit_id=units[c].id) for c in enforcers if c in units]
        session.add(point)
    session.flush()


def close_quarter(session, now, config_path: str) -> None:
    """The last ended quarter, closed: its ranking is frozen."""
    quarter = A.periods_ended(now)[0]
    if session.scalar(select(A.AssessmentPeriod.id).where(A.AssessmentPeriod.period == quarter)) is None:
        A.close_period(session, A.load_config(config_path), quarter, now, "demo")


def survey_round(session, validate_form) -> None:
    """Run the last survey round that fell due before today over the demo contact points, with answers, so
    the survey page has results; its successor waits for the next survey date. Only when no answer exists."""
    from datetime import timedelta

    from engine.clock import Clock, FixedClock
    from engine.models import HumanTask, ProcessInstance, RoleAssignment, User
    from engine.jobs import run_due_timers
    from engine.registers.contact_point_models import SurveyResponse
    from engine.registers.contact_points import next_survey_date
    from engine.runtime import Runtime, _waiting_at_timer_start
    from engine.tasks import TaskService

    if session.scalar(select(SurveyResponse.id).limit(1)) is not None:
        return
    real = Runtime(session, Clock())
    definition = real.repository.latest("enterprise_survey", missing_ok=True)
    if definition is None:
        return
    now = Clock().now()
    at, last = now - timedelta(days=370), None
    while (following := next_survey_date(at, "03-15", "09-15")) < now:
        last, at = following, following
    if last is None:
        return
    for parked in session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "enterprise_survey",
                                                                ProcessInstance.status == "running")).all():
        if _waiting_at_timer_start(real.load(parked)):      # the round below parks its own successor
            real.terminate(parked, actor="demo", reason="demo survey round")
    clock = FixedClock(last - timedelta(days=1))
    runtime = Runtime(session, clock)
    [instance] = runtime.start_timer_instances([definition])
    session.commit()
    clock.set(last + timedelta(seconds=5))
    run_due_timers(session, clock)
    tasks = TaskService(session, clock, runtime, validate_form=validate_form)
    for number, task in enumerate(session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.status == "open").order_by(HumanTask.subject)).all()):
        officer = session.scalar(select(User).join(RoleAssignment).where(
            RoleAssignment.role_code == "supervision_officer", RoleAssignment.unit_id == task.unit_id,
            User.active.is_(True)).order_by(User.id).limit(1))
        if officer is None:
            continue
        clock.advance(timedelta(days=2))
        units = [u for p in session.scalars(select(ContactPoint).where(ContactPoint.name == task.subject))
                 for u in p.units]
        ratings = [{"code": cu.unit.code, "satisfaction": str(5 - (number + index) % 3),
                    "comment": None} for index, cu in enumerate(units)]
        tasks.complete(officer, task.id, {"visited_on": clock.now().astimezone(LOCAL).date().isoformat(),
                                          "unit_ratings": ratings,
                                          "problems": "部分检查事项重复" if number == 0 else None,
                                          "suggestions": "推行联合检查，减少对企业的干扰" if number == 0 else None})
        session.commit()
    # the round ran on the demo's clock, whose past survey date SpiffWorkflow saw as due at once: the next round
    # is parked here, on the real clock
    if not any(_waiting_at_timer_start(real.load(p)) for p in session.scalars(select(ProcessInstance).where(
            ProcessInstance.process_key == "enterprise_survey", ProcessInstance.status == "running"))):
        real.start_timer_instances([definition])
        session.commit()


from engine.calendar import LOCAL_TZ as LOCAL  # noqa: E402
