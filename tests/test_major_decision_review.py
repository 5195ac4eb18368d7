"""重大执法决定法制审核 (DOMAIN §1) walked end to end, asserting who receives each task."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time

from .procedures import CASE, Case, tick

SH = ZoneInfo("Asia/Shanghai")
HANDLER, REVIEWER, HEAD = "guan_scjg_handler", "guan_scjg_review", "guan_scjg_head"
UNIT = "lf.guan.scjg"                          # 固安县市场监督管理局
MAJOR = {**CASE, "summary": "销售过期食品，拟罚款20万元", "amount": 200000}

PACKAGE = {"investigation_report": "调查终结报告……", "draft_decision": "行政处罚决定书（代拟稿）……",
           "evidence_list": "现场笔录、询问笔录、检验报告", "application_form": "申请对拟作出的处罚决定进行法制审核"}
CHECKS = {k: "ok" for k in ("check_subject", "check_authority", "check_procedure", "check_facts", "check_law",
                            "check_documents")}
AGREE = {**CHECKS, "check_crime": "no", "review_outcome": "agree", "review_opinion": "事实清楚，证据充分，同意。"}
REVISE = {**CHECKS, "check_law": "problem", "check_crime": "no", "review_outcome": "revise",
          "review_opinion": "裁量基准适用不当，建议修改罚款数额。"}
ISSUE = {"decision_number": "固市监罚决〔2026〕12号", "decision_date": "2026-03-20", "served_on": "2026-03-21"}
CLOSE = {"executed_on": "2026-04-02", "closed_on": "2026-04-03", "case_origin": "routine"}


def start(client, token, **extra) -> Case:
    return Case(client, token, "major_decision_review", HANDLER, {**MAJOR, **extra})


def submit_and_accept(case: Case, review_unit=UNIT, reviewer=REVIEWER, handler=HANDLER, unit=UNIT):
    case.do("提交法制审核材料", "handler", unit, handler, PACKAGE)
    case.do("审查材料是否齐全", "legal_reviewer", review_unit, reviewer, {"package_complete": True})


def test_a_case_that_is_not_major_ends_without_review(client, token):
    case = start(client, token, amount=5000)
    assert case.status() == "completed"
    assert case.open_tasks() == []


def test_full_path_with_supplement_revision_extension_and_issue(client, token):
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)):
        case = start(client, token)
        case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
        # incomplete: back to the handler for 补正, then complete
        case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER,
                {"package_complete": False, "missing_items": "缺少听证告知书送达回证"})
        case.do("补正材料", "handler", UNIT, HANDLER, {"supplement_note": "已补充送达回证"})
        case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        assert review["due_at"].startswith("2026-03-18T15:59:59")      # 7 working days, end of day Shanghai
        # extension: approved by the agency head, deadline + 5 working days
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER,
                {"request_extension": True, "extension_reason": "涉及多个法律关系，需征求意见"})
        case.do("审批延长审核期限", "agency_head", UNIT, HEAD, {"extension_approved": True})
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        assert review["due_at"].startswith("2026-03-25T15:59:59")
        # the extension cannot be asked for a second time
        resp = client.post(f"/api/tasks/{review['id']}/complete", headers=token(REVIEWER),
                           json={"data": {"request_extension": True, "extension_reason": "again"}})
        assert resp.status_code == 422 and "request_extension" in resp.get_json()["fields"]
        # 建议修改 → the handler accepts and resubmits
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, REVISE)
        case.do("处理法制审核意见", "handler", UNIT, HANDLER, {"response": "accept"})
        submit_and_accept(case)
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
        case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve", "head_opinion": "同意"})
        case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, ISSUE)
        case.do("登记执行完毕并结案", "handler", UNIT, HANDLER, CLOSE)
        assert case.status() == "completed"
        completed = [h["data"]["element_id"] for h in case.history("task_completed")]
        assert completed.count("legal_review") == 3 and completed.count("check_completeness") == 3


def test_township_case_is_reviewed_by_its_justice_office(client, token):
    """A township's team has no reviewer of its own: the 司法所 serving the township reviews (it has one)."""
    case = Case(client, token, "major_decision_review", "guan_guanzhen_handler", {**MAJOR, "hearing_held": True})
    team, office = "lf.guan.guanzhen.zfd", "lf.guan.guanzhen.sfs"
    resp = case.do("提交法制审核材料", "handler", team, "guan_guanzhen_handler", PACKAGE, status=422)
    assert resp["fields"] == {"hearing_record": ["此项为必填项。"]}          # a hearing was held
    case.do("提交法制审核材料", "handler", team, "guan_guanzhen_handler", {**PACKAGE, "hearing_record": "听证笔录……"})
    case.do("审查材料是否齐全", "legal_reviewer", office, "guan_guanzhen_sfs", {"package_complete": True})
    case.do("法制审核", "legal_reviewer", office, "guan_guanzhen_sfs", AGREE)
    case.do("机关负责人决定", "agency_head", "lf.guan.guanzhen", "guan_guanzhen_head", {"head_decision": "approve"})
    case.do("制作并送达行政执法决定书", "handler", team, "guan_guanzhen_handler", ISSUE)
    case.do("登记执行完毕并结案", "handler", team, "guan_guanzhen_handler", CLOSE)
    assert case.status() == "completed"


