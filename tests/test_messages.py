"""BPMN messages between instances through the correlation table, across tiers."""
from sqlalchemy import func, select

from engine.models import MessageSubscription, PendingMessage
from web.extensions import db

SENDER = "guan_guanzhen_handler"     # township enforcement team
RECEIVER = "guan_scjg_handler"        # county market regulator


def start(client, token, user, key, data):
    resp = client.post("/api/instances", headers=token(user), json={"process_key": key, "business_key":
                                                                      data["case_number"], "data": data})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_message_reaches_the_waiting_instance_with_the_same_case_number(client, token):
    other = start(client, token, RECEIVER, "test_receiver", {"case_number": "GA-XZ-2"})
    waiting = start(client, token, RECEIVER, "test_receiver", {"case_number": "GA-XZ-1"})
    assert waiting["open_tasks"] == []
    assert db.session.scalar(select(func.count()).select_from(MessageSubscription)) == 2

    sent = start(client, token, SENDER, "test_sender", {"case_number": "GA-XZ-1", "note": "移送材料"})
    assert sent["status"] == "completed"

    got = client.get(f"/api/instances/{waiting['id']}", headers=token(RECEIVER)).get_json()
    [task] = got["open_tasks"]
    assert (task["name"], task["role"], task["unit"]["code"]) == ("办理移交案件", "handler", "lf.guan.scjg")
    received = [h for h in got["history"] if h["action"] == "message_received"]
    assert received and received[0]["data"]["from_instance"] == sent["id"]
    # the instance waiting for another case number still waits
    assert client.get(f"/api/instances/{other['id']}", headers=token(RECEIVER)).get_json()["open_tasks"] == []
    # the township sender cannot act on the county task
    assert client.post(f"/api/tasks/{task['id']}/claim", headers=token(SENDER)).status_code == 404


def test_a_message_sent_before_anyone_waits_is_kept_and_delivered_later(client, token):
    start(client, token, SENDER, "test_sender", {"case_number": "GA-XZ-9", "note": "先到"})
    assert db.session.scalar(select(func.count()).select_from(PendingMessage)
                             .where(PendingMessage.delivered_at.is_(None))) == 1
    waiting = start(client, token, RECEIVER, "test_receiver", {"case_number": "GA-XZ-9"})
    [task] = waiting["open_tasks"]
    assert task["unit"]["code"] == "lf.guan.scjg"
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(PendingMessage)
                             .where(PendingMessage.delivered_at.is_(None))) == 0
    assert db.session.scalar(select(func.count()).select_from(MessageSubscription)) == 0
