"""The assessment of the enforcement units (issue 12 §4): figures equal independent SQL counts over a seeded
mix of on-time, late, escalated and revisited cases; a closed period stays the same after new data arrives;
the configuration file is checked with messages naming the key and line."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, text

from engine import history
from engine.analytics import assessment as A
from engine.analytics.assessment_models import AssessmentFigure, AssessmentPeriod, AssessmentScore
from engine.models import HumanTask, OrgUnit, ProcessDefinition, ProcessInstance
from web.extensions import db

UTC = timezone.utc
Q1_START = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)       # 2026Q1 in Asia/Shanghai
UNITS = ("lf.guan.scjg", "lf.guan.sthj", "lf.sanhe.scjg")


@pytest.fixture
def periods(ctx):
    yield
    db.session.rollback()
    for model in (AssessmentFigure, AssessmentScore, AssessmentPeriod):
        db.session.execute(delete(model))
    db.session.commit()


def _unit(code):
    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))


def _instance(unit, key="case_revisit"):
    definition = db.session.scalar(select(ProcessDefinition).order_by(ProcessDefinition.id).limit(1))
    inst = ProcessInstance(definition_id=definition.id, process_key=key, business_key=f"T-{uuid.uuid4().hex[:8]}",
                           status="completed", unit_id=unit.id, started_at=Q1_START, state="{}", version=1)
    db.session.add(inst)
    db.session.flush()
    return inst


def _task(inst, unit, due_day, done_day=None, escalated=False, element="review", status=None):
    due = Q1_START + timedelta(days=due_day)
    task = HumanTask(id=str(uuid.uuid4()), instance_id=inst.id, element_id=element, name="步骤", unit_id=unit.id,
                     status=status or ("completed" if done_day is not None else "open"),
                     created_at=due - timedelta(days=5), due_at=due,
                     completed_at=(Q1_START + timedelta(days=done_day)) if done_day is not None else None,
                     sla_state="escalated" if escalated else "on_time")
    db.session.add(task)
    return task


def seed():
    """Each unit gets a different mix; a few rows lie outside 2026Q1 and must not count."""
    g, s, sh = (_unit(c) for c in UNITS)
    inst = _instance(g)
    _task(inst, g, 10, 9)                 # on time
    _task(inst, g, 20, 20)                # on time (the deadline itself)
    _task(inst, g, 30, 33)                # late
    _task(inst, g, 40, 38, escalated=True)   # done in time but escalated
    _task(inst, g, 50)                    # never done
    _task(inst, g, 100, 99)               # due after the quarter: not counted
    _task(inst, g, 60, 70, element="rectify_reply")   # a 督办 answered late
    _task(inst, g, 61, 61, element="rectify_reply")   # a 督办 answered in time
    _task(inst, g, 45, status="cancelled")             # withdrawn: not counted
    inst2 = _instance(s)
    _task(inst2, s, 5, 4)
    _task(inst2, s, 6, 8)
    # revisits of 固安 市场监管: two satisfied, one basically; one of 生态环境: dissatisfied; one outside Q1
    for unit, answer, day in ((g, "satisfied", 12), (g, "satisfied", 15), (g, "basically", 70), (s, "dissatisfied", 3),
                              (g, "dissatisfied", 95)):
        rv = _instance(unit)
        history.record(db.session, Q1_START + timedelta(days=day), "task_completed", actor="t", instance_id=rv.id,
                       task_id=str(uuid.uuid4()), data={"element_id": "revisit", "name": "开展回访",
                                                        "data": {"satisfaction": answer}})
    db.session.commit()
    return g, s, sh


def sql_counts(unit_id, start, end) -> dict:
    """The same figures, written independently in SQL."""
    q = lambda sql: db.session.execute(text(sql), {"u": unit_id, "s": start.replace(tzinfo=None),  # noqa: E731
                                                   "e": end.replace(tzinfo=None)}).scalar()
    due = ("FROM human_tasks WHERE unit_id = :u AND due_at IS NOT NULL AND due_at >= :s AND due_at < :e "
           "AND status IN ('open', 'completed')")
    return {
        "steps": q(f"SELECT COUNT(*) {due}"),
        "on_time": q(f"SELECT COUNT(*) {due} AND completed_at IS NOT NULL AND completed_at <= due_at "
                     "AND sla_state <> 'escalated'"),
        "late": q(f"SELECT COUNT(*) {due} AND (completed_at IS NULL OR completed_at > due_at OR sla_state = 'escalated')"),
        "received": q("SELECT COUNT(*) FROM human_tasks WHERE unit_id = :u AND element_id = 'rectify_reply' "
                      "AND created_at >= :s AND created_at < :e"),
        "notices_due": q(f"SELECT COUNT(*) {due} AND element_id = 'rectify_reply'"),
        "notices_late": q(f"SELECT COUNT(*) {due} AND element_id = 'rectify_reply' "
                          "AND (completed_at IS NULL OR completed_at > due_at)"),
    }


def test_figures_equal_independent_sql_counts(ctx, client, token, periods):
    g, s, _ = seed()
    start, end = A.period_bounds("2026Q1")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    body = client.get("/api/assessment?period=2026Q1", headers=token("city_sup")).get_json()
    rows = {r["unit"]["code"]: r for r in body["units"]}
    for unit in (g, s):
        sql = sql_counts(unit.id, start, end)
        got = rows[unit.code]["indicators"]
        assert (got["on_time_rate"]["numerator"], got["on_time_rate"]["denominator"]) == (sql["on_time"], sql["steps"])
        assert (got["late_steps"]["numerator"], got["late_steps"]["denominator"]) == (sql["late"], sql["steps"])
        assert got["notices_received"]["numerator"] == sql["received"]
        assert (got["notices_late"]["numerator"], got["notices_late"]["denominator"]) == (sql["notices_late"],
                                                                                        sql["notices_due"])
    # the seeded mix, spelled out: 固安市场监管 has 7 steps due in Q1, 3 of them on time
    g_ind = rows[g.code]["indicators"]
    assert (g_ind["on_time_rate"]["numerator"], g_ind["on_time_rate"]["denominator"]) == (3, 7)
    assert g_ind["revisit_satisfaction"]["numerator"] == 260 and g_ind["revisit_satisfaction"]["denominator"] == 3
    assert rows[s.code]["indicators"]["revisit_satisfaction"]["value"] == 0
    # no survey in Q1: not applicable, its weight shared by the others; the total is the weighted mean
    assert g_ind["survey_satisfaction"]["applicable"] is False and g_ind["survey_satisfaction"]["weight"] == 0
    applicable = [v for v in g_ind.values() if v["applicable"]]
    assert sum(v["weight"] for v in applicable) == pytest.approx(100)
    assert rows[g.code]["score"] == pytest.approx(sum(v["score"] * v["weight"] / 100 for v in applicable), abs=0.01)
    # a county supervisor ranks only the county's units
    county = client.get("/api/assessment?period=2026Q1", headers=token("guan_sup")).get_json()["units"]
    assert "lf.sanhe.scjg" not in {r["unit"]["code"] for r in county} and g.code in {r["unit"]["code"] for r in county}
    # the drill-down lists the steps behind the number
    detail = client.get(f"/api/assessment/detail?period=2026Q1&unit={g.code}&indicator=on_time_rate",
                        headers=token("city_sup")).get_json()["rows"]
    assert len(detail) == 7 and sum(r["value"] for r in detail) == 3
    assert client.get(f"/api/assessment/detail?period=2026Q1&unit=lf.sanhe.scjg&indicator=on_time_rate",
                      headers=token("guan_sup")).status_code == 404
    assert client.get("/api/assessment?period=2026Q7", headers=token("city_sup")).status_code == 422
    assert client.get("/api/assessment", headers=token("guan_scjg_handler")).status_code == 403
    page = client.get("/assessment?period=2026Q1", headers=token("city_sup"))
    assert page.status_code == 200 and "固安县市场监督管理局" in page.get_data(as_text=True)
    xlsx = client.get("/assessment/export.xlsx?period=2026Q1", headers=token("city_sup"))
    from io import BytesIO
    from openpyxl import load_workbook
    wb = load_workbook(BytesIO(xlsx.data))
    indicators = A.load_config(ctx.config["ASSESSMENT_CONFIG"]).indicators
    assert len(wb.sheetnames) == 2 + len(indicators) and wb.worksheets[0]["B2"].value == "2026Q1"


def test_a_closed_period_stays_the_same_after_new_data(ctx, client, token, periods):
    g, _s, _ = seed()
    admin = token("admin")
    assert client.post("/api/assessment/periods/2026Q1/close", headers=token("city_sup")).status_code == 403
    assert client.post("/api/assessment/periods/2026Q3/close", headers=admin).status_code == 409   # not ended
    assert client.post("/api/assessment/periods/2026Q1/close", headers=admin).status_code == 201
    assert client.post("/api/assessment/periods/2026Q1/close", headers=admin).status_code == 409
    before = client.get("/api/assessment?period=2026Q1", headers=token("city_sup")).get_json()
    detail_before = client.get(f"/api/assessment/detail?period=2026Q1&unit={g.code}&indicator=late_steps",
                               headers=token("city_sup")).get_json()
    # new data of the quarter arrives afterwards (a late entry, a re-opened step)
    inst = _instance(g)
    _task(inst, g, 15)
    _task(inst, g, 16, 30, escalated=True)
    db.session.commit()
    after = client.get("/api/assessment?period=2026Q1", headers=token("city_sup")).get_json()
    assert after == before and after["frozen"] is True
    assert client.get(f"/api/assessment/detail?period=2026Q1&unit={g.code}&indicator=late_steps",
                      headers=token("city_sup")).get_json() == detail_before
    # computed live, the same quarter would now differ
    live = A.ranking(db.session, A.load_config(ctx.config["ASSESSMENT_CONFIG"]), "2026Q2", datetime.now(UTC))
    assert live.frozen is False


GOOD = """
unit_kinds: [enforcement_dept]
indicators:
  - key: a
    name: 甲
    source: builtin:steps_on_time
    kind: rate
    weight: 60
  - key: b
    name: 乙
    source: builtin:steps_late
    kind: penalty
    params: {per_item: 5}
    weight: 40
