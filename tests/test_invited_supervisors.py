"""行政执法监督员 (issue 12 §1, 任务9): the register the justice bureau keeps, reading only within the assigned
area and term, and a finding (监督意见) walked through the API until it becomes a 督办."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from engine.models import HumanTask, ProcessInstance
from engine.registers.oversight_models import SupervisorAppointment
from engine.registers.supervisors import assessment_findings_answered
from web.extensions import db

from .procedures import Case
from .test_major_decision_review import MAJOR

SH = ZoneInfo("Asia/Shanghai")
HANDLER, HEAD, SUP = "guan_scjg_handler", "guan_scjg_head", "guan_sup"
OBSERVER = "guan_observer"          # 固安 invited supervisor: assigned 固安县市场监督管理局 and 城管执法局 (demo)
UNIT, BUREAU = "lf.guan.scjg", "lf.guan.sfj"
FINDING = "对当事人陈述申辩未予书面回应，建议补正程序"


@pytest.fixture
def register_kept(ctx):
    """Register entries a test adds are removed afterwards (the demo's stay)."""
    before = set(db.session.scalars(select(SupervisorAppointment.id)))
    yield
    db.session.rollback()
    for row in db.session.scalars(select(SupervisorAppointment)):
        if row.id not in before:
            db.session.delete(row)
    db.session.commit()


def _case(client, token, handler=HANDLER, **extra) -> Case:
    return Case(client, token, "major_decision_review", handler, {**MAJOR, **extra})


def _finding(client, token, case_id: int, who=OBSERVER, text=FINDING):
    return client.post(f"/api/instances/{case_id}/findings", headers=token(who), json={"finding_text": text})


def _task(client, token, who: str, name: str) -> dict:
    tasks = client.get("/api/tasks", headers=token(who)).get_json()["tasks"]
    found = [t for t in tasks if t["name"] == name]
    assert len(found) == 1, [t["name"] for t in tasks]
    return found[0]


def _complete(client, token, who: str, name: str, data: dict, status: int = 200) -> dict:
    task = _task(client, token, who, name)
    resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(who), json={"data": data})
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def test_a_finding_is_answered_reviewed_and_becomes_a_notice(client, token):
    with freeze_time(datetime(2026, 6, 1, 9, 0, tzinfo=SH)):
        case = _case(client, token)
        assert client.get(f"/api/instances/{case.id}", headers=token(OBSERVER)).status_code == 200
        resp = _finding(client, token, case.id, text="")
        assert resp.status_code == 422
        resp = _finding(client, token, case.id)
        assert resp.status_code == 201, resp.get_json()
        finding = resp.get_json()
        assert finding["state"] == "awaiting_answer" and finding["case_number"] == MAJOR["case_number"]
        # the unit's agency head answers; the limit is the model's: 10 working days from Monday 06-01
        answer = _task(client, token, HEAD, "答复监督意见")
        assert answer["role"] == "agency_head" and answer["unit"]["code"] == UNIT
        assert answer["due_at"].startswith("2026-06-15T15:59:59"), answer["due_at"]
        # the supervisor cannot answer his own finding
        resp = client.post(f"/api/tasks/{answer['id']}/complete", headers=token(OBSERVER),
                           json={"data": {"answer_text": "x"}})
        assert resp.status_code in (403, 404)
        _complete(client, token, HEAD, "答复监督意见", {"answer_text": "已复核，陈述申辩材料齐全"})
        mine = client.get("/api/findings", headers=token(OBSERVER)).get_json()["findings"]
        assert [(f["id"], f["state"], f["answered_on_time"]) for f in mine] == [(finding["id"], "under_review", True)]
        # the county bureau's supervision officer does not accept the answer: a 督办, started by message
        review = _task(client, token, SUP, "审查监督意见答复")
        assert review["unit"]["code"] == BUREAU
        _complete(client, token, SUP, "审查监督意见答复", {"review_opinion": "答复未说明补正情况", "start_notice": True})
        notice = db.session.scalars(select(ProcessInstance).where(
            ProcessInstance.process_key == "supervision_notice_auto")).one()
        assert notice.business_key == MAJOR["case_number"]
        mine = client.get("/api/findings", headers=token(OBSERVER)).get_json()["findings"]
        assert mine[0]["state"] == "notice" and mine[0]["notice_id"] == notice.id
        assert db.session.get(ProcessInstance, finding["id"]).status == "completed"
        # the notice goes on as any 督办: the bureau issues it to the case's unit
        issue = _task(client, token, SUP, "制发监督文书")
        resp = client.post(f"/api/tasks/{issue['id']}/complete", headers=token(SUP), json={"data": {
            "notice_number": "固司监〔2026〕9号", "notice_content": "限期整改并书面回复"}})
        assert resp.status_code == 200, resp.get_json()
        reply = [t for t in client.get(f"/api/instances/{notice.id}", headers=token(SUP)).get_json()["open_tasks"]]
        assert [(t["name"], t["unit"]["code"]) for t in reply] == [("整改并书面回复", UNIT)]
        # the finding sits in the case's file
        page_case = client.get(f"/api/instances/{finding['id']}", headers=token(HANDLER))
        assert page_case.status_code == 200


def test_an_accepted_answer_closes_the_finding(client, token):
    case = _case(client, token)
    finding = _finding(client, token, case.id).get_json()
    _complete(client, token, HEAD, "答复监督意见", {"answer_text": "已补正"})
    _complete(client, token, SUP, "审查监督意见答复", {"review_opinion": "答复可以接受", "start_notice": False})
    mine = client.get("/api/findings", headers=token(OBSERVER)).get_json()["findings"]
    assert [(f["id"], f["state"], f["notice_id"]) for f in mine] == [(finding["id"], "closed", None)]
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_key.like("supervision_notice%"))) == 0