def test_dispute_goes_to_collective_discussion_which_cannot_decide_without_agreement(client, token):
    case = start(client, token)
    submit_and_accept(case)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {**REVISE, "review_outcome": "investigate"})
    # the handler cannot smuggle an agreement in through the API
    resp = case.do("处理法制审核意见", "handler", UNIT, HANDLER, {"response": "dispute", "response_note": "x",
                                                                "review_outcome": "agree"}, status=422)
    assert "review_outcome" in resp["fields"]
    case.do("处理法制审核意见", "handler", UNIT, HANDLER, {"response": "dispute", "response_note": "证据已充分"})
    # the agency head cannot decide while the latest review outcome is not 同意
    resp = case.do("集体讨论决定", "agency_head", UNIT, HEAD,
                   {"discussion_record": "讨论", "participants": "局务会", "discussion_result": "decide"}, status=422)
    assert resp["fields"]["discussion_result"] == ["此步骤不能选择该选项。"]
    case.do("集体讨论决定", "agency_head", UNIT, HEAD,
            {"discussion_record": "讨论后认为应重新审核", "participants": "局务会", "discussion_result": "re_review"})
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "discuss"})
    case.do("集体讨论决定", "agency_head", UNIT, HEAD,
            {"discussion_record": "同意", "participants": "局务会", "discussion_result": "adopt_opinion"})
    submit_and_accept(case)                                   # adopt_opinion: back to the handler
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve"})
    case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, ISSUE)
    case.do("登记执行完毕并结案", "handler", UNIT, HANDLER, CLOSE)
    assert case.status() == "completed"


def test_complex_case_is_decided_collectively(client, token):
    case = start(client, token, complex_case=True, amount=1000)
    submit_and_accept(case)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    case.do("集体讨论决定", "agency_head", UNIT, HEAD,
            {"discussion_record": "一致同意", "participants": "局务会", "discussion_result": "decide"})
    case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, ISSUE)
    case.do("登记执行完毕并结案", "handler", UNIT, HANDLER, CLOSE)
    assert case.status() == "completed"


def test_transfer_outcome_refers_the_case(client, token):
    case = start(client, token)
    submit_and_accept(case)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {**AGREE, "check_crime": "yes", "review_outcome": "transfer"})
    resp = case.do("办理案件移送", "handler", UNIT, HANDLER, {"referral_target": "no.such.unit",
                                                          "referral_reason": "涉嫌犯罪"}, status=422)
    assert resp["fields"] == {"referral_target": ["请选择已有的单位。"]}
    case.do("办理案件移送", "handler", UNIT, HANDLER, {"referral_target": "lf.guan.gaj", "referral_reason": "涉嫌犯罪"})
    assert case.status() == "completed"
    # the referral procedure starts with the case (suspected crime: the agency head approves first)
    sender = Case.found(client, token, "case_referral_requested", HANDLER)
    assert sender.state()["business_key"] == MAJOR["case_number"]
    sender.do("审批移送涉嫌犯罪案件", "agency_head", UNIT, HEAD, {"approve_transfer": True})
    sender.expect("制作移送函并移送材料", "handler", UNIT, HANDLER)


def test_extension_refused_keeps_the_deadline(client, token):
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)):
        case = start(client, token)
        submit_and_accept(case)
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {"request_extension": True, "extension_reason": "复杂"})
        case.do("审批延长审核期限", "agency_head", UNIT, HEAD, {"extension_approved": False, "extension_note": "不同意"})
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        assert review["due_at"].startswith("2026-03-18T15:59:59")


def test_overdue_review_escalates_to_the_county_justice_bureau(ctx, client, token):
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)) as frozen:
        case = start(client, token)
        submit_and_accept(case)
        frozen.move_to(datetime(2026, 3, 17, 9, 0, tzinfo=SH))       # past the reminder (end of 5th working day)
        tick(ctx)
        assert case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)["sla_state"] == "due_soon"
        frozen.move_to(datetime(2026, 3, 19, 0, 0, 5, tzinfo=SH))    # the 7 working days have run out
        tick(ctx)
        tick(ctx)
        sup = case.expect("法制审核逾期督办", "supervision_officer", "lf.guan.sfj", "guan_sup")
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        assert review["sla_state"] == "escalated"                    # the review goes on, now escalated
        assert len(case.history("timer_fired")) == 1
        notes = client.get("/api/notifications", headers=token("guan_sup")).get_json()["notifications"]
        assert {n["kind"] for n in notes} >= {"escalated"}
        case.do("法制审核逾期督办", "supervision_officer", "lf.guan.sfj", "guan_sup",
                {"supervision_action": "urge", "supervision_opinion": "请于2个工作日内完成审核"})
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
        assert sup["id"] not in [t["id"] for t in case.open_tasks()]


