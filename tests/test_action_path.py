"""What the action path keeps while sending fewer statements: audit rows built in memory and inserted once per
transaction are still seen by a query in that transaction, vanish with a rollback and chain correctly across
actions; a role or unit added after the process read the organisation is still found."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from engine import history
from engine.models import AuditEvent, OrgUnit, Role
from engine.org import Directory
from web.extensions import db

from .procedures import statements_sent

NOW = datetime(2026, 6, 1, 1, 0, tzinfo=timezone.utc)


def _count(stream: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.stream == stream))


def test_audit_rows_are_seen_in_their_transaction_and_gone_after_a_rollback(ctx):
    before = _count("system")
    history.record(db.session, NOW, "test_event", actor="a", data={"n": 1})
    history.record(db.session, NOW, "test_event", actor="a", data={"n": 2})
    assert _count("system") == before + 2         # a query in the same transaction sees them
    db.session.rollback()
    assert _count("system") == before
    for n in range(3):                            # three transactions, one chain
        history.record(db.session, NOW, "test_event", actor="a", data={"n": n})
        history.record(db.session, NOW, "test_event", actor="b", data={"n": n})
        db.session.commit()
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.stream == "system")
                              .order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == list(range(1, before + 7))
    assert [r.data["n"] for r in rows[before:]] == [0, 0, 1, 1, 2, 2]
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
    assert history.verify(db.session)[1] is None


def test_a_rolled_back_savepoint_drops_its_own_events_and_keeps_the_ones_before_it(ctx):
    """Recorded before a SAVEPOINT (pending, not inserted), then inside it (inserted by a query that reads the
    trail), then the SAVEPOINT rolled back: the earlier events are pending again, the chain ends where it
    ended before it, and a released SAVEPOINT keeps its events."""
    before = _count("system")
    history.record(db.session, NOW, "test_event", actor="a", data={"n": "kept"})
    with db.session.begin_nested() as inner:
        history.record(db.session, NOW, "test_event", actor="a", data={"n": "dropped"})
        assert _count("system") == before + 2     # both inserted inside the savepoint
        inner.rollback()
    assert _count("system") == before + 1         # the earlier one inserted again, the later one gone
    with db.session.begin_nested():
        history.record(db.session, NOW, "test_event", actor="a", data={"n": "released"})
    history.record(db.session, NOW, "test_event", actor="a", data={"n": "after"})
    db.session.commit()
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.stream == "system")
                              .order_by(AuditEvent.seq)).all()
    assert [r.data["n"] for r in rows[before:]] == ["kept", "released", "after"]
    assert [r.seq for r in rows] == list(range(1, before + 4))
    assert history.verify(db.session)[1] is None


def test_a_role_or_unit_added_later_is_found(ctx):
    directory = Directory(db.session)
    assert directory.role_code("handler") == "handler"           # the process now knows the roles
    parent = db.session.scalars(select(OrgUnit).where(OrgUnit.parent_id.is_(None))).first()
    try:
        db.session.add(Role(code="test_role_x", name="测试角色"))
        db.session.add(OrgUnit(code="test.unit.x", name="测试单位", tier=parent.tier, kind="department",
                               parent_id=parent.id))
        db.session.commit()
        fresh = Directory(db.session)
        assert fresh.role_code("测试角色") == "test_role_x"
        assert fresh.unit("test.unit.x").name == "测试单位"
    finally:
        db.session.rollback()
        for model, key in ((OrgUnit, OrgUnit.code == "test.unit.x"), (Role, Role.code == "test_role_x")):
            for row in db.session.scalars(select(model).where(key)):
                db.session.delete(row)
        db.session.commit()


def test_a_step_reads_the_user_once_and_the_case_once(client, token):
    """Completing a step by the API: the signed-in user comes with roles and personnel record (the 执法证 check)
    in the statement that reads the token; the task, the case's other open tasks, its state, the end of its
    audit chain and who did each of its steps before come in one more; the token's last use, written a moment
    ago, is not written (nor committed) again."""
    from .test_api_flow import HANDLER, start_case
    instance = start_case(client, token)
    task = instance["open_tasks"][0]
    db.session.remove()
    with statements_sent() as sent:
        resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER),
                           json={"data": {"summary": "材料齐全"}})
    assert resp.status_code == 200, resp.get_json()

    def reads(table: str) -> list[str]:
        return [s for s in sent if s.startswith(f"SELECT {table}.")]
    assert len(reads("api_tokens")) == 1 and "JOIN role_assignments" in reads("api_tokens")[0] \
        and "JOIN personnel_records" in reads("api_tokens")[0]
    assert reads("role_assignments") == []
    assert [s for s in reads("personnel_records") if "cert_valid_until" in s] == []   # the 执法证 came with the user
    assert len(reads("human_tasks")) == 1, reads("human_tasks")
    assert not any(s.startswith("UPDATE api_tokens") for s in sent)


def test_a_step_writes_its_changes_in_one_flush(client, token):
    """Completing a step writes the completed task, the next one, the case and its notifications in one flush
    at the step's end: reading who may take the next task, and telling them, does not write first."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from .test_api_flow import HANDLER, start_case
    instance = start_case(client, token)
    task = instance["open_tasks"][0]
    db.session.remove()
    flushes: list[int] = []

    def note(session, _context, _instances):
        flushes.append(len(session.new) + len(session.dirty))
    event.listen(Session, "before_flush", note)
    try:
        resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER),
                           json={"data": {"summary": "材料齐全"}})
    finally:
        event.remove(Session, "before_flush", note)
    assert resp.status_code == 200, resp.get_json()
    assert len(flushes) == 1, flushes
    after = client.get(f"/api/instances/{instance['id']}", headers=token(HANDLER)).get_json()
    assert [t["name"] for t in after["open_tasks"]] != [task["name"]]        # the next step is open
