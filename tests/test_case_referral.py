"""案件移送 (DOMAIN §3): sender and receiver are two instances joined by messages on the case number."""
from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time
from lxml import etree


from .procedures import CASE, Case, tick

SH = ZoneInfo("Asia/Shanghai")
TEAM, TEAM_USER = "lf.guan.guanzhen.zfd", "guan_guanzhen_handler"      # 固安镇综合行政执法队
GA_SCJG, GA_SCJG_USER = "lf.guan.scjg", "guan_scjg_handler"            # 固安县市场监管局
SH_SCJG, SH_SCJG_USER = "lf.sanhe.scjg", "sanhe_scjg_handler"          # 三河市市场监管局
PREPARE = {"letter_number": "固安镇移〔2026〕3号", "handover_list": "案卷1册、现场照片12张"}


def refer(client, token, user, target, kind="ordinary", number="GZ-2026-001") -> Case:
    return Case(client, token, "case_referral", user, {
        **CASE, "case_number": number, "referral_target": target, "referral_kind": kind,
        "referral_reason": "涉及食品经营许可，属市场监管部门管辖", "found_at": "2026-03-09T09:00"})


def receiver(sender: Case, who: str) -> Case:
    """The receiving instance started by the sender's message (same case number)."""
    return Case.found(sender.client, sender.token, "referral_receipt", who, sender.state()["business_key"])


def test_township_to_county_unanswered_for_five_working_days_then_accepted(ctx, client, token):
    with freeze_time(datetime(2026, 3, 9, 10, 0, tzinfo=SH)) as frozen:
        sender = refer(client, token, TEAM_USER, GA_SCJG)
        prep = sender.expect("制作移送函并移送材料", "handler", TEAM, TEAM_USER)
        assert prep["due_at"].startswith("2026-03-12T15:59:59")      # 3 working days from 03-09
        sender.do("制作移送函并移送材料", "handler", TEAM, TEAM_USER, PREPARE)
        rcv = receiver(sender, GA_SCJG_USER)
        answer = rcv.expect("审查移送案件并答复", "handler", GA_SCJG, GA_SCJG_USER)
        assert answer["due_at"].startswith("2026-03-16T15:59:59")
        # the sender sees what it sent, waiting; it cannot act on the receiver's task
        assert sender.status() == "running" and sender.open_tasks() == []
        assert client.post(f"/api/tasks/{answer['id']}/claim", headers=token(TEAM_USER)).status_code == 404
        frozen.move_to(datetime(2026, 3, 16, 12, 0, tzinfo=SH))
        tick(ctx)
        assert "移送案件逾期未答复督办" not in rcv.names()
        frozen.move_to(datetime(2026, 3, 17, 0, 0, 5, tzinfo=SH))   # 5 working days without an answer
        tick(ctx)
        rcv.expect("移送案件逾期未答复督办", "supervision_officer", "lf.guan.sfj", "guan_sup")
        assert rcv.expect("审查移送案件并答复", "handler", GA_SCJG, GA_SCJG_USER)["sla_state"] == "escalated"
        # the receiver may not refer the case on: there is no such answer
        resp = rcv.do("审查移送案件并答复", "handler", GA_SCJG, GA_SCJG_USER,
                      {"answer": "refer", "referral_target": "lf.guan.sthj"}, status=422)
        assert set(resp["fields"]) == {"answer", "referral_target"}
        rcv.do("审查移送案件并答复", "handler", GA_SCJG, GA_SCJG_USER, {"answer": "accept"})
        rcv.do("立案办理移送案件", "handler", GA_SCJG, GA_SCJG_USER, {"new_case_number": "固市监立〔2026〕88号"})
        rcv.do("移送案件逾期未答复督办", "supervision_officer", "lf.guan.sfj", "guan_sup",
               {"supervision_action": "urge", "supervision_opinion": "已督促"})
        assert sender.status() == "completed" and rcv.status() == "completed"
        received = sender.history("message_received")
        assert received and received[0]["data"]["message"] == "referral_answered"


def test_the_receiver_has_no_way_to_refer_onward():
    path = os.path.join(os.path.dirname(__file__), "..", "workflows", "bpmn", "case_referral.bpmn")
    tree = etree.parse(path)
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    receiver_proc = tree.find(".//bpmn:process[@id='referral_receipt']", ns)
    throws = receiver_proc.xpath(".//bpmn:intermediateThrowEvent//bpmn:messageEventDefinition/@messageRef", namespaces=ns)
    # only the answer to the sender, and a supervision request to the justice bureau — never a referral
    assert sorted(throws) == ["msg_referral_answered", "msg_supervision_requested"]
    # the only procedure it calls is the expert consultation of coordination (issue 12), which sends nothing
    called = receiver_proc.xpath(".//bpmn:callActivity/@calledElement", namespaces=ns)
    assert set(called) <= {"expert_consultation"}
    consultation = etree.parse(os.path.join(os.path.dirname(path), "expert_consultation.bpmn"))
    assert not consultation.xpath(".//bpmn:messageEventDefinition|.//bpmn:callActivity", namespaces=ns)