def test_ninety_day_warning_fires_ten_days_before(ctx, client, token):
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)) as frozen:
        case = start(client, token)                                   # filed 2026-03-02
        frozen.move_to(datetime(2026, 5, 21, 12, 0, tzinfo=SH))       # 80 days after filing: not yet
        tick(ctx)
        assert "办案期限预警处理" not in case.names()
        frozen.move_to(datetime(2026, 5, 22, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        warning = case.expect("办案期限预警处理", "handler", UNIT, HANDLER)
        assert warning["due_at"].startswith("2026-05-31T15:59:59")    # 90 days after filing
        case.do("办案期限预警处理", "handler", UNIT, HANDLER, {"warning_note": "正在补充调查，预计5月28日前办结"})
        assert "提交法制审核材料" in case.names()                       # the main flow is untouched


def test_start_form_errors_are_chinese_and_field_level(client, token):
    resp = client.post("/api/instances", headers=token(HANDLER), json={
        "process_key": "major_decision_review", "data": {"case_number": "X", "amount": "很多", "filed_on": "昨天"}})
    assert resp.status_code == 422
    fields = resp.get_json()["fields"]
    assert fields["amount"] == ["请输入以元为单位的金额，例如 1200.50。"]
    assert fields["filed_on"] == ["请按 YYYY-MM-DD 格式输入日期。"]
    assert fields["case_title"] == ["此项为必填项。"]


# -- issue 9: rules that were wrong --------------------------------------------------------------------------

def test_reminder_counts_from_the_complete_package_also_after_a_refused_extension(ctx, client, token):
    """Review 7 working days and reminder at 5 working days, both from the complete package (2026-04-01, over
    清明 04-04..06): the reminder never falls after the deadline, however late the review task is offered again."""
    with freeze_time(datetime(2026, 3, 31, 9, 0, tzinfo=SH)) as frozen:
        case = start(client, token)
        case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
        case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER,
                {"package_complete": False, "missing_items": "缺少证据清单附件"})
        case.do("补正材料", "handler", UNIT, HANDLER, {"supplement_note": "已补充"})
        frozen.move_to(datetime(2026, 4, 1, 9, 0, tzinfo=SH))
        case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        assert review["due_at"].startswith("2026-04-13T15:59:59")       # 7 working days from 04-01
        assert review["remind_at"].startswith("2026-04-09T15:59:59")    # 5 working days from 04-01
        frozen.move_to(datetime(2026, 4, 2, 9, 0, tzinfo=SH))
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {"request_extension": True, "extension_reason": "复杂"})
        frozen.move_to(datetime(2026, 4, 8, 9, 0, tzinfo=SH))             # the head answers late and refuses
        case.do("审批延长审核期限", "agency_head", UNIT, HEAD, {"extension_approved": False, "extension_note": "不同意"})
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        assert review["due_at"].startswith("2026-04-13T15:59:59")
        assert review["remind_at"].startswith("2026-04-09T15:59:59")    # not 5 working days from 04-08
        frozen.move_to(datetime(2026, 4, 10, 9, 0, tzinfo=SH))
        tick(ctx)
        assert case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)["sla_state"] == "due_soon"
        notes = client.get("/api/notifications", headers=token(REVIEWER)).get_json()["notifications"]
        assert [n["kind"] for n in notes if n["kind"] in ("due_soon", "overdue")] == ["due_soon"]


def test_a_major_violation_is_decided_collectively(client, token):
    case = start(client, token, major_violation=True)              # 重大违法, not complex, no dispute
    submit_and_accept(case)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    assert "机关负责人决定" not in case.names()
    case.do("集体讨论决定", "agency_head", UNIT, HEAD,
            {"discussion_record": "重大违法行为，集体讨论同意", "participants": "局务会", "discussion_result": "decide"})
    case.expect("制作并送达行政执法决定书", "handler", UNIT, HANDLER)


def test_an_ordinary_case_is_decided_by_the_head_alone(client, token):
    case = start(client, token, major_violation=False)
    submit_and_accept(case)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    assert "机关负责人决定" in case.names() and "集体讨论决定" not in case.names()


def test_no_ninety_day_warning_once_the_decision_is_issued(ctx, client, token):
    """The 90-day limit is for making the decision: a case waiting for its execution is not warned."""
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)) as frozen:
        case = start(client, token)                                   # filed 2026-03-02
        submit_and_accept(case)
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
        case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve"})
        case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, ISSUE)
        frozen.move_to(datetime(2026, 5, 22, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        assert case.names() == ["登记执行完毕并结案"]
        case.do("登记执行完毕并结案", "handler", UNIT, HANDLER, CLOSE)
        assert case.status() == "completed"
