"""案件回访 (DOMAIN §2): reproducible sampling, the revisit flow, clue-started revisits, timers, quarterly analysis."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from engine.models import AuditEvent, ProcessInstance, User
from engine.runtime import Runtime
from engine.sampling import draw, sampled
from web.extensions import db
from web.services import validate_form

from .procedures import CASE, Case, tick

SH = ZoneInfo("Asia/Shanghai")
UNIT, HANDLER, HEAD = "lf.guan.scjg", "guan_scjg_handler", "guan_scjg_head"
OFFICER, OFFICER2 = "guan_scjg_revisit", "guan_scjg_revisit2"
CLOSED = {**CASE, "closed_on": "2026-05-20", "executed_on": "2026-05-20", "case_origin": "hearing",
          "case_handlers": "guan_scjg_handler"}
REVISIT = {"officer_1": OFFICER, "officer_2": OFFICER2, "revisit_method": "phone", "rectified": True,
           "lawful_conduct": True, "showed_id": True, "explained_rights": True, "improper_demands": False}


def revisit_flow(client, token, **extra) -> Case:
    return Case(client, token, "case_revisit", OFFICER, {**CLOSED, **extra})


def test_the_same_seed_gives_the_same_draw():
    assert draw("lf.guan.scjg-2026", "A-1") == draw("lf.guan.scjg-2026", "A-1")
    assert draw("lf.guan.scjg-2026", "A-1") != draw("lf.guan.scjg-2027", "A-1")
    assert sampled("s", "A-1", 1.0)[0] is True and sampled("s", "A-1", 0.0)[0] is False


def test_ratios_hold_over_a_thousand_closed_cases(ctx):
    """1,000 closed cases through the real procedure (DMN ratio + seeded draw), audited one by one."""
    runtime = Runtime(db.session, ctx.extensions["clock"])
    officer = db.session.query(User).filter_by(username=OFFICER).one()
    drawn = {"key": 0, "ordinary": 0, "simple": 0}
    totals = {"key": 0, "ordinary": 0, "simple": 0}
    for i in range(1000):
        kind = "key" if i % 10 == 0 else ("ordinary" if i % 2 else "simple")
        data = {**CLOSED, "case_number": f"GA-{i:04d}", "case_origin": "complaint" if kind == "key" else "routine",
                "procedure_kind": "ordinary" if kind == "key" else kind, "sampling_seed": "lf.guan.scjg-2026"}
        instance = runtime.start("case_revisit", business_key=data["case_number"], data=data, user=officer,
                                 validate=lambda key, d: d)
        totals[kind] += 1
        drawn[kind] += instance.status == "running"           # drawn cases wait at the revisit task
        if i % 100 == 99:
            db.session.commit()
    db.session.commit()
    assert drawn["key"] == totals["key"] == 100
    for kind, ratio in (("ordinary", 0.8), ("simple", 0.4)):
        n = totals[kind]
        sigma = (ratio * (1 - ratio) / n) ** 0.5
        assert abs(drawn[kind] / n - ratio) < 3 * sigma, (kind, drawn[kind], n)
    audited = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "revisit_sampling"))
    assert audited == 1000
    # the draw is reproducible: the audited value equals a fresh computation
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "revisit_sampling")).first()
    assert row.data["draw"] == round(draw(row.data["seed"], row.data["case_number"]), 6)


def test_satisfied_revisit_is_archived(client, token):
    case = revisit_flow(client, token)
    task = case.expect("开展回访", "revisit_officer", UNIT, OFFICER)
    assert task["subject"] == CASE["case_number"]
    resp = case.do("开展回访", "revisit_officer", UNIT, OFFICER, {**REVISIT, "officer_2": OFFICER,
                                                            "satisfaction": "satisfied"}, status=422)
    assert list(resp["fields"]) == ["officer_2"]
    resp = case.do("开展回访", "revisit_officer", UNIT, OFFICER, {**REVISIT, "officer_1": HANDLER,
                                                            "satisfaction": "satisfied"}, status=422)
    assert resp["fields"]["officer_1"] == ["请选择固安县市场监督管理局的在岗回访人员。"]   # the handler is no revisit officer
    case.do("开展回访", "revisit_officer", UNIT, OFFICER, {**REVISIT, "satisfaction": "satisfied"})
    assert case.status() == "completed"


def test_confirmed_problem_is_rectified_with_a_notice_and_fed_back(client, token):
    case = revisit_flow(client, token)
    case.do("开展回访", "revisit_officer", UNIT, OFFICER,
            {**REVISIT, "satisfaction": "dissatisfied", "improper_demands": True, "opinions": "执法人员态度恶劣"})
    case.do("核实回访反映的问题", "agency_head", UNIT, HEAD, {"problem_confirmed": True, "verify_note": "属实"})
    case.do("整改回访发现的问题", "handler", UNIT, HANDLER,
            {"rectification": "批评教育并调离执法岗位", "request_notice": True, "discipline_referral": True,
             "discipline_note": "执法人员态度恶劣，移送县纪委监委"})
    notice = db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_key == "supervision_notice_auto")).one()
    assert notice.unit.code == "lf.guan.sfj"
    case.do("向当事人反馈", "revisit_officer", UNIT, OFFICER2, {"feedback_content": "已整改", "feedback_on": "2026-04-20"})
    assert case.status() == "completed"


def test_unfounded_problem_is_explained_and_fed_back(client, token):
    case = revisit_flow(client, token)
    case.do("开展回访", "revisit_officer", UNIT, OFFICER, {**REVISIT, "satisfaction": "basically", "opinions": "罚款偏高"})
    case.do("核实回访反映的问题", "agency_head", UNIT, HEAD, {"problem_confirmed": False, "verify_note": "符合裁量基准"})
    case.do("作出情况说明", "handler", UNIT, HANDLER, {"explanation": "罚款数额符合裁量基准"})
    case.do("向当事人反馈", "revisit_officer", UNIT, OFFICER, {"feedback_content": "已说明", "feedback_on": "2026-04-20"})
    assert case.status() == "completed"


def test_reminder_on_day_twenty_and_escalation_on_day_thirty(ctx, client, token):
    with freeze_time(datetime(2026, 5, 21, 9, 0, tzinfo=SH)) as frozen:
        case = revisit_flow(client, token)
        task = case.expect("开展回访", "revisit_officer", UNIT, OFFICER)
        assert task["due_at"].startswith("2026-06-19T15:59:59") and task["remind_at"].startswith("2026-06-09T15:59:59")
        frozen.move_to(datetime(2026, 6, 10, 9, 0, tzinfo=SH))
        tick(ctx)
        assert case.expect("开展回访", "revisit_officer", UNIT, OFFICER)["sla_state"] == "due_soon"
        notes = client.get("/api/notifications", headers=token(OFFICER)).get_json()["notifications"]
        assert [n["kind"] for n in notes if n["kind"] in ("due_soon", "overdue")] == ["due_soon"]
        frozen.move_to(datetime(2026, 6, 20, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        case.expect("回访逾期督办", "supervision_officer", "lf.guan.sfj", "guan_sup")
        assert case.expect("开展回访", "revisit_officer", UNIT, OFFICER)["sla_state"] == "escalated"


def test_a_hotline_clue_starts_a_key_revisit(client, token):
    body = {"name": "revisit_clue", "payload": {"case_number": "12345-2026-0088", "case_unit": UNIT,
                                                "case_title": "市民反映执法人员态度问题", "clue_source": "hotline"}}
    assert client.post("/api/messages", headers=token(HANDLER), json=body).status_code == 403
    resp = client.post("/api/messages", headers=token("sanhe_sup"), json=body)
    assert resp.status_code == 403                                   # another county's unit
    resp = client.post("/api/messages", headers=token("guan_sup"), json={**body, "name": "referral_answered"})
    assert resp.status_code == 422
    resp = client.post("/api/messages", headers=token("guan_sup"), json=body)
    assert resp.status_code == 201, resp.get_json()
    started = resp.get_json()
    assert started["process_key"] == "revisit_clue" and started["business_key"] == "12345-2026-0088"
    [task] = started["open_tasks"]
    assert (task["name"], task["role"], task["unit"]["code"]) == ("开展回访", "revisit_officer", UNIT)


def test_quarterly_analysis_is_started_by_a_timer_and_recurs(ctx, client, token):
    from engine.repository import Repository
    runtime = Runtime(db.session, ctx.extensions["clock"])
    with freeze_time(datetime(2026, 5, 10, 9, 0, tzinfo=SH)) as frozen:
        definition = Repository(db.session, ctx.extensions["clock"]).latest("revisit_quarterly")
        [waiting] = runtime.start_timer_instances([definition])
        db.session.commit()
        assert waiting.next_timer_at == datetime(2026, 7, 1, 0, 0, tzinfo=SH)
        frozen.move_to(datetime(2026, 7, 1, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        tasks = client.get(f"/api/instances/{waiting.id}", headers=token("admin")).get_json()["open_tasks"]
        assert len(tasks) == len(runtime.directory.units_with_role("revisit_officer")) == 22   # 11 + the bureaus
        mine = [t for t in tasks if t["unit"]["code"] == UNIT]
        assert mine[0]["name"] == "召开回访情况季度分析会" and mine[0]["subject"] == "固安县市场监督管理局"
        parked = db.session.scalars(select(ProcessInstance).where(
            ProcessInstance.process_key == "revisit_quarterly", ProcessInstance.id != waiting.id)).all()
        assert [p.next_timer_at for p in parked] == [datetime(2026, 10, 1, 0, 0, tzinfo=SH)]


def test_confirmed_problem_without_a_notice(client, token):
    case = revisit_flow(client, token, case_number="GA-2026-077")
    case.do("开展回访", "revisit_officer", UNIT, OFFICER, {**REVISIT, "satisfaction": "dissatisfied", "opinions": "x"})
    case.do("核实回访反映的问题", "agency_head", UNIT, HEAD, {"problem_confirmed": True, "verify_note": "属实"})
    case.do("整改回访发现的问题", "handler", UNIT, HANDLER, {"rectification": "已整改"})
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_key == "supervision_notice_auto")) == 0
    case.do("向当事人反馈", "revisit_officer", UNIT, OFFICER, {"feedback_content": "已整改", "feedback_on": "2026-06-02"})
    assert case.status() == "completed"


@pytest.mark.parametrize("origin, kind, ratio", [("complaint", "simple", 1.0), ("routine", "ordinary", 0.8),
                                                 ("routine", "simple", 0.4)], ids=["key", "ordinary", "simple"])
def test_sampling_table_rows(ctx, origin, kind, ratio):
    runtime = Runtime(db.session, ctx.extensions["clock"])
    officer = db.session.query(User).filter_by(username=OFFICER).one()
    instance = runtime.start("case_revisit", data={**CLOSED, "case_origin": origin, "procedure_kind": kind},
                             user=officer, validate=validate_form)
    assert runtime.data_of(instance)["revisit_ratio"] == ratio


def test_a_category_matching_no_row_is_never_drawn(ctx):
    runtime = Runtime(db.session, ctx.extensions["clock"])
    officer = db.session.query(User).filter_by(username=OFFICER).one()
    # a category the table does not know (e.g. a new procedure kind before the table is updated)
    instance = runtime.start("case_revisit", data={**CLOSED, "case_origin": "routine", "procedure_kind": "summary",
                                                   "sampling_seed": None}, user=officer, validate=lambda key, d: d)
    data = runtime.data_of(instance)
    assert (data["revisit_ratio"], data["revisit_sampled"], instance.status) == (0, False, "completed")


# -- issue 9: rules that were wrong --------------------------------------------------------------------------

def _officer_errors(case: Case, **officers) -> dict:
    resp = case.do("开展回访", "revisit_officer", UNIT, OFFICER, {**REVISIT, "satisfaction": "satisfied", **officers},
                   status=422)
    return resp["fields"]


def test_revisit_officers_are_checked_on_the_server(client, token):
    case = revisit_flow(client, token)
    # someone of the unit who is not a revisit officer
    assert _officer_errors(case, officer_1=HEAD) == {"officer_1": ["请选择固安县市场监督管理局的在岗回访人员。"]}
    # a revisit officer of another unit
    assert _officer_errors(case, officer_2="sanhe_scjg_revisit") == {
        "officer_2": ["请选择固安县市场监督管理局的在岗回访人员。"]}
    # a revisit officer who has left (inactive)
    user = db.session.query(User).filter_by(username=OFFICER2).one()
    user.active = False
    db.session.commit()
    try:
        assert _officer_errors(case) == {"officer_2": ["请选择固安县市场监督管理局的在岗回访人员。"]}
    finally:
        user.active = True
        db.session.commit()
    case.do("开展回访", "revisit_officer", UNIT, OFFICER, {**REVISIT, "satisfaction": "satisfied"})
    assert case.status() == "completed"


def test_a_clue_revisit_knows_who_handled_the_case(client, token):
    """A hotline clue names no handlers: the revisit looks them up in the case's own history, so a revisit
    officer who handled the case (here also a handler of the unit) cannot revisit it."""
    from engine.models import RoleAssignment
    officer = db.session.query(User).filter_by(username=OFFICER2).one()
    extra = RoleAssignment(user_id=officer.id, role_code="handler", unit_id=officer.unit_id)
    db.session.add(extra)
    db.session.commit()
    try:
        Case(client, token, "major_decision_review", OFFICER2, {**CASE, "case_number": "GA-2026-088",
                                                                 "summary": "x", "amount": 200000})
        body = {"name": "revisit_clue", "payload": {"case_number": "GA-2026-088", "case_unit": UNIT,
                                                    "case_title": "市民反映执法人员态度问题", "clue_source": "hotline"}}
        resp = client.post("/api/messages", headers=token("guan_sup"), json=body)
        assert resp.status_code == 201, resp.get_json()
        clue = Case.found(client, token, "revisit_clue", OFFICER, "GA-2026-088")
        assert _officer_errors(clue) == {"officer_2": ["不能与以下人员或内容相同：办案人员。"]}
    finally:
        db.session.delete(db.session.get(RoleAssignment, extra.id))
        db.session.commit()


def _closed_review(client, token, number: str, origin: str = "complaint") -> Case:
    from .test_major_decision_review import AGREE, ISSUE, MAJOR, PACKAGE, REVIEWER
    case = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": number})
    case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve"})
    case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, ISSUE)
    assert case.status() == "running"                      # the decision is issued, not yet carried out
    case.do("登记执行完毕并结案", "handler", UNIT, HANDLER,
            {"executed_on": "2026-05-25", "closed_on": "2026-05-28", "case_origin": origin})
    assert case.status() == "completed"
    return case


def test_closing_a_reviewed_case_starts_its_revisit(client, token):
    _closed_review(client, token, "固市监罚〔2026〕31号")
    revisit = Case.found(client, token, "revisit_closed", OFFICER, "固市监罚〔2026〕31号")
    task = revisit.expect("开展回访", "revisit_officer", UNIT, OFFICER)
    assert task["due_at"].startswith("2026-06-24T15:59:59")            # 30 days after it was carried out
    assert task["remind_at"].startswith("2026-06-14T15:59:59")         # day 20
    assert [h["data"]["sampled"] for h in revisit.history("revisit_sampling")] == [True]   # complaint: 100%
    # the handler of the review is among the case's handlers
    assert _officer_errors(revisit, officer_1=HANDLER)["officer_1"]


def test_a_case_closed_elsewhere_starts_a_revisit_through_the_api(client, token):
    payload = {**CLOSED, "case_number": "固市监罚〔2026〕40号", "case_unit": UNIT, "case_origin": "changed",
               "closed_on": "2026-05-20", "executed_on": "2026-05-18"}
    body = {"name": "case_closed", "payload": payload}
    resp = client.post("/api/messages", headers=token(OFFICER),
                       json={**body, "payload": {**payload, "executed_on": "上周"}})
    assert resp.status_code == 422
    assert resp.get_json()["fields"] == {"executed_on": ["请按 YYYY-MM-DD 格式输入日期。"]}
    resp = client.post("/api/messages", headers=token("sanhe_scjg_revisit"), json=body)
    assert resp.status_code == 403                                     # another county's unit
    resp = client.post("/api/messages", headers=token(OFFICER), json=body)
    assert resp.status_code == 201, resp.get_json()
    started = resp.get_json()
    assert (started["process_key"], started["business_key"]) == ("revisit_closed", "固市监罚〔2026〕40号")
    [task] = started["open_tasks"]
    assert (task["name"], task["role"], task["unit"]["code"]) == ("开展回访", "revisit_officer", UNIT)
    assert task["due_at"].startswith("2026-06-17T15:59:59")


def test_a_confirmed_problem_can_be_referred_to_discipline_inspection(client, token):
    case = revisit_flow(client, token, case_number="GA-2026-091")
    case.do("开展回访", "revisit_officer", UNIT, OFFICER,
            {**REVISIT, "satisfaction": "dissatisfied", "improper_demands": True, "opinions": "执法人员索要财物"})
    case.do("核实回访反映的问题", "agency_head", UNIT, HEAD, {"problem_confirmed": True, "verify_note": "属实"})
    resp = case.do("整改回访发现的问题", "handler", UNIT, HANDLER,
                   {"rectification": "已调离执法岗位", "discipline_referral": True}, status=422)
    assert resp["fields"] == {"discipline_note": ["此项为必填项。"]}
    case.do("整改回访发现的问题", "handler", UNIT, HANDLER,
            {"rectification": "已调离执法岗位", "discipline_referral": True,
             "discipline_note": "执法人员张某涉嫌索要财物，移送县纪委监委"})
    referral = Case.found(client, token, "discipline_referral", "admin", "GA-2026-091")
    task = referral.expect("办理回访移送的问题线索", "discipline_inspector", "lf.guan.jw", "admin")
    assert task["form_key"] == "revisit_discipline" and task["due_at"]
    # the party is told without waiting for the discipline inspection
    case.do("向当事人反馈", "revisit_officer", UNIT, OFFICER, {"feedback_content": "已整改", "feedback_on": "2026-06-02"})
    assert case.status() == "completed" and referral.status() == "running"