def test_objection_across_counties_is_coordinated_by_the_city(client, token):
    sender = refer(client, token, GA_SCJG_USER, SH_SCJG)
    sender.do("制作移送函并移送材料", "handler", GA_SCJG, GA_SCJG_USER, PREPARE)
    rcv = receiver(sender, SH_SCJG_USER)
    rcv.do("审查移送案件并答复", "handler", SH_SCJG, SH_SCJG_USER,
           {"answer": "object", "objection_reason": "违法行为发生地在固安县"})
    rcv.do("受理移送争议", "supervision_officer", "lf.sfj", "city_sup",
           {"need_material": True, "material_request": "请补充违法行为发生地的证据"})
    rcv.do("补充协调材料（移送单位）", "handler", GA_SCJG, GA_SCJG_USER, {"material_note": "补充现场勘验笔录"})
    rcv.do("出具行政执法协调意见书", "supervision_officer", "lf.sfj", "city_sup",
           {"designated": "receiver", "coordination_opinion": "由三河市市场监管局办理"})
    rcv.do("立案办理移送案件", "handler", SH_SCJG, SH_SCJG_USER, {"new_case_number": "三市监立〔2026〕5号"})
    assert sender.status() == "completed" and rcv.status() == "completed"


def test_coordination_returns_the_case_to_the_sender(client, token):
    sender = refer(client, token, TEAM_USER, GA_SCJG, number="GZ-2026-002")
    sender.do("制作移送函并移送材料", "handler", TEAM, TEAM_USER, PREPARE)
    rcv = receiver(sender, GA_SCJG_USER)
    rcv.do("审查移送案件并答复", "handler", GA_SCJG, GA_SCJG_USER, {"answer": "object", "objection_reason": "乡镇职权"})
    rcv.do("受理移送争议", "supervision_officer", "lf.guan.sfj", "guan_sup", {"need_material": False})
    rcv.do("出具行政执法协调意见书", "supervision_officer", "lf.guan.sfj", "guan_sup",
           {"designated": "sender", "coordination_opinion": "属于赋权乡镇事项，由综合行政执法队办理"})
    assert rcv.status() == "completed"
    sender.do("继续办理退回的案件", "handler", TEAM, TEAM_USER, {"returned_note": "继续办理"})
    assert sender.status() == "completed"


def test_deadlock_goes_to_the_government(client, token):
    sender = refer(client, token, GA_SCJG_USER, SH_SCJG, number="GA-2026-009")
    sender.do("制作移送函并移送材料", "handler", GA_SCJG, GA_SCJG_USER, PREPARE)
    rcv = receiver(sender, SH_SCJG_USER)
    rcv.do("审查移送案件并答复", "handler", SH_SCJG, SH_SCJG_USER, {"answer": "object", "objection_reason": "x"})
    rcv.do("受理移送争议", "supervision_officer", "lf.sfj", "city_sup", {"need_material": False})
    rcv.do("出具行政执法协调意见书", "supervision_officer", "lf.sfj", "city_sup",
           {"designated": "deadlock", "coordination_opinion": "双方意见分歧较大"})
    rcv.do("提请人民政府决定", "agency_head", "lf", "city_gov_head",
           {"designated": "sender", "decision_note": "由固安县市场监管局办理"})
    sender.do("继续办理退回的案件", "handler", GA_SCJG, GA_SCJG_USER, {"returned_note": "继续办理"})
    assert sender.status() == "completed" and rcv.status() == "completed"


