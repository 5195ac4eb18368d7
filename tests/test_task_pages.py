"""Task pages show what the step acts on (``shows:`` in the form YAML), done tasks say who did them and
when, typed input survives refused uploads and lost claims, date fields are cross-checked, amounts read
as money, the clue page and the revisit of a closed case, and no page of a walk shows a raw code."""
from __future__ import annotations

import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from lxml import html as lxml_html
from sqlalchemy import select

from engine.models import Attachment, IssuedDocument, OrgUnit, ProcessDefinition, ProcessInstance, User
from forms.definition import FormDefinitionError, check_shows, parse_form
from web.extensions import db

from .procedures import CASE, Case
from .test_pages import csrf, sign_in

SH = ZoneInfo("Asia/Shanghai")
HANDLER, REVIEWER, HEAD, UNIT = "guan_scjg_handler", "guan_scjg_review", "guan_scjg_head", "lf.guan.scjg"
MAJOR = {**CASE, "summary": "案情", "amount": 200000, "filed_on": "2026-05-20"}
PACKAGE = {"investigation_report": "调查终结报告：超市销售过期食品", "draft_decision": "行政处罚决定书（代拟稿）",
           "evidence_list": "现场笔录、检验报告", "application_form": "申请法制审核"}
CHECKS = {k: "ok" for k in ("check_subject", "check_authority", "check_procedure", "check_facts", "check_law",
                            "check_documents")}
REVISE = {**CHECKS, "check_law": "problem", "check_crime": "no", "review_outcome": "revise",
          "review_opinion": "裁量基准适用不当，建议修改罚款数额。"}
AGREE = {**CHECKS, "check_crime": "no", "review_outcome": "agree", "review_opinion": "事实清楚，同意。"}


def browser(client, who):
    other = client.application.test_client()
    sign_in(other, who)
    return other


def section(page, element_id: str) -> str:
    """The text of one element of a page ('' when the page has none)."""
    found = lxml_html.fromstring(page.get_data(as_text=True)).get_element_by_id(element_id, None)
    return found.text_content() if found is not None else ""


def upload_package(client, case: Case) -> None:
    """The handler submits the package on the page with a PDF."""
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    page = client.get(f"/tasks/{task['id']}")
    resp = client.post(f"/tasks/{task['id']}/complete", content_type="multipart/form-data", data={
        "csrf_token": csrf(page), **PACKAGE, "package_files__upload": (io.BytesIO(b"%PDF-1.4 evidence"), "检验报告.pdf")})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-1500:]


# -- the declaration ------------------------------------------------------------------------------------
def test_shows_is_declared_with_the_form_and_checked():
    form = parse_form({"key": "x", "title": "X", "shows": [
        {"heading": "送审材料"}, {"form": "mdr_package"}, {"field": "sender_unit", "label": "移送单位", "type": "unit"}],
        "fields": []})
    assert [s.heading or s.field or s.form for s in form.shows] == ["送审材料", "mdr_package", "sender_unit"]
    with pytest.raises(FormDefinitionError, match="needs a label"):
        parse_form({"key": "x", "title": "X", "shows": [{"field": "sender_unit"}]})
    with pytest.raises(FormDefinitionError, match="type must be"):
        parse_form({"key": "x", "title": "X", "shows": [{"field": "a", "label": "A", "type": "blob"}]})
    with pytest.raises(FormDefinitionError, match="unknown form"):
        check_shows({"x": parse_form({"key": "x", "title": "X", "shows": [{"form": "nope"}]})})
    other = parse_form({"key": "o", "title": "O", "fields": [{"name": "a", "type": "text", "label": "A"}]})
    with pytest.raises(FormDefinitionError, match="has no field b"):
        check_shows({"o": other, "x": parse_form({"key": "x", "title": "X", "shows": [{"field": "b", "form": "o"}]})})
    with pytest.raises(FormDefinitionError, match="after belongs on a date"):
        parse_form({"key": "x", "title": "X", "fields": [{"name": "a", "type": "text", "label": "A", "after": "b"}]})


