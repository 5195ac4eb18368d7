"""A committed action is reported as committed (issue "Hardening" point 7): the answer is built before the
commit, so a connection lost right after it cannot turn a committed start into "try again"; a retry with the
same Idempotency-Key starts no second case; a database outage is a 503 in the user's language, never a
script or model error with SQL text; pages show a styled 503."""
from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from engine.models import HumanTask, ProcessInstance
from web.extensions import db

from .test_start_permissions import CASE, HANDLER

START = {"process_key": "major_decision_review", "business_key": "C-1", "data": CASE}


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessInstance))


@contextlib.contextmanager
def database_fails(when):
    """Every statement for which ``when(statement)`` holds fails as if the connection dropped."""
    def fail(conn, cursor, statement, parameters, context, executemany):
        if when(statement):
            raise OperationalError(statement, parameters, Exception("server closed the connection unexpectedly"))
    event.listen(db.engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", fail)


@contextlib.contextmanager
def connection_lost_after_commit():
    """The action's transaction (the one that wrote cases or tasks) commits; then the connection is gone for
    everything that follows in this request. (Signing in by token commits its own small transaction first.)"""
    state = {"wrote": False, "committed": False}
    session_cls = type(db.session())

    def after_flush(session, _context):
        written = list(session.new) + list(session.dirty)
        state["wrote"] = state["wrote"] or any(isinstance(o, (ProcessInstance, HumanTask)) for o in written)

    def after_commit(session):
        state["committed"] = state["committed"] or state["wrote"]
    event.listen(session_cls, "after_flush", after_flush)
    event.listen(session_cls, "after_commit", after_commit)
    try:
        with database_fails(lambda statement: state["committed"]):
            yield state
    finally:
        event.remove(session_cls, "after_flush", after_flush)
        event.remove(session_cls, "after_commit", after_commit)


def test_a_committed_start_is_reported_as_committed(client, token):
    headers = token(HANDLER)
    before = _count()
    with connection_lost_after_commit() as state:
        resp = client.post("/api/instances", headers=headers, json=START)
    assert state["committed"]
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["open_tasks"]
    assert _count() == before + 1


def test_a_committed_task_completion_is_reported_as_committed(client, token):
    headers = token(HANDLER)
    case = client.post("/api/instances", headers=headers, json=START).get_json()
    task = case["open_tasks"][0]
    claim_resp = client.post(f"/api/tasks/{task['id']}/claim", headers=headers)
    assert claim_resp.status_code == 200
    with connection_lost_after_commit():
        resp = client.post(f"/api/tasks/{task['id']}/unclaim", headers=headers)
    assert resp.status_code == 200, resp.get_json()


def test_the_same_idempotency_key_starts_one_case(client, token):
    headers = {**token(HANDLER), "Idempotency-Key": "hotline-2026-000123"}
    before = _count()
    first = client.post("/api/instances", headers=headers, json=START)
    again = client.post("/api/instances", headers=headers, json=START)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _count() == before + 1
    other = client.post("/api/instances", headers={**headers, "Idempotency-Key": "hotline-2026-000124"}, json=START)
    assert other.get_json()["id"] != first.get_json()["id"]
    changed = client.post("/api/instances", headers=headers, json={**START, "business_key": "C-2"})
    assert changed.status_code == 422 and "Idempotency-Key" in changed.get_json()["fields"]
    assert _count() == before + 2


def test_a_retry_after_a_lost_answer_finds_the_first_case(client, token):
    """The first answer is lost on the way (the client sees nothing); the retry gets the committed case."""
    headers = {**token(HANDLER), "Idempotency-Key": "retry-after-timeout"}
    before = _count()
    client.post("/api/instances", headers=headers, json=START)
    retry = client.post("/api/instances", headers=headers, json=START)
    assert retry.status_code == 201 and _count() == before + 1


@pytest.mark.realtime
def test_concurrent_requests_with_one_key_start_one_case(app, token):
    """Two requests with the same key at the same moment: one case; both answers name it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes the two writers; the race needs PostgreSQL")
    headers = {**token(HANDLER), "Idempotency-Key": "same-moment"}
    before = _count()
    answers = []

    def post():
        with app.test_client() as c:
            answers.append(c.post("/api/instances", headers=headers, json=START))
    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [201, 201]
    assert len({a.get_json()["id"] for a in answers}) == 1
    db.session.expire_all()
    assert _count() == before + 1


def test_a_database_outage_in_a_helper_is_a_503_not_a_script_error(client, token):
    """The unit expression of the first task calls a helper that reads the organisation; the database fails
    there. Before: 422 "expression … failed" with the SQL text. Now: 503 in Chinese, nothing stored."""
    headers = token(HANDLER)
    before = _count()
    with database_fails(lambda statement: "org_units" in statement and "role_assignments" not in statement
                        and statement.lstrip().upper().startswith("SELECT")):
        resp = client.post("/api/instances", headers=headers, json={**START, "business_key": "C-3"})
    assert resp.status_code == 503, resp.get_json()
    message = resp.get_json()["message"]
    assert "数据库" in message and "SELECT" not in message and "表达式" not in message
    db.session.rollback()
    assert _count() == before


def test_pages_show_a_styled_503_when_the_database_is_gone(client):
    from .test_pages import sign_in
    sign_in(client, HANDLER)
    with database_fails(lambda statement: True):
        resp = client.get("/")
    assert resp.status_code == 503
    page = resp.get_data(as_text=True)
    assert "请稍后再试" in page and "<html" in page.lower()


def test_pooled_connections_are_checked_before_use(app):
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping") is True