def test_suspected_crime_goes_to_the_police_on_calendar_time(client, token):
    with freeze_time(datetime(2026, 3, 13, 16, 0, tzinfo=SH)):       # a Friday: calendar days, not working days
        sender = refer(client, token, GA_SCJG_USER, "lf.guan.gaj", kind="criminal", number="GA-XS-1")
        head = sender.expect("审批移送涉嫌犯罪案件", "agency_head", GA_SCJG, "guan_scjg_head")
        assert head["due_at"].startswith("2026-03-16T15:59:59")      # 3 days → Monday end of day
        sender.do("审批移送涉嫌犯罪案件", "agency_head", GA_SCJG, "guan_scjg_head", {"approve_transfer": True})
        prep = sender.expect("制作移送函并移送材料", "handler", GA_SCJG, GA_SCJG_USER)
        assert prep["due_at"].startswith("2026-03-14T08:00:00")      # 24 hours
        sender.do("制作移送函并移送材料", "handler", GA_SCJG, GA_SCJG_USER, PREPARE)
        police = receiver(sender, "guan_gaj_handler")
        task = police.expect("审查是否立案（公安机关）", "handler", "lf.guan.gaj", "guan_gaj_handler")
        assert task["due_at"].startswith("2026-03-16T15:59:59")
        police.do("审查是否立案（公安机关）", "handler", "lf.guan.gaj", "guan_gaj_handler",
                  {"file_case": True, "police_note": "符合立案标准"})
        assert sender.status() == "completed" and police.status() == "completed"


def test_police_not_filing_returns_the_case_and_a_refused_handover_ends(client, token):
    sender = refer(client, token, GA_SCJG_USER, "lf.guan.gaj", kind="criminal", number="GA-XS-2")
    sender.do("审批移送涉嫌犯罪案件", "agency_head", GA_SCJG, "guan_scjg_head", {"approve_transfer": True})
    sender.do("制作移送函并移送材料", "handler", GA_SCJG, GA_SCJG_USER, PREPARE)
    police = receiver(sender, "guan_gaj_handler")
    police.do("审查是否立案（公安机关）", "handler", "lf.guan.gaj", "guan_gaj_handler",
              {"file_case": False, "police_note": "不构成犯罪"})
    sender.do("继续办理退回的案件", "handler", GA_SCJG, GA_SCJG_USER, {"returned_note": "作行政处罚"})
    assert sender.status() == "completed"

    refused = refer(client, token, GA_SCJG_USER, "lf.guan.gaj", kind="criminal", number="GA-XS-3")
    refused.do("审批移送涉嫌犯罪案件", "agency_head", GA_SCJG, "guan_scjg_head",
               {"approve_transfer": False, "head_note": "证据不足"})
    assert refused.status() == "completed"


def test_government_designates_the_receiver(client, token):
    sender = refer(client, token, GA_SCJG_USER, SH_SCJG, number="GA-2026-010")
    sender.do("制作移送函并移送材料", "handler", GA_SCJG, GA_SCJG_USER, PREPARE)
    rcv = receiver(sender, SH_SCJG_USER)
    rcv.do("审查移送案件并答复", "handler", SH_SCJG, SH_SCJG_USER, {"answer": "object", "objection_reason": "x"})
    rcv.do("受理移送争议", "supervision_officer", "lf.sfj", "city_sup", {"need_material": False})
    rcv.do("出具行政执法协调意见书", "supervision_officer", "lf.sfj", "city_sup",
           {"designated": "deadlock", "coordination_opinion": "分歧"})
    rcv.do("提请人民政府决定", "agency_head", "lf", "city_gov_head",
           {"designated": "receiver", "decision_note": "由三河市市场监管局办理"})
    rcv.do("立案办理移送案件", "handler", SH_SCJG, SH_SCJG_USER, {"new_case_number": "三市监立〔2026〕9号"})
    assert sender.status() == "completed" and rcv.status() == "completed"


# -- issue 9: rules that were wrong --------------------------------------------------------------------------

def refer_found(client, token, user, target, found_at: str, kind="ordinary", number="GZ-2026-001") -> Case:
    return Case(client, token, "case_referral", user, {
        **CASE, "case_number": number, "referral_target": target, "referral_kind": kind,
        "referral_reason": "涉及食品经营许可，属市场监管部门管辖", "found_at": found_at})


def test_a_serious_case_is_referred_within_24_hours_of_being_found(client, token):
    with freeze_time(datetime(2026, 3, 13, 16, 0, tzinfo=SH)):
        sender = refer_found(client, token, TEAM_USER, "lf.guan.yjgl", "2026-03-13T08:00", kind="serious",
                             number="GZ-AQ-1")
        prep = sender.expect("制作移送函并移送材料", "handler", TEAM, TEAM_USER)
        assert prep["due_at"].startswith("2026-03-14T00:00:00")      # 08:00 the next day, Shanghai
        ordinary = refer_found(client, token, TEAM_USER, GA_SCJG, "2026-03-13T08:00", number="GZ-2026-011")
        prep = ordinary.expect("制作移送函并移送材料", "handler", TEAM, TEAM_USER)
        assert prep["due_at"].startswith("2026-03-18T15:59:59")      # 3 working days from Friday 03-13