# -- what the step acts on ----------------------------------------------------------------------------
def test_the_reviewer_sees_the_package_and_the_handler_sees_the_opinion(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    upload_package(browser(client, HANDLER), case)
    reviewer = browser(client, REVIEWER)
    task = case.expect("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER)
    page = reviewer.get(f"/tasks/{task['id']}")
    acts_on = section(page, "acts-on")
    assert "调查终结报告：超市销售过期食品" in acts_on and "检验报告.pdf" in acts_on and "证据清单" in acts_on
    assert "200,000.00 元" in section(page, "case-summary") and "某超市销售过期食品案" in section(page, "case-summary")
    [doc] = db.session.scalars(select(Attachment).where(Attachment.instance_id == case.id,    # not the 申请表 issued
                                                        Attachment.id.not_in(select(IssuedDocument.attachment_id)))).all()
    assert f"/documents/{doc.id}" in page.get_data(as_text=True)
    assert reviewer.get(f"/documents/{doc.id}").data == b"%PDF-1.4 evidence"
    case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
    assert "调查终结报告" in section(reviewer.get(f"/tasks/{case.expect('法制审核', 'legal_reviewer', UNIT, REVIEWER)['id']}"),
                                   "acts-on")
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, REVISE)
    handler = browser(client, HANDLER)
    task = case.expect("处理法制审核意见", "handler", UNIT, HANDLER)
    acts_on = section(handler.get(f"/tasks/{task['id']}"), "acts-on")
    assert "裁量基准适用不当，建议修改罚款数额。" in acts_on and "建议修改" in acts_on and "存在问题" in acts_on


def test_the_agency_head_sees_the_review_result(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    task = case.expect("机关负责人决定", "agency_head", UNIT, HEAD)
    acts_on = section(browser(client, HEAD).get(f"/tasks/{task['id']}"), "acts-on")
    assert "事实清楚，同意。" in acts_on and "同意" in acts_on


def test_a_notice_reply_shows_the_problems_and_on_a_redo_why_it_was_sent_back(client, token):
    case = Case(client, token, "supervision_notice", "guan_sup", {
        "notice_unit": UNIT, "notice_kind": "notice", "notice_issues": "决定书未载明救济途径"})
    case.do("制发监督文书", "supervision_officer", "lf.guan.sfj", "guan_sup",
            {"notice_number": "固司监〔2026〕1号", "notice_content": "限期整改并书面回复"})
    unit_user = browser(client, HANDLER)
    task = case.expect("整改并书面回复", "handler", UNIT, HANDLER)
    acts_on = section(unit_user.get(f"/tasks/{task['id']}"), "acts-on")
    assert "决定书未载明救济途径" in acts_on and "限期整改并书面回复" in acts_on and "固安县市场监督管理局" in acts_on
    assert "退回" not in acts_on
    case.do("整改并书面回复", "handler", UNIT, HANDLER, {"rectification_measures": "已补正"})
    case.do("审查整改回复", "supervision_officer", "lf.guan.sfj", "guan_sup",
            {"reply_accepted": False, "check_opinion": "未附整改后的决定书"})
    task = case.expect("整改并书面回复", "handler", UNIT, HANDLER)
    acts_on = section(unit_user.get(f"/tasks/{task['id']}"), "acts-on")
    assert "退回整改的理由" in acts_on and "未附整改后的决定书" in acts_on
    # a 督办 without a case number has a readable name, not a database id
    page = unit_user.get(f"/cases/{case.id}")
    assert "行政执法监督通知书：固安县市场监督管理局" in section(page, "content") or \
        "行政执法监督通知书：固安县市场监督管理局" in page.get_data(as_text=True)


def test_the_referral_receiver_sees_the_case_and_the_senders_files(client, token):
    team, team_user = "lf.guan.guanzhen.zfd", "guan_guanzhen_handler"
    sender = Case(client, token, "case_referral", team_user, {
        **CASE, "case_number": "GZ-2026-401", "referral_target": UNIT, "referral_kind": "ordinary",
        "referral_reason": "涉及食品经营许可，属市场监管部门管辖", "found_at": "2026-05-29T09:00"})
    sending = browser(client, team_user)
    task = sender.expect("制作移送函并移送材料", "handler", team, team_user)
    page = sending.get(f"/tasks/{task['id']}")
    resp = sending.post(f"/tasks/{task['id']}/complete", content_type="multipart/form-data", data={
        "csrf_token": csrf(page), "letter_number": "固安镇移〔2026〕3号", "handover_list": "案卷1册",
        "referral_files__upload": (io.BytesIO(b"%PDF-1.4 letter"), "移送函.pdf")})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-1500:]
    rcv = Case.found(client, token, "referral_receipt", HANDLER, "GZ-2026-401")
    receiving = browser(client, HANDLER)
    task = rcv.expect("审查移送案件并答复", "handler", UNIT, HANDLER)
    page = receiving.get(f"/tasks/{task['id']}")
    acts_on = section(page, "acts-on")
    for text in ("某超市销售过期食品案", "某超市有限公司", "涉及食品经营许可", "移〔2026〕1号", "移送函.pdf",
                 "固安镇综合行政执法队"):
        assert text in acts_on, text
    documents = section(page, "documents")
    assert "移送函.pdf" in documents and "暂无" not in documents
    [doc] = db.session.scalars(select(Attachment).where(Attachment.filename == "移送函.pdf")).all()
    assert "移送函.pdf" in section(receiving.get(f"/cases/{rcv.id}"), "documents")
    assert receiving.get(f"/documents/{doc.id}").data == b"%PDF-1.4 letter"
    # someone of a unit that has nothing to do with the case still cannot read it
    assert browser(client, "sanhe_scjg_handler").get(f"/documents/{doc.id}").status_code == 404


# -- done tasks and second rounds ---------------------------------------------------------------------
def test_a_done_task_says_by_whom_and_when_and_the_second_round_starts_empty(client, token):
    with freeze_time(datetime(2026, 6, 1, 10, 30, tzinfo=SH), tick=True):
        case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
        case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
        case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
        first = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, REVISE)
    reviewer = browser(client, REVIEWER)
    page = reviewer.get(f"/tasks/{first['id']}")
    done = section(page, "completed")
    reviewer_name = db.session.scalar(select(User.display_name).where(User.username == REVIEWER))
    assert reviewer_name in done and "2026-06-01 10:30" in done and "裁量基准适用不当" in done
    assert 'id="complete"' not in page.get_data(as_text=True)
    listing = reviewer.get("/?tab=done").get_data(as_text=True)
    assert "办结时间" in listing and "2026-06-01 10:30" in listing
    # round two: the handler resubmits; the reviewer's form starts empty, the handler's package is kept
    case.do("处理法制审核意见", "handler", UNIT, HANDLER, {"response": "accept"})
    handler = browser(client, HANDLER)
    resubmit = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    assert "调查终结报告：超市销售过期食品" in handler.get(f"/tasks/{resubmit['id']}").get_data(as_text=True)
    case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
    second = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
    form = lxml_html.fromstring(reviewer.get(f"/tasks/{second['id']}").get_data(as_text=True)).get_element_by_id("task-form")
    assert form.xpath('.//select[@name="review_outcome"]/option[@selected]') == []
    assert form.xpath('.//select[@name="check_law"]/option[@selected]') == []
    assert form.xpath('.//textarea[@name="review_opinion"]')[0].text_content().strip() == ""