def test_outside_the_assigned_area_a_supervisor_gets_404(client, token):
    # 固安县应急管理局 is in the county but not assigned to the 固安 supervisor; 三河 is another county
    other = _case(client, token, handler="guan_yjgl_handler")
    sanhe = _case(client, token, handler="sanhe_scjg_handler")
    for case in (other, sanhe):
        assert client.get(f"/api/instances/{case.id}", headers=token(OBSERVER)).status_code == 404
        assert _finding(client, token, case.id).status_code == 404
    # the city's supervisor is assigned the whole city
    assert client.get(f"/api/instances/{sanhe.id}", headers=token("city_observer")).status_code == 200


def test_only_during_the_term(client, token):
    case = _case(client, token)
    with freeze_time(datetime(2028, 1, 3, 9, 0, tzinfo=SH)):      # the 固安 term ended on 2027-12-31
        assert client.get(f"/api/instances/{case.id}", headers=token(OBSERVER)).status_code == 404
        assert _finding(client, token, case.id).status_code == 404
        assert client.get("/api/supervisors/me", headers=token(OBSERVER)).get_json()["terms"] == []


def test_the_register_is_kept_by_the_bureau_for_its_area(client, token, register_kept):
    yjgl = _case(client, token, handler="guan_yjgl_handler")
    listed = client.get("/api/supervisors", headers=token(SUP)).get_json()["supervisors"]
    assert [s["username"] for s in listed] == [OBSERVER]              # not the city's supervisor
    city = client.get("/api/supervisors", headers=token("city_sup")).get_json()["supervisors"]
    assert {s["username"] for s in city} == {"city_observer", OBSERVER}     # the city oversees the counties
    # a unit of another county cannot be assigned by 固安's bureau; a handler keeps no register
    body = {"username": OBSERVER, "organisation": "固安县政协委员", "term_from": "2026-06-01",
            "term_to": "2026-12-31", "units": ["lf.sanhe.scjg"]}
    assert client.post("/api/supervisors", headers=token(SUP), json=body).status_code == 403
    assert client.post("/api/supervisors", headers=token(HANDLER), json={**body, "units": ["lf.guan.yjgl"]}).status_code == 403
    bad = client.post("/api/supervisors", headers=token(SUP), json={**body, "units": ["lf.guan.yjgl"],
                                                                   "term_to": "2026-01-01"})
    assert bad.status_code == 422
    assert client.post("/api/supervisors", headers=token(SUP), json={**body, "username": HANDLER,
                                                                    "units": ["lf.guan.yjgl"]}).status_code == 422
    resp = client.post("/api/supervisors", headers=token(SUP), json={**body, "units": ["lf.guan.yjgl"]})
    assert resp.status_code == 201, resp.get_json()
    entry = resp.get_json()
    assert entry["bureau"]["code"] == BUREAU and [u["code"] for u in entry["units"]] == ["lf.guan.yjgl"]
    assert client.get(f"/api/instances/{yjgl.id}", headers=token(OBSERVER)).status_code == 200
    # ended early: the area goes with it
    resp = client.put(f"/api/supervisors/{entry['id']}", headers=token(SUP), json={"active": False})
    assert resp.status_code == 200 and resp.get_json()["active"] is False
    assert client.get(f"/api/instances/{yjgl.id}", headers=token(OBSERVER)).status_code == 404
    # another county's bureau does not find the entry
    assert client.put(f"/api/supervisors/{entry['id']}", headers=token("sanhe_sup"), json={"active": True}).status_code == 404


def test_findings_answered_within_the_limit_per_unit(ctx, client, token):
    with freeze_time(datetime(2026, 6, 1, 9, 0, tzinfo=SH)) as frozen:
        first = _case(client, token)
        _finding(client, token, first.id)
        _finding(client, token, first.id, text="第二条意见")
        _complete_first(client, token)                               # one answered on 06-01: in time
        frozen.move_to(datetime(2026, 6, 16, 9, 0, tzinfo=SH))       # the other's limit (06-15) has passed
        _complete_first(client, token)
    unit_id = db.session.scalar(select(ProcessInstance.unit_id).where(ProcessInstance.id == first.id))
    june = (datetime(2026, 6, 1, tzinfo=timezone.utc), datetime(2026, 7, 1, tzinfo=timezone.utc))
    got = assessment_findings_answered(db.session, [unit_id, 999999], *june)
    # independent count: answer steps of findings about the unit due in June, and those done by their limit
    rows = db.session.scalars(select(HumanTask).join(ProcessInstance).where(
        ProcessInstance.process_key == "supervision_finding", HumanTask.element_id == "answer_finding",
        ProcessInstance.unit_id == unit_id)).all()
    due = [r for r in rows if june[0] <= r.due_at < june[1]]
    assert got[unit_id] == (sum(1 for r in due if r.completed_at and r.completed_at <= r.due_at), len(due)) == (1, 2)
    assert got[999999] == (0, 0)
    assert assessment_findings_answered(db.session, [unit_id], datetime(2026, 7, 1, tzinfo=timezone.utc),
                                        datetime(2026, 8, 1, tzinfo=timezone.utc))[unit_id] == (0, 0)


def _complete_first(client, token):
    task = [t for t in client.get("/api/tasks", headers=token(HEAD)).get_json()["tasks"] if t["name"] == "答复监督意见"][0]
    resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HEAD), json={"data": {"answer_text": "已答复"}})
    assert resp.status_code == 200, resp.get_json()