def test_the_receiver_cannot_start_an_onward_referral_of_the_same_case(client, token):
    sender = refer_found(client, token, TEAM_USER, GA_SCJG, "2026-03-09T09:00", number="GZ-2026-020")
    sender.do("制作移送函并移送材料", "handler", TEAM, TEAM_USER, PREPARE)
    receiver(sender, GA_SCJG_USER).expect("审查移送案件并答复", "handler", GA_SCJG, GA_SCJG_USER)
    onward = {**CASE, "case_number": "GZ-2026-020", "referral_target": SH_SCJG, "referral_kind": "ordinary",
              "referral_reason": "应由三河市管辖", "found_at": "2026-03-10T09:00"}
    resp = client.post("/api/instances", headers=token(GA_SCJG_USER),
                       json={"process_key": "case_referral", "business_key": "GZ-2026-020", "data": onward})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["fields"] == {"case_number": [
        "该案件是移送给本单位的案件，不得自行再次移送；认为不属于本单位管辖的，请在“审查移送案件并答复”中提出异议，由司法行政部门协调。"]}
    # another unit with a case of that number is not concerned
    Case(client, token, "case_referral", SH_SCJG_USER, {**onward, "referral_target": "lf.sanhe.sthj"})


def _receipt(client, token, who: str, sender_unit: str) -> Case:
    """The receiving instance of the referral ``sender_unit`` sent (several may share a case number)."""
    from sqlalchemy import select
    from engine.models import ProcessInstance
    from web.extensions import db
    from web.services import runtime
    found = [i.id for i in db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_key == "referral_receipt")) if runtime().data_of(i).get("sender_unit") == sender_unit]
    assert len(found) == 1, found
    case = Case.__new__(Case)
    case.client, case.token, case.id, case.starter = client, token, found[0], who
    return case


def test_answers_reach_the_referral_that_was_sent(client, token):
    """Two units refer cases that happen to carry the same number: each answer reaches its own sender."""
    first = refer_found(client, token, TEAM_USER, GA_SCJG, "2026-03-09T09:00", number="2026-001")
    first.do("制作移送函并移送材料", "handler", TEAM, TEAM_USER, PREPARE)
    second = refer_found(client, token, SH_SCJG_USER, "lf.sanhe.sthj", "2026-03-09T09:00", number="2026-001")
    second.do("制作移送函并移送材料", "handler", SH_SCJG, SH_SCJG_USER, PREPARE)
    later = _receipt(client, token, "sanhe_sthj_handler", SH_SCJG)
    later.do("审查移送案件并答复", "handler", "lf.sanhe.sthj", "sanhe_sthj_handler", {"answer": "accept"})
    assert second.status() == "completed"
    assert first.status() == "running"                        # still waiting for its own receiver
    earlier = _receipt(client, token, GA_SCJG_USER, TEAM)
    earlier.do("审查移送案件并答复", "handler", GA_SCJG, GA_SCJG_USER, {"answer": "accept"})
    assert first.status() == "completed"
    referral_ids = {m["data"]["correlation"]["referral"]["referral_id"] for m in first.history("message_received")
                    + second.history("message_received")}
    assert len(referral_ids) == 2


def test_the_receivers_legal_review_cannot_refer_the_received_case_onward(client, token):
    """The same rule when the referral would start from the receiver's legal review (建议移送 → 办理案件移送,
    a message start): the handler's step is refused with the rule's text, and nothing is referred."""
    from .test_major_decision_review import AGREE, MAJOR, REVIEWER, UNIT as REVIEW_UNIT, submit_and_accept
    sender = refer_found(client, token, TEAM_USER, GA_SCJG, "2026-03-09T09:00", number="GZ-2026-021")
    sender.do("制作移送函并移送材料", "handler", TEAM, TEAM_USER, PREPARE)
    receiver(sender, GA_SCJG_USER).expect("审查移送案件并答复", "handler", GA_SCJG, GA_SCJG_USER)
    review = Case(client, token, "major_decision_review", GA_SCJG_USER, {**MAJOR, "case_number": "GZ-2026-021"})
    submit_and_accept(review)
    review.do("法制审核", "legal_reviewer", REVIEW_UNIT, REVIEWER, {**AGREE, "review_outcome": "transfer"})
    resp = review.do("办理案件移送", "handler", GA_SCJG, GA_SCJG_USER,
                     {"referral_target": SH_SCJG, "referral_reason": "应由三河市管辖"}, status=422)
    assert "不得自行再次移送" in resp["message"]
    review.expect("办理案件移送", "handler", GA_SCJG, GA_SCJG_USER)          # the step stays where it was
    from engine.models import ProcessInstance
    from web.extensions import db
    assert db.session.query(ProcessInstance).filter_by(process_key="case_referral_requested").count() == 0
