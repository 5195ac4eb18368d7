"""行政执法监督专家团 (issue 12 §2, 任务15): the expert register, the optional step 征求专家意见 in the major-decision
review and in referral coordination (one expert late: the deadline passes, the missing expert is listed, the
procedure goes on), and experts reading only the cases sent to them."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from engine.models import HumanTask
from engine.registers.oversight_models import Expert
from web.extensions import db

from .procedures import Case, tick
from .test_major_decision_review import AGREE, HANDLER, REVIEWER, UNIT, start, submit_and_accept

SH = ZoneInfo("Asia/Shanghai")
WANG, LI, ZHAO = "expert_wang", "expert_li", "expert_zhao"
CONSULT = {"consult_experts": True, "consult_question": "拟罚款数额是否符合裁量基准？",
           "consult_expert_1": WANG, "consult_expert_2": LI}


def _my_tasks(client, token, who):
    return client.get("/api/tasks", headers=token(who)).get_json()["tasks"]


def _opinion_task(client, token, who) -> dict:
    tasks = [t for t in _my_tasks(client, token, who) if t["name"] == "提出专家意见"]
    assert len(tasks) == 1, tasks
    return tasks[0]


def test_an_opinion_round_with_one_expert_late(ctx, client, token):
    with freeze_time(datetime(2026, 6, 1, 9, 0, tzinfo=SH)) as frozen:
        case = start(client, token, complex_case=True)
        other = start(client, token, case_number="固市监罚〔2026〕13号")       # never sent to an expert
        submit_and_accept(case)
        # the picker only takes experts
        resp = case.do("法制审核", "legal_reviewer", UNIT, REVIEWER,
                       {**AGREE, **CONSULT, "consult_expert_1": HANDLER}, status=422)
        assert "consult_expert_1" in resp["fields"]
        resp = case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {**AGREE, **CONSULT, "consult_expert_2": WANG},
                       status=422)
        assert "consult_expert_2" in resp["fields"]                       # the same expert twice
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {**AGREE, **CONSULT})
        # each chosen expert has a task of his or her own, due in 5 working days; nobody else sees it
        wang, li = _opinion_task(client, token, WANG), _opinion_task(client, token, LI)
        assert wang["id"] != li["id"]
        assert wang["due_at"].startswith("2026-06-08T15:59:59"), wang["due_at"]
        assert [t for t in _my_tasks(client, token, ZHAO) if t["name"] == "提出专家意见"] == []
        assert client.get(f"/api/tasks/{li['id']}", headers=token(WANG)).status_code == 404
        assert client.post(f"/api/tasks/{li['id']}/complete", headers=token(WANG),
                           json={"data": {"expert_opinion": "x"}}).status_code == 404
        assert client.post(f"/api/tasks/{wang['id']}/unclaim", headers=token(WANG)).status_code == 403
        # the expert reads the case sent to him, and no other (404), not even of the same unit
        assert client.get(f"/api/instances/{case.id}", headers=token(WANG)).status_code == 200
        assert client.get(f"/api/instances/{other.id}", headers=token(WANG)).status_code == 404
        assert client.get(f"/api/instances/{case.id}", headers=token(ZHAO)).status_code == 404
        # 集体讨论 waits for the round
        assert "集体讨论决定" not in case.names()
        resp = client.post(f"/api/tasks/{wang['id']}/complete", headers=token(WANG),
                           json={"data": {"expert_opinion": "符合裁量基准第三档", "expert_basis": "《行政处罚法》第三十四条"}})
        assert resp.status_code == 200, resp.get_json()
        assert "集体讨论决定" not in case.names()
        opinions = client.get(f"/api/instances/{case.id}/expert-opinions", headers=token(HANDLER)).get_json()
        assert [(o["name"], o["status"]) for o in opinions["opinions"]] == [("李环保", "open"), ("王法理", "answered")]
        # the deadline passes: the late expert's task is withdrawn, he is listed as missing, the review goes on
        frozen.move_to(datetime(2026, 6, 9, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        assert [t for t in _my_tasks(client, token, LI) if t["name"] == "提出专家意见"] == []
        opinions = client.get(f"/api/instances/{case.id}/expert-opinions", headers=token(HANDLER)).get_json()
        assert [(o["name"], o["status"], o["opinion"]) for o in opinions["opinions"]] == [
            ("李环保", "missing", None), ("王法理", "answered", "符合裁量基准第三档")]
        assert opinions["missing"] == ["李环保"]
        case.expect("集体讨论决定", "agency_head", UNIT, HANDLER)
        data = _case_data(case.id)
        assert data["experts_missing"] == [LI] and data["experts_answered"] == [WANG]
        # the late expert can still read the case he was sent (his task is part of it), not act on it
        assert client.get(f"/api/instances/{case.id}", headers=token(LI)).status_code == 200


def _case_data(instance_id: int) -> dict:
    from web import services
    runtime = services.runtime()
    return runtime.data_of(runtime.get_instance(instance_id))


def test_without_consultation_the_review_goes_straight_to_the_discussion(client, token):
    case = start(client, token, complex_case=True)
    submit_and_accept(case)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    assert "集体讨论决定" in case.names()
    assert db.session.scalar(select(HumanTask.id).where(HumanTask.element_id == "give_expert_opinion")) is None


def test_referral_coordination_can_consult_experts(ctx, client, token):
    from .test_case_referral import GA_SCJG, GA_SCJG_USER, PREPARE, TEAM_USER, receiver, refer
    with freeze_time(datetime(2026, 6, 1, 10, 0, tzinfo=SH)):
        sender = refer(client, token, TEAM_USER, GA_SCJG, number="GZ-2026-090")
        sender.do("制作移送函并移送材料", "handler", "lf.guan.guanzhen.zfd", TEAM_USER, PREPARE)
        rcv = receiver(sender, GA_SCJG_USER)
        _dispute(rcv)
        coordination = [t for t in rcv.open_tasks("guan_sup") if t["name"] == "受理移送争议"][0]
        resp = client.post(f"/api/tasks/{coordination['id']}/complete", headers=token("guan_sup"), json={"data": {
            "need_material": False, "consult_experts": True, "consult_question": "管辖权归属？",
            "consult_expert_1": ZHAO}})
        assert resp.status_code == 200, resp.get_json()
        zhao = _opinion_task(client, token, ZHAO)
        assert client.get(f"/api/instances/{rcv.id}", headers=token(ZHAO)).status_code == 200
        assert client.get(f"/api/instances/{sender.id}", headers=token(ZHAO)).status_code == 404
        resp = client.post(f"/api/tasks/{zhao['id']}/complete", headers=token(ZHAO),
                           json={"data": {"expert_opinion": "应由市场监管部门管辖"}})
        assert resp.status_code == 200, resp.get_json()
        assert "出具行政执法协调意见书" in rcv.names("guan_sup")


def _dispute(rcv: Case) -> None:
    """The receiver disputes the referral, which goes to coordination."""
    from .test_case_referral import GA_SCJG, GA_SCJG_USER
    tasks = rcv.open_tasks(GA_SCJG_USER)
    review = [t for t in tasks if t["name"] == "审查移送案件并答复"][0]
    resp = rcv.client.post(f"/api/tasks/{review['id']}/complete", headers=rcv.token(GA_SCJG_USER),
                           json={"data": DISPUTE})
    assert resp.status_code == 200, resp.get_json()


DISPUTE = {"answer": "object", "objection_reason": "乡镇职权"}


@pytest.fixture
def experts_kept(ctx):
    before = set(db.session.scalars(select(Expert.id)))
    yield
    db.session.rollback()
    for row in db.session.scalars(select(Expert)):
        if row.id not in before:
            db.session.delete(row)
    db.session.commit()


def test_the_expert_register(client, token, experts_kept):
    listed = client.get("/api/experts", headers=token("guan_sup")).get_json()
    assert {e["username"] for e in listed["experts"]} == {WANG, LI, ZHAO}
    assert "行政处罚" in listed["fields"]
    by_field = client.get("/api/experts?field=生态环境", headers=token(REVIEWER)).get_json()["experts"]
    assert [e["name"] for e in by_field] == ["李环保"]
    assert client.get("/api/experts", headers=token(HANDLER)).status_code == 403
    assert client.get("/api/experts", headers=token(WANG)).status_code == 403
    body = {"username": HANDLER, "name": "某", "organisation": "某大学", "fields": ["行政法"]}
    assert client.post("/api/experts", headers=token("city_sup"), json=body).status_code == 422   # no expert role
    assert client.post("/api/experts", headers=token("city_sup"), json={**body, "username": WANG}).status_code == 422
    # the panel is the city's: a county bureau reads it, the city's bureau keeps it
    assert client.post("/api/experts", headers=token("guan_sup"), json={**body, "username": WANG}).status_code == 403
    assert client.post("/api/experts", headers=token(HANDLER), json=body).status_code == 403
    wang = [e for e in listed["experts"] if e["username"] == WANG][0]
    resp = client.put(f"/api/experts/{wang['id']}", headers=token("city_sup"), json={"active": False})
    assert resp.status_code == 200 and resp.get_json()["active"] is False
    active = client.get("/api/experts?active=1", headers=token("city_sup")).get_json()["experts"]
    assert WANG not in {e["username"] for e in active}
    client.put(f"/api/experts/{wang['id']}", headers=token("city_sup"), json={"active": True})
    assert client.put("/api/experts/999999", headers=token("city_sup"), json={"active": True}).status_code == 404
