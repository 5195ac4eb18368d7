"""The two-lane test process through the JSON API: routing across tiers, visibility, restart survival and
two people completing the same task at once."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from engine.models import AuditEvent, HumanTask, ProcessInstance
from web import create_app
from web.extensions import db

HANDLER = "guan_guanzhen_handler"        # 固安县 固安镇 综合行政执法队
REVIEWER = "guan_review"                 # 固安县司法局 法制审核
OTHER_REVIEWER = "sanhe_review"          # 三河市司法局 法制审核


def start_case(client, token, business_key="GA-2026-001"):
    resp = client.post("/api/instances", headers=token(HANDLER),
                       json={"process_key": "two_lane_review", "business_key": business_key,
                             "data": {"title": "无照经营"}})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def submit(client, token, instance):
    task = instance["open_tasks"][0]
    assert task["name"] == "提交审核材料"
    resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER),
                       json={"data": {"summary": "材料齐全"}})
    assert resp.status_code == 200, resp.get_json()
    return client.get(f"/api/instances/{instance['id']}", headers=token(HANDLER)).get_json()["open_tasks"][0]


def test_anonymous_gets_401(client):
    assert client.get("/api/tasks").status_code == 401
    assert client.post("/api/instances", json={"process_key": "two_lane_review"}).status_code == 401


def test_two_lanes_route_from_township_to_county_justice_bureau(client, token):
    instance = start_case(client, token)
    first = instance["open_tasks"][0]
    assert (first["role"], first["unit"]["code"]) == ("handler", "lf.guan.guanzhen.zfd")

    review = submit(client, token, instance)
    assert review["name"] == "法制审核"
    assert (review["role"], review["unit"]["code"]) == ("legal_reviewer", "lf.guan.sfj")

    group = client.get("/api/tasks?scope=group", headers=token(REVIEWER)).get_json()["tasks"]
    assert [t["id"] for t in group] == [review["id"]]
    assert client.post(f"/api/tasks/{review['id']}/claim", headers=token(REVIEWER)).status_code == 200
    mine = client.get("/api/tasks?scope=mine", headers=token(REVIEWER)).get_json()["tasks"]
    assert [t["claimed_by"] for t in mine] == [REVIEWER]
    resp = client.post(f"/api/tasks/{review['id']}/complete", headers=token(REVIEWER),
                       json={"data": {"outcome": "同意"}})
    assert resp.status_code == 200

    done = client.get(f"/api/instances/{instance['id']}", headers=token(REVIEWER)).get_json()
    assert done["status"] == "completed"
    assert done["open_tasks"] == []
    actions = [h["action"] for h in done["history"]]
    assert actions[0] == "instance_started" and actions[-1] == "instance_completed"
    assert actions.count("task_completed") == 2


def test_reviewer_of_another_county_neither_sees_nor_acts(client, token):
    review = submit(client, token, start_case(client, token))
    for scope in ("mine", "group", "all"):
        listed = client.get(f"/api/tasks?scope={scope}", headers=token(OTHER_REVIEWER)).get_json()["tasks"]
        assert review["id"] not in [t["id"] for t in listed]
    assert client.get(f"/api/tasks/{review['id']}", headers=token(OTHER_REVIEWER)).status_code == 404
    for action in ("claim", "complete"):
        resp = client.post(f"/api/tasks/{review['id']}/{action}", headers=token(OTHER_REVIEWER), json={"data": {}})
        assert resp.status_code in (403, 404)
    assert client.get(f"/api/instances/{review['instance_id']}", headers=token(OTHER_REVIEWER)).status_code == 404
    # the task is untouched: the right reviewer still finds it unclaimed
    still = client.get(f"/api/tasks/{review['id']}", headers=token(REVIEWER)).get_json()
    assert still["status"] == "open" and still["claimed_by"] is None


def test_claim_unclaim_delegate(client, token):
    instance = start_case(client, token)
    task = instance["open_tasks"][0]
    colleague = "guan_guanzhen_head"  # same unit? no: the township government, not the team
    assert client.post(f"/api/tasks/{task['id']}/claim", headers=token(HANDLER)).status_code == 200
    # delegating to someone outside the unit/role is refused
    resp = client.post(f"/api/tasks/{task['id']}/delegate", headers=token(HANDLER), json={"username": colleague})
    assert resp.status_code == 403
    assert client.post(f"/api/tasks/{task['id']}/unclaim", headers=token(HANDLER)).status_code == 200
    assert client.get(f"/api/tasks/{task['id']}", headers=token(HANDLER)).get_json()["claimed_by"] is None
    # a delegate must be named and exist
    resp = client.post(f"/api/tasks/{task['id']}/delegate", headers=token(HANDLER), json={})
    assert resp.status_code == 422 and "username" in resp.get_json()["fields"]


def test_delegate_to_colleague_with_the_role(client, token, ctx):
    from engine.models import RoleAssignment, User
    # give the township team a second handler
    unit_user = db.session.query(User).filter_by(username=HANDLER).one()
    colleague = db.session.query(User).filter_by(username="guan_liuquan_handler").one()
    original_unit = colleague.unit_id
    colleague.unit_id = unit_user.unit_id
    colleague.roles[0].unit_id = unit_user.unit_id
    db.session.commit()
    try:
        task = start_case(client, token)["open_tasks"][0]
        resp = client.post(f"/api/tasks/{task['id']}/delegate", headers=token(HANDLER),
                           json={"username": "guan_liuquan_handler"})
        assert resp.status_code == 200 and resp.get_json()["claimed_by"] == "guan_liuquan_handler"
        # the delegating user can no longer complete it
        resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={"data": {}})
        assert resp.status_code == 403
        resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token("guan_liuquan_handler"),
                           json={"data": {}})
        assert resp.status_code == 200
    finally:
        colleague.unit_id = original_unit
        db.session.query(RoleAssignment).filter_by(user_id=colleague.id).one().unit_id = original_unit
        db.session.commit()


def test_bad_input_is_refused_and_changes_nothing(client, token):
    resp = client.post("/api/instances", headers=token(HANDLER), json={"business_key": "x"})
    assert resp.status_code == 422 and "process_key" in resp.get_json()["fields"]
    resp = client.post("/api/instances", headers=token(HANDLER), json={"process_key": "no_such_process"})
    assert resp.status_code == 404
    resp = client.post("/api/instances", headers=token(HANDLER),
                       json={"process_key": "two_lane_review", "data": {"case_unit": "lf.sanhe.scjg"}})
    assert resp.status_code == 403
    task = start_case(client, token)["open_tasks"][0]
    resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={"data": {"__x": 1}})
    assert resp.status_code == 422
    resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), data="not json",
                       content_type="application/json")
    assert resp.status_code == 400                      # unparsable JSON is refused at the edge
    assert client.get(f"/api/tasks/{task['id']}", headers=token(HANDLER)).get_json()["status"] == "open"
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 1


def test_completing_twice_gives_409(client, token):
    task = start_case(client, token)["open_tasks"][0]
    assert client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={}).status_code == 200
    assert client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={}).status_code == 409


def test_two_threads_complete_the_same_task_one_wins(ctx, token):
    client = ctx.test_client()
    review = submit(client, token, start_case(client, token))
    headers = token(REVIEWER)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def complete(outcome):
        with ctx.app_context():
            c = ctx.test_client()
            barrier.wait()
            resp = c.post(f"/api/tasks/{review['id']}/complete", headers=headers, json={"data": {"outcome": outcome}})
            results.append(resp.status_code)
            db.session.remove()

    threads = [threading.Thread(target=complete, args=(o,)) for o in ("同意", "建议修改")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    db.session.expire_all()
    completed = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "task_completed", AuditEvent.task_id == review["id"]))
    assert completed == 1
    instance = db.session.get(ProcessInstance, review["instance_id"])
    assert instance.status == "completed"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "instance_completed")) == 1
    assert db.session.get(HumanTask, review["id"]).status == "completed"


def test_a_new_app_process_continues_a_waiting_instance(ctx, token, db_url):
    client = ctx.test_client()
    review = submit(client, token, start_case(client, token))
    db.session.remove()
    restarted = create_app("testing", SQLALCHEMY_DATABASE_URI=db_url)
    with restarted.app_context():
        c = restarted.test_client()
        tasks = c.get("/api/tasks?scope=group", headers=token(REVIEWER)).get_json()["tasks"]
        assert [t["id"] for t in tasks] == [review["id"]]
        resp = c.post(f"/api/tasks/{review['id']}/complete", headers=token(REVIEWER), json={"data": {"outcome": "同意"}})
        assert resp.status_code == 200
        assert c.get(f"/api/instances/{review['instance_id']}", headers=token(REVIEWER)).get_json()["status"] == "completed"
        db.session.remove()


def test_session_login_needs_csrf_for_changes(client, token):
    resp = client.post("/api/session", json={"username": HANDLER, "password": "wrong"})
    assert resp.status_code == 401
    resp = client.post("/api/session", json={"username": HANDLER, "password": "demo1234"})
    assert resp.status_code == 200
    csrf = resp.get_json()["csrf_token"]
    assert client.get("/api/tasks").status_code == 200
    body = {"process_key": "two_lane_review", "business_key": "S-1"}
    assert client.post("/api/instances", json=body).status_code == 400
    assert client.post("/api/instances", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
