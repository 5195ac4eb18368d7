"""No task for nobody (DESIGN "Routing between tiers"): a task offered to a (role, unit) without an active
holder is marked 无人承接 when it is created, waits in the 待分派 queue of the justice bureau above its unit
(and the administrators'), is counted on the dashboard, and is assigned — audited — by an authorised officer."""
from __future__ import annotations

import lxml.html
import pytest
from sqlalchemy import select

from engine.dashboard import Dashboard
from engine.models import HumanTask, Notification, User
from web.extensions import db

from .test_dashboard import signed_in
from .test_case_referral import PREPARE, receiver, refer
from .test_routing import inactive

TARGET, AWAY = "lf.guan.cgzf", "guan_cgzf_handler"          # 固安县城市管理综合行政执法局, its only handler
SENDER, SENDER_UNIT = "guan_scjg_handler", "lf.guan.scjg"
NAME = "审查移送案件并答复"


@pytest.fixture
def orphan(client, token):
    """A referral to a department whose only handler is away: the answer step has nobody."""
    with inactive(AWAY):
        sender = refer(client, token, SENDER, TARGET, number="GA-2026-200")
        sender.do("制作移送函并移送材料", "handler", SENDER_UNIT, SENDER, PREPARE)
        rcv = receiver(sender, "guan_sup")
        yield sender, rcv, rcv.expect(NAME, "handler", TARGET, "guan_sup")


def queue_of(client, token, who: str) -> list[dict]:
    resp = client.get("/api/queue", headers=token(who))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["tasks"]


def test_a_task_for_nobody_is_flagged_queued_notified_and_counted(ctx, client, token, orphan):
    _sender, rcv, task = orphan
    assert (task["unassigned"], task["unassigned_reason"]) == (True, "no_holder")
    created = [h for h in rcv.history("task_created") if h["data"]["name"] == NAME]
    assert created[0]["data"]["unassigned"] == "no_holder"
    # the queue of the bureau above the unit, and the administrators'; not another county's
    assert [t["id"] for t in queue_of(client, token, "guan_sup")] == [task["id"]]
    assert [t["id"] for t in queue_of(client, token, "admin")] == [task["id"]]
    assert queue_of(client, token, "sanhe_sup") == []
    assert client.get("/api/queue", headers=token("guan_scjg_handler")).status_code == 403
    assert client.get("/api/queue", headers=token("city_observer")).status_code == 403
    # never invisible: the bureau and the administrators see the task itself
    for who in ("guan_sup", "city_sup", "admin"):
        assert client.get(f"/api/tasks/{task['id']}", headers=token(who)).status_code == 200
    # told: the bureau's supervision officers and the administrators
    told = {db.session.get(User, n.user_id).username: n.audience for n in db.session.scalars(
        select(Notification).where(Notification.task_id == task["id"], Notification.kind == "unassigned"))}
    assert told == {"guan_sup": "supervisor", "admin": "admin"}
    # counted per unit on the dashboard
    d = Dashboard(db.session, ctx.extensions["clock"].now(), None)
    assert [(r["code"], r["unassigned"]) for r in d.unassigned_counts()] == [(TARGET, 1)]
    doc = lxml.html.fromstring(signed_in(ctx, "guan_sup").get("/dashboard").get_data(as_text=True))
    assert doc.get_element_by_id("total-unassigned").text_content().strip() == "1"
    rows = [[td.text_content() for td in tr.findall("td")]
            for tr in doc.get_element_by_id("unassigned-table").find("tbody").findall("tr")]
    assert rows == [["固安县人民政府", "固安县城市管理综合行政执法局", "1"]]


def test_a_holder_who_appears_later_takes_the_task_out_of_the_queue(client, token, orphan):
    _sender, _rcv, task = orphan
    db.session.scalar(select(User).where(User.username == AWAY)).active = True     # back before it was assigned
    db.session.commit()
    assert client.post(f"/api/tasks/{task['id']}/claim", headers=token(AWAY)).status_code == 200
    assert queue_of(client, token, "guan_sup") == []


