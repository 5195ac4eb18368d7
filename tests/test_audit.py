"""The audit trail is a hash chain per instance: editing a row by SQL is detected and named."""
from sqlalchemy import select, text

from engine.models import AuditEvent
from web.extensions import db


def _run_case(client, token):
    resp = client.post("/api/instances", headers=token("guan_guanzhen_handler"),
                       json={"process_key": "two_lane_review", "business_key": "AUD-1"})
    task = resp.get_json()["open_tasks"][0]
    client.post(f"/api/tasks/{task['id']}/complete", headers=token("guan_guanzhen_handler"),
                json={"data": {"summary": "ok"}})
    return resp.get_json()["id"]


def test_verify_passes_then_names_the_edited_row(client, token, ctx):
    instance_id = _run_case(client, token)
    runner = ctx.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "OK" in ok.output

    victim = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                         AuditEvent.action == "task_completed")).one()
    db.session.execute(text("UPDATE audit_events SET actor = 'someone_else' WHERE id = :id"), {"id": victim.id})
    db.session.commit()
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert f"id={victim.id}" in broken.output
    assert "edited" in broken.output


def test_deleting_a_row_breaks_the_chain(client, token, ctx):
    instance_id = _run_case(client, token)
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                              .order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": rows[1].id})
    db.session.commit()
    result = ctx.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"id={rows[2].id}" in result.output
