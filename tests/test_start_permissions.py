"""Only the right people start a process and hand on a task (issue "Hardening" points 3 and 4): default deny on
``starterRoles``; processes started by messages, timers or other processes are never started by a person;
start data is the start form's fields only; a unit a person fills in is one that person may address; a
reader (invited supervisor) neither delegates nor comments."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.models import AuditEvent, HumanTask, ProcessInstance
from web.extensions import db

from .procedures import CASE as BASICS, Case
from .test_pages import csrf, sign_in

HANDLER = "guan_scjg_handler"          # 固安县市场监督管理局
CASE = {**BASICS, "summary": "销售过期食品，拟罚款20万元", "amount": 200000}
COUNTY_SUP = "guan_sup"                # 固安县司法局 执法监督
OBSERVER = "city_observer"             # 市 行政执法监督员 (reads only)

# Internal processes: a timer start, message starts and a called sub-process. With routing data that would
# plant a task in another county's queue.
INTERNAL = {
    "supervision_notice_flow": {"notice_unit": "lf.sanhe.scjg", "case_unit": "lf.guan.scjg"},
    "supervision_notice_auto": {"notice_unit": "lf.sanhe.scjg"},
    "referral_receipt": {"case_number": "X-1", "referral_target": "lf.sanhe.scjg"},
    "revisit_clue": {"case_number": "X-2", "case_unit": "lf.guan.scjg"},
    "revisit_quarterly": {},
    "case_revisit_flow": {"case_number": "X-3"},
    "revisit_closed": {"case_number": "X-4", "case_unit": "lf.guan.scjg", "executed_on": "2026-05-01"},
    "discipline_referral": {"case_number": "X-5", "case_unit": "lf.guan.jw"},
}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("key", list(INTERNAL))
@pytest.mark.parametrize("who", [HANDLER, COUNTY_SUP, "admin"])
def test_internal_processes_are_never_started_by_a_person(client, token, key, who):
    before = (_count(ProcessInstance), _count(HumanTask), _count(AuditEvent))
    resp = client.post("/api/instances", headers=token(who),
                       json={"process_key": key, "business_key": "P-1", "data": INTERNAL[key]})
    assert resp.status_code == 403, resp.get_json()
    assert "不能发起" in resp.get_json()["message"]
    assert (_count(ProcessInstance), _count(HumanTask), _count(AuditEvent)) == before


def test_internal_processes_are_not_offered_on_the_start_page(client):
    sign_in(client, "admin")
    page = client.get("/start").get_data(as_text=True)
    for key in INTERNAL:
        assert f"/start/{key}" not in page
        assert client.get(f"/start/{key}").status_code == 404


def test_a_procedure_is_started_only_by_its_starter_roles(client, token):
    resp = client.post("/api/instances", headers=token(COUNTY_SUP),
                       json={"process_key": "major_decision_review", "business_key": "P-2", "data": CASE})
    assert resp.status_code == 403                              # starterRoles = handler
    Case(client, token, "major_decision_review", HANDLER, dict(CASE))


def test_routing_variables_are_not_taken_from_start_data(client, token):
    for routing in ({"review_unit": "lf.sanhe.sfj"}, {"initiator": "admin"}, {"is_major": True}):
        resp = client.post("/api/instances", headers=token(HANDLER), json={
            "process_key": "major_decision_review", "business_key": "P-3", "data": {**CASE, **routing}})
        assert resp.status_code == 422, resp.get_json()
        assert set(resp.get_json()["fields"]) == set(routing)


def test_the_case_unit_is_ones_own_or_a_supervised_one(client, token):
    other_county = client.post("/api/instances", headers=token(HANDLER), json={
        "process_key": "major_decision_review", "business_key": "P-4", "data": {**CASE, "case_unit": "lf.sanhe.scjg"}})
    assert other_county.status_code == 403
    listed = client.post("/api/instances", headers=token(HANDLER), json={
        "process_key": "major_decision_review", "business_key": "P-5", "data": {**CASE, "case_unit": ["lf.guan.scjg"]}})
    assert listed.status_code == 422
    own = Case(client, token, "major_decision_review", HANDLER, {**CASE, "case_unit": "lf.guan.scjg"})
    assert own.state()["unit"]["code"] == "lf.guan.scjg"


def test_a_county_supervisor_addresses_only_units_of_the_county(client, token):
    notice = {"notice_kind": "notice", "notice_issues": "行政处罚决定书未载明救济途径"}
    resp = client.post("/api/instances", headers=token(COUNTY_SUP), json={
        "process_key": "supervision_notice", "business_key": "SN-1", "data": {**notice, "notice_unit": "lf.sanhe.scjg"}})
    assert resp.status_code == 422, resp.get_json()
    assert "notice_unit" in resp.get_json()["fields"]
    Case(client, token, "supervision_notice", COUNTY_SUP, {**notice, "notice_unit": "lf.guan.scjg"}, business_key="SN-2")


def test_a_procedure_without_a_start_form_takes_no_data(client, token):
    from .test_repository import DESIGNER, one_task, upload, user_task
    content = one_task("no_form_start", user_task("only")).replace(
        b'<spiffworkflow:property name="formKey" value="test_start"/>', b"")
    assert upload(client, token(DESIGNER), [("no_form_start.bpmn", content)], lang=None).status_code == 201
    resp = client.post("/api/instances", headers=token(HANDLER), json={
        "process_key": "no_form_start", "business_key": "NF-1", "data": {"review_unit": "lf.sanhe.sfj"}})
    assert resp.status_code == 422 and resp.get_json()["message"] == "发起该流程时不接受任何数据"
    resp = client.post("/api/instances", headers=token(HANDLER), json={
        "process_key": "no_form_start", "business_key": "NF-2", "data": {}})
    assert resp.status_code == 201, resp.get_json()


def test_a_reader_neither_delegates_nor_comments(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, dict(CASE))
    task = case.open_tasks()[0]
    assert client.get(f"/api/tasks/{task['id']}", headers=token(OBSERVER)).status_code == 200    # reads it
    resp = client.post(f"/api/tasks/{task['id']}/delegate", headers=token(OBSERVER), json={"username": HANDLER})
    assert resp.status_code == 403, resp.get_json()
    assert db.session.get(HumanTask, task["id"]).claimed_by_id is None
    # the comment form of the case page
    sign_in(client, OBSERVER)
    token_value = csrf(client.get(f"/cases/{case.id}"))
    resp = client.post(f"/cases/{case.id}/comments", data={"text": "意见", "csrf_token": token_value})
    assert resp.status_code in (302, 403)
    from engine.models import Comment
    assert _count(Comment) == 0