"""


@pytest.mark.nodb
@pytest.mark.parametrize("change, message", [
    (("weight: 40", "weight: 30"), "assessment.yaml, line 3, indicators: the weights add up to 90"),
    (("kind: rate", "kind: ratio"), "line 7, indicators[0].kind: unknown kind 'ratio'"),
    (("builtin:steps_late", "builtin:nothing"), "line 11, indicators[1].source: unknown source"),
    (("builtin:steps_late", "engine.registers.nowhere:assessment_qualification"),
     "indicators[1].source: unknown source"),
    (("params: {per_item: 5}", "params: {}"), "indicators[1].params: a penalty needs params.per_item"),
    (("  - key: b", "  - key: a"), "line 9, indicators[1].key: the key a is used twice"),
    (("unit_kinds: [enforcement_dept]", "unit_kinds: []"), "line 2, unit_kinds: give a list"),
    (("    weight: 60", "    weight: 60\n    colour: red"), "line 9, indicators[0].colour: unknown key"),
])
def test_configuration_errors_name_the_key_and_line(change, message):
    assert A.parse_config(GOOD).indicators[1].params == {"per_item": 5}
    with pytest.raises(A.AssessmentConfigError) as err:
        A.parse_config(GOOD.replace(*change), "assessment.yaml")
    assert message in str(err.value), str(err.value)


@pytest.mark.nodb
def test_the_shipped_configuration_loads_and_a_dotted_source_plugs_in():
    import os
    cfg = A.load_config(os.path.join(os.path.dirname(__file__), "..", "engine", "data", "assessment.yaml"))
    assert sum(i.weight for i in cfg.indicators) == 100
    plugged = A.parse_config(GOOD.replace("builtin:steps_late", "engine.analytics.assessment:steps_late"))
    assert A.source_function(plugged.indicators[1]) is A.steps_late and A.detail_function(plugged.indicators[1])


@pytest.mark.nodb
@pytest.mark.parametrize("policy, expected", [("redistribute", 100.0), ("full", 100.0), ("zero", 60.0)])
def test_not_applicable_policies(policy, expected):
    cfg = A.parse_config(GOOD + f"not_applicable: {policy}\n")
    total, rows = A.score_unit(cfg, {"a": (3, 3), "b": (0, 0)})      # b has nothing to count
    assert total == expected and rows["b"]["applicable"] is False


def test_the_scheduler_closes_ended_periods_after_the_grace_time(ctx, periods):
    from web.scheduler import close_assessment_periods
    # today is 1 June 2026: 2026Q1 ended 1 April (more than 15 days ago), 2025 ended in January
    assert close_assessment_periods(ctx) == ["2026Q1", "2025"]
    assert close_assessment_periods(ctx) == []                      # once only
    ctx.config["ASSESSMENT_CLOSE_GRACE_DAYS"] = 90
    try:
        db.session.execute(delete(AssessmentFigure))
        db.session.execute(delete(AssessmentScore))
        db.session.execute(delete(AssessmentPeriod))
        db.session.commit()
        assert close_assessment_periods(ctx) == ["2025"]            # 2026Q1 ended only 61 days ago
    finally:
        ctx.config["ASSESSMENT_CLOSE_GRACE_DAYS"] = 15
    closed = db.session.scalar(select(AssessmentPeriod).where(AssessmentPeriod.period == "2025"))
    assert closed.closed_by == "scheduler" and closed.method["indicators"]


def test_a_broken_configuration_is_reported_not_a_server_error(ctx, client, token, tmp_path):
    broken = tmp_path / "assessment.yaml"
    broken.write_text(GOOD.replace("kind: rate", "kind: ratio"), encoding="utf-8")
    shipped = ctx.config["ASSESSMENT_CONFIG"]
    ctx.config["ASSESSMENT_CONFIG"] = str(broken)
    try:
        resp = client.get("/api/assessment?period=2026Q1", headers=token("city_sup"))
        assert resp.status_code == 503
        assert "考核指标配置有误" in resp.get_json()["message"] and "line 7, indicators[0].kind" in resp.get_json()["message"]
        page = client.get("/assessment?period=2026Q1", headers=token("city_sup"))
        assert page.status_code == 503 and "indicators[0].kind" in page.get_data(as_text=True)
        result = ctx.test_cli_runner().invoke(args=["assessment", "check"])
        assert result.exit_code == 1 and "line 7" in result.output
    finally:
        ctx.config["ASSESSMENT_CONFIG"] = shipped
    result = ctx.test_cli_runner().invoke(args=["assessment", "check"])
    assert result.exit_code == 0 and "on_time_rate" in result.output


def test_the_register_indicators_come_from_the_registers(ctx, client, token, periods):
    """Reviewer qualification, list currency and findings answered are computed by the registers' own modules
    (wired in the shipped assessment.yaml); the ranking carries exactly their figures, as of the period's last
    day. A unit's reviewers: the legal reviewers holding the role there."""
    from engine.models import RoleAssignment
    from engine.registers import lists, personnel, supervisors
    start, end = A.period_bounds("2026Q1")
    rows = {r["unit"]["code"]: r for r in
            client.get("/api/assessment?period=2026Q1", headers=token("city_sup")).get_json()["units"]}
    assert rows
    units = {u.code: u.id for u in db.session.scalars(select(OrgUnit).where(OrgUnit.code.in_(rows)))}
    quals = personnel.assessment_qualification(db.session, units.values(), start, end)
    current = lists.assessment_list_currency(db.session, units.values(), start, end)
    answered = supervisors.assessment_findings_answered(db.session, units.values(), start, end)
    seen_reviewers = 0
    for code, unit_id in units.items():
        got = rows[code]["indicators"]
        reviewers = db.session.scalar(select(text("count(*)")).select_from(RoleAssignment).where(
            RoleAssignment.role_code == "legal_reviewer", RoleAssignment.unit_id == unit_id))
        assert quals[unit_id][1] == reviewers
        seen_reviewers += reviewers
        assert (got["qualification_rate"]["numerator"], got["qualification_rate"]["denominator"]) == quals[unit_id]
        assert (got["list_currency"]["numerator"], got["list_currency"]["denominator"]) == current[unit_id]
        assert current[unit_id][1] == 6
        assert (got["findings_answered"]["numerator"], got["findings_answered"]["denominator"]) == \
            answered.get(unit_id, (0, 0))
    assert seen_reviewers > 0