def test_assigning_through_the_api(client, token, orphan):
    sender, rcv, task = orphan
    url = f"/api/tasks/{task['id']}/assign"
    # not an officer of the area: another county's supervisor does not even see it; a handler may not
    assert client.post(url, headers=token("sanhe_sup"), json={"unit": "lf.guan.yjgl"}).status_code == 404
    assert client.post(url, headers=token("city_observer"), json={"unit": "lf.guan.yjgl"}).status_code == 403
    # a unit outside the officer's area; a unit where nobody holds the role; a person without the role there
    assert client.post(url, headers=token("guan_sup"), json={"unit": "lf.sanhe.scjg"}).status_code == 403
    resp = client.post(url, headers=token("guan_sup"), json={"unit": "lf.guan.bb"})
    assert resp.status_code == 422 and "固安县委编办" in resp.get_json()["message"]
    resp = client.post(url, headers=token("guan_sup"), json={"unit": "lf.guan.yjgl", "username": "guan_yjgl_head"})
    assert resp.status_code == 422
    assert client.post(url, headers=token("guan_sup"), json={}).status_code == 422
    # re-routed to the 应急管理局 and given to its handler
    resp = client.post(url, headers=token("guan_sup"), json={"unit": "lf.guan.yjgl", "username": "guan_yjgl_handler"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["unit"]["code"], body["claimed_by"], body["unassigned"]) == ("lf.guan.yjgl", "guan_yjgl_handler", False)
    assert queue_of(client, token, "guan_sup") == []
    [audit] = rcv.history("task_assigned")
    assert audit["actor"] == "guan_sup"
    assert {k: audit["data"][k] for k in ("from_unit", "to_unit", "to_user", "reason")} == \
        {"from_unit": TARGET, "to_unit": "lf.guan.yjgl", "to_user": "guan_yjgl_handler", "reason": "no_holder"}
    assert client.post(url, headers=token("guan_sup"), json={"unit": "lf.guan.yjgl"}).status_code == 409
    notes = client.get("/api/notifications", headers=token("guan_yjgl_handler")).get_json()["notifications"]
    assert [n["kind"] for n in notes] == ["assigned"]
    rcv.do(NAME, "handler", "lf.guan.yjgl", "guan_yjgl_handler", {"answer": "accept"})
    # the case's next step is routed by the model again (to the 城管局, still without a handler): queued again
    follow = rcv.expect("立案办理移送案件", "handler", TARGET, "guan_sup")
    assert follow["unassigned"] and [t["id"] for t in queue_of(client, token, "guan_sup")] == [follow["id"]]
    resp = client.post(f"/api/tasks/{follow['id']}/assign", headers=token("guan_sup"), json={"unit": "lf.guan.yjgl"})
    assert resp.status_code == 200, resp.get_json()
    rcv.do("立案办理移送案件", "handler", "lf.guan.yjgl", "guan_yjgl_handler", {"new_case_number": "固应急立〔2026〕1号"})
    assert sender.status() == "completed" and rcv.status() == "completed"


def test_assigning_to_a_unit_lets_anyone_holding_the_role_there_take_it(client, token, orphan):
    _sender, rcv, task = orphan
    resp = client.post(f"/api/tasks/{task['id']}/assign", headers=token("admin"), json={"unit": "lf.guan.scjg"})
    assert resp.status_code == 200 and resp.get_json()["claimed_by"] is None
    rcv.expect(NAME, "handler", "lf.guan.scjg", "guan_scjg_handler")
    assert db.session.get(HumanTask, task["id"]).unassigned is False


def test_the_queue_page_assigns(client, token, orphan):
    _sender, rcv, task = orphan
    web = signed_in(client.application, "guan_sup")
    page = web.get("/")
    doc = lxml.html.fromstring(page.data.decode())
    assert doc.get_element_by_id("count-queue").text_content() == "1"
    page = web.get("/queue")
    assert page.status_code == 200
    doc = lxml.html.fromstring(page.data.decode())
    row = doc.get_element_by_id(f"queue-{task['id']}")
    text = row.text_content()
    assert NAME in text and "承办人" in text and "固安县城市管理综合行政执法局" in text and "没有" in text
    assert "handler" not in text and TARGET not in text
    options = {o.get("value"): o.text_content() for o in row.iter("option")}
    assert "lf.guan.yjgl|guan_yjgl_handler" in options and "lf.sanhe.scjg|" not in options
    csrf = doc.forms[-1].fields["csrf_token"]
    resp = web.post(f"/queue/{task['id']}/assign", data={"csrf_token": csrf, "target": "lf.guan.yjgl|guan_yjgl_handler"})
    assert resp.status_code == 302
    page = web.get("/queue")
    assert "已交由" in page.data.decode()
    assert f"queue-{task['id']}" not in page.data.decode()
    rcv.expect(NAME, "handler", "lf.guan.yjgl", "guan_yjgl_handler")
    assert signed_in(client.application, "guan_scjg_handler").get("/queue").status_code == 403