# -- typed input is kept ----------------------------------------------------------------------------------
def test_a_refused_upload_keeps_everything_typed(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    handler = browser(client, HANDLER)
    page = handler.get(f"/tasks/{task['id']}")
    resp = handler.post(f"/tasks/{task['id']}/complete", content_type="multipart/form-data", data={
        "csrf_token": csrf(page), **PACKAGE, "package_files__upload": (io.BytesIO(b"MZ..."), "tool.exe")})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "不接受 .exe 类型的文件" in body
    for value in PACKAGE.values():
        assert value in body
    assert case.expect("提交法制审核材料", "handler", UNIT, HANDLER)["status"] == "open"


def test_someone_claiming_first_keeps_the_typed_input_with_a_message(client, token):
    from .test_case_revisit import CLOSED
    case = Case(client, token, "case_revisit", "guan_scjg_revisit", CLOSED)
    task = case.expect("开展回访", "revisit_officer", UNIT, "guan_scjg_revisit")
    officer = browser(client, "guan_scjg_revisit")
    page = officer.get(f"/tasks/{task['id']}")
    assert client.post(f"/api/tasks/{task['id']}/claim", headers=token("guan_scjg_revisit2")).status_code == 200
    resp = officer.post(f"/tasks/{task['id']}/complete", data={
        "csrf_token": csrf(page), "officer_1": "guan_scjg_revisit", "opinions": "当事人反映罚款偏高"})
    body = resp.get_data(as_text=True)
    assert resp.status_code in (403, 409)
    assert "当事人反映罚款偏高" in body and "固安县市场监管局回访人员（二） 已先签收此任务" in body
    assert 'id="complete"' not in body


def test_a_task_completed_first_by_someone_else_keeps_the_typed_input(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    handler = browser(client, HANDLER)
    page = handler.get(f"/tasks/{task['id']}")
    case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    resp = handler.post(f"/tasks/{task['id']}/complete", data={"csrf_token": csrf(page), **PACKAGE,
                                                              "statement_record": "另一份陈述申辩"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "另一份陈述申辩" in body and "已由他人先行办结" in body


def test_the_required_mark_follows_the_answer_in_the_page(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    task = case.expect("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER)
    page = browser(client, REVIEWER).get(f"/tasks/{task['id']}").get_data(as_text=True)
    field = lxml_html.fromstring(page).get_element_by_id("field-missing_items")
    assert field.get("data-required-field") == "package_complete" and field.get("data-required-values") == "[false]"
    assert field.xpath('.//span[contains(@class, "required-mark")]')
    assert "form-marks.js" in page


# -- dates, money -----------------------------------------------------------------------------------------
def test_service_cannot_precede_the_decision_and_the_error_keeps_the_input(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve"})
    resp = case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, {
        "decision_number": "固市监罚决〔2026〕12号", "decision_date": "2026-05-25", "served_on": "2026-05-24"}, status=422)
    assert resp["fields"] == {"served_on": ["不能早于决定日期（2026-05-25）。"]}
    resp = case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, {
        "decision_number": "固市监罚决〔2026〕12号", "decision_date": "2026-05-19", "served_on": "2026-05-24"}, status=422)
    assert resp["fields"] == {"decision_date": ["不能早于立案日期（2026-05-20）。"]}
    task = case.expect("制作并送达行政执法决定书", "handler", UNIT, HANDLER)
    handler = browser(client, HANDLER)
    page = handler.get(f"/tasks/{task['id']}")
    assert "同意作出决定" in section(page, "acts-on")
    resp = handler.post(f"/tasks/{task['id']}/complete", data={
        "csrf_token": csrf(page), "decision_number": "固市监罚决〔2026〕12号", "decision_date": "2026-05-25",
        "served_on": "2026-05-24"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "不能早于决定日期" in body and "固市监罚决〔2026〕12号" in body
    case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, {
        "decision_number": "固市监罚决〔2026〕12号", "decision_date": "2026-05-25", "served_on": "2026-05-25"})
    resp = case.do("登记执行完毕并结案", "handler", UNIT, HANDLER, {
        "executed_on": "2026-05-24", "closed_on": "2026-05-26", "case_origin": "routine"}, status=422)
    assert resp["fields"] == {"executed_on": ["不能早于决定日期（2026-05-25）。"]}


def test_pilot_stages_in_order_and_no_deadline_in_the_past(client, token):
    ok = {"round_name": "2026年第二轮试点报送", "stage1_reminder": "2026-06-10", "stage1_deadline": "2026-06-15",
          "stage2_deadline": "2026-07-15", "stage3_deadline": "2026-08-31"}
    cases = [({"stage1_deadline": "2026-05-29", "stage1_reminder": "2026-05-20"},
              {"stage1_deadline": ["不能早于今天（今天是 2026-06-01）。"]}),
             ({"stage1_reminder": "2026-06-20"},
              {"stage1_deadline": ["不能早于第一阶段提醒日期（2026-06-20）。"]}),
             ({"stage2_deadline": "2026-06-14"},
              {"stage2_deadline": ["不能早于第一阶段截止日期（报送县乡两级实施方案）（2026-06-15）。"]}),
             ({"stage3_deadline": "2026-07-01"},
              {"stage3_deadline": ["不能早于第二阶段截止日期（确认职责机构、报送示范创建名单）（2026-07-15）。"]})]
    for change, fields in cases:
        resp = client.post("/api/instances", headers=token("city_sup"),
                           json={"process_key": "pilot_reporting", "data": {**ok, **change}})
        assert resp.status_code == 422 and resp.get_json()["fields"] == fields, (change, resp.get_json())
    resp = client.post("/api/instances", headers=token("city_sup"), json={"process_key": "pilot_reporting", "data": ok})
    assert resp.status_code == 201, resp.get_json()
    instance = db.session.get(ProcessInstance, resp.get_json()["id"])
    assert instance.business_key is None
    city = browser(client, "city_sup")
    page = city.get(f"/cases/{instance.id}").get_data(as_text=True)
    assert "<h1>2026年第二轮试点报送 · " in page
    # the county's plan, then the city's review shows it
    case = Case.__new__(Case)
    case.client, case.token, case.id, case.starter = client, token, instance.id, "city_sup"
    case.do("报送县乡两级实施方案", "supervision_officer", "lf.guan.sfj", "guan_sup",
            {"plan_summary": "县乡两级同步推进，司法所承担法制审核"})
    review = next(t for t in case.open_tasks() if t["name"] == "审核实施方案" and t["subject"].startswith("固安县"))
    acts_on = section(city.get(f"/tasks/{review['id']}"), "acts-on")
    assert "县乡两级同步推进，司法所承担法制审核" in acts_on and "实施方案" in acts_on
    dashboard = lxml_html.fromstring(city.get("/dashboard").get_data(as_text=True)).text_content()
    assert "2026年第二轮试点报送" in dashboard


def test_amounts_read_as_money_on_the_case_page(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "amount": 50000.0})
    text = lxml_html.fromstring(browser(client, HANDLER).get(f"/cases/{case.id}").get_data(as_text=True)).text_content()
    assert "50,000.00 元" in text and "50000.0" not in text


# -- clue page, revisit from a closed case, procedure filters ---------------------------------------------
def test_a_clue_is_entered_on_a_page(client, token):
    assert browser(client, HANDLER).get("/clues/new").status_code == 403
    sup = browser(client, "guan_sup")
    assert "/clues/new" in sup.get("/start").get_data(as_text=True)
    page = sup.get("/clues/new")
    assert page.status_code == 200 and "12345热线" in page.get_data(as_text=True)
    # a unit outside the county is refused; the input is kept
    resp = sup.post("/clues/new", data={"csrf_token": csrf(page), "case_unit": "lf.sanhe.scjg",
                                        "case_number": "12345-2026-0500", "case_title": "反映执法人员态度问题",
                                        "clue_source": "hotline"})
    assert resp.status_code == 422 and "反映执法人员态度问题" in resp.get_data(as_text=True)
    resp = sup.post("/clues/new", data={"csrf_token": csrf(page), "case_unit": UNIT, "case_number": "12345-2026-0500",
                                        "case_title": "反映执法人员态度问题", "clue_source": "hotline",
                                        "clue_content": "执法人员未出示证件"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-1500:]
    clue = Case.found(client, token, "revisit_clue", "guan_scjg_revisit", "12345-2026-0500")
    task = clue.expect("开展回访", "revisit_officer", UNIT, "guan_scjg_revisit")
    assert task["subject"] == "12345-2026-0500"
    # the API takes the same clue and checks it against the same form
    resp = client.post("/api/messages", headers=token("guan_sup"), json={"name": "revisit_clue", "payload": {
        "case_number": "12345-2026-0501", "case_unit": UNIT, "case_title": "x", "clue_source": "fax"}})
    assert resp.status_code == 422 and "clue_source" in resp.get_json()["fields"]


def test_the_revisit_is_started_from_a_closed_case_with_its_data(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "amount": 5000})    # not major: closed
    assert case.status() == "completed"
    officer = browser(client, "guan_scjg_revisit")
    page = officer.get(f"/cases/{case.id}")
    link = lxml_html.fromstring(page.get_data(as_text=True)).get_element_by_id("start-revisit")
    start = officer.get(link.get("href"))
    form = lxml_html.fromstring(start.get_data(as_text=True)).get_element_by_id("start-form")
    assert form.xpath('.//input[@name="case_number"]')[0].get("value") == CASE["case_number"]
    assert form.xpath('.//input[@name="case_title"]')[0].get("value") == CASE["case_title"]
    assert form.xpath('.//select[@name="case_type"]/option[@selected]')[0].get("value") == "fine"
    assert HANDLER in form.xpath('.//input[@name="case_handlers"]')[0].get("value")
    # a person who cannot read the case gets nothing carried over
    assert browser(client, "sanhe_scjg_revisit").get(link.get("href")).status_code == 404
    # the running case offers no revisit
    running = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": "固市监罚〔2026〕77号"})
    assert 'id="start-revisit"' not in officer.get(f"/cases/{running.id}").get_data(as_text=True)


def test_procedure_filters_list_procedures_not_sub_processes(client, token):
    page = browser(client, HANDLER).get("/").get_data(as_text=True)
    options = lxml_html.fromstring(page).xpath('//select[@name="process"]/option/@value')
    assert "major_decision_review" in options and "case_referral" in options
    assert "case_referral_flow" not in options and "case_revisit_flow" not in options
    dash = browser(client, "city_sup").get("/dashboard").get_data(as_text=True)
    options = lxml_html.fromstring(dash).xpath('//select[@name="process"]/option/@value')
    assert options and "case_referral_flow" not in options and "case_revisit_flow" not in options


# -- no raw codes in a walk ---------------------------------------------------------------------------
BPMN_WORDS = {"userTask", "scriptTask", "serviceTask", "callActivity", "startEvent", "endEvent", "sla",
              "property", "formKey", "system", "System", "None", "True", "False", "null"}
_ASCII_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*[A-Za-z0-9_]|[A-Za-z]")


def readable_text(page_html: str) -> str:
    """What a person reads on a page: its text (no scripts, styles or attribute values) plus the texts of
    titles, placeholders, labels and the options of pickers."""
    tree = lxml_html.fromstring(page_html)
    for bad in tree.xpath("//script|//style|//template"):
        bad.drop_tree()
    parts = [tree.text_content()]
    parts += tree.xpath("//@title|//@placeholder|//@aria-label|//@alt|//@data-confirm")
    return "\n".join(parts)


def raw_codes(page_html: str, users: set[str], units: set[str], keys: set[str]) -> set[str]:
    words = set(_ASCII_WORD.findall(readable_text(page_html)))
    return {w for w in words if w in users or w in units or w in keys or w in BPMN_WORDS
            or re.fullmatch(r"lf(\.[a-z0-9_]+)+", w)}


def test_the_pages_of_a_walk_of_each_procedure_show_no_raw_codes(ctx, client, token):
    from .test_case_revisit import CLOSED, REVISIT
    # 重大执法决定法制审核, with a second round
    mdr = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    upload_package(browser(client, HANDLER), mdr)
    mdr.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
    mdr.do("法制审核", "legal_reviewer", UNIT, REVIEWER, REVISE)
    mdr.do("处理法制审核意见", "handler", UNIT, HANDLER, {"response": "accept"})
    mdr.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    mdr.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
    mdr.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    mdr.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve", "head_opinion": "同意"})
    mdr.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, {
        "decision_number": "固市监罚决〔2026〕12号", "decision_date": "2026-05-25", "served_on": "2026-05-26"})
    mdr.do("登记执行完毕并结案", "handler", UNIT, HANDLER, {
        "executed_on": "2026-05-27", "closed_on": "2026-05-28", "case_origin": "routine"})
    # 案件移送
    team, team_user = "lf.guan.guanzhen.zfd", "guan_guanzhen_handler"
    sender = Case(client, token, "case_referral", team_user, {
        **CASE, "case_number": "GZ-2026-402", "referral_target": UNIT, "referral_kind": "ordinary",
        "referral_reason": "属市场监管部门管辖", "found_at": "2026-05-29T09:00"})
    sender.do("制作移送函并移送材料", "handler", team, team_user, {"letter_number": "移〔2026〕4号", "handover_list": "案卷"})
    rcv = Case.found(client, token, "referral_receipt", HANDLER, "GZ-2026-402")
    rcv.do("审查移送案件并答复", "handler", UNIT, HANDLER, {"answer": "accept"})
    rcv.do("立案办理移送案件", "handler", UNIT, HANDLER, {"new_case_number": "固市监立〔2026〕88号"})
    # 执法监督督办 without a case number
    notice = Case(client, token, "supervision_notice", "guan_sup", {
        "notice_unit": UNIT, "notice_kind": "notice", "notice_issues": "未载明救济途径"})
    notice.do("制发监督文书", "supervision_officer", "lf.guan.sfj", "guan_sup",
              {"notice_number": "固司监〔2026〕2号", "notice_content": "限期整改"})
    notice.do("整改并书面回复", "handler", UNIT, HANDLER, {"rectification_measures": "已补正"})
    notice.do("审查整改回复", "supervision_officer", "lf.guan.sfj", "guan_sup", {"reply_accepted": True})
    # 案件回访
    revisit = Case(client, token, "case_revisit", "guan_scjg_revisit", CLOSED)
    revisit.do("开展回访", "revisit_officer", UNIT, "guan_scjg_revisit", {**REVISIT, "satisfaction": "satisfied"})
    # 试点阶段报送: started, one county reports
    pilot = Case(client, token, "pilot_reporting", "city_sup", {
        "round_name": "2026年第二轮试点报送", "stage1_reminder": "2026-06-10", "stage1_deadline": "2026-06-15",
        "stage2_deadline": "2026-07-15", "stage3_deadline": "2026-08-31"})
    pilot.do("报送县乡两级实施方案", "supervision_officer", "lf.guan.sfj", "guan_sup", {"plan_summary": "方案要点"})

    users = set(db.session.scalars(select(User.username)))
    units = set(db.session.scalars(select(OrgUnit.code)))
    keys = set(db.session.scalars(select(ProcessDefinition.key)))
    from engine.models import HumanTask
    found: dict[str, set[str]] = {}
    people = {HANDLER, REVIEWER, HEAD, "guan_sup", team_user, "guan_scjg_revisit", "city_sup"}
    for who in people:
        reader = browser(client, who)
        urls = ["/", "/?tab=group", "/?tab=done", "/start"]
        user = db.session.scalar(select(User).where(User.username == who))
        done = db.session.scalars(select(HumanTask).where(HumanTask.completed_by_id == user.id)).all()
        urls += [f"/tasks/{t.id}" for t in done]
        urls += [f"/cases/{i}" for i in {t.instance_id for t in done}]
        for url in urls:
            resp = reader.get(url)
            if resp.status_code != 200:
                continue
            bad = raw_codes(resp.get_data(as_text=True), users, units, keys)
            if bad:
                found[f"{who} {url}"] = bad
    for who, urls in (("city_sup", ["/dashboard", "/queue"]), ("admin", ["/dashboard", "/queue", "/admin/incidents"])):
        reader = browser(client, who)
        for url in urls:
            resp = reader.get(url)
            if resp.status_code == 200:
                bad = raw_codes(resp.get_data(as_text=True), users, units, keys)
                if bad:
                    found[f"{who} {url}"] = bad
    assert found == {}, "\n".join(f"{k}: {sorted(v)}" for k, v in sorted(found.items()))
