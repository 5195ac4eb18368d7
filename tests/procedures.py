"""A small driver for walking the procedures through the JSON API, asserting who receives each task."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event

from engine.jobs import run_due_timers, sweep_sla
from web.extensions import db

CASE = {"case_number": "固市监罚〔2026〕12号", "case_title": "某超市销售过期食品案", "case_type": "fine",
        "procedure_kind": "ordinary", "amount": 20000, "parties": "某超市有限公司，统一社会信用代码 9113…",
        "filed_on": "2026-03-02"}


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The SQL statements sent while the block runs, each on one line."""
    sent: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()))
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


class Case:
    def __init__(self, client, token, process_key: str, starter: str, data: dict, business_key: str | None = None):
        self.client, self.token = client, token
        resp = client.post("/api/instances", headers=token(starter), json={
            "process_key": process_key, "business_key": business_key or data.get("case_number"), "data": data})
        assert resp.status_code == 201, resp.get_json()
        self.id = resp.get_json()["id"]
        self.starter = starter

    @classmethod
    def found(cls, client, token, process_key: str, who: str, business_key: str | None = None) -> "Case":
        """The one case of ``process_key`` (with that business key) that another case started, seen by ``who``."""
        from sqlalchemy import select
        from engine.models import ProcessInstance
        from web.extensions import db
        stmt = select(ProcessInstance).where(ProcessInstance.process_key == process_key)
        if business_key is not None:
            stmt = stmt.where(ProcessInstance.business_key == business_key)
        case = cls.__new__(cls)
        case.client, case.token, case.id, case.starter = client, token, db.session.scalars(stmt).one().id, who
        return case

    def state(self, who: str | None = None) -> dict:
        resp = self.client.get(f"/api/instances/{self.id}", headers=self.token(who or self.starter))
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def open_tasks(self, who: str | None = None) -> list[dict]:
        return self.state(who)["open_tasks"]

    def expect(self, name: str, role: str, unit: str, who: str | None = None) -> dict:
        """The one open task named ``name`` at ``unit``; it must go to ``role`` there (and be the only task of
        that name when no other unit has one)."""
        named = [t for t in self.open_tasks(who) if t["name"] == name]
        tasks = [t for t in named if t["unit"]["code"] == unit]
        assert len(tasks) == 1, (name, unit, [(t["name"], t["unit"]["code"]) for t in self.open_tasks(who)])
        task = tasks[0]
        assert task["role"] == role, (name, task["role"], task["unit"]["code"])
        return task

    def names(self, who: str | None = None) -> list[str]:
        return sorted(t["name"] for t in self.open_tasks(who))

    def do(self, name: str, role: str, unit: str, user: str, data: dict | None = None, status: int = 200) -> dict:
        task = self.expect(name, role, unit, user)
        resp = self.client.post(f"/api/tasks/{task['id']}/complete", headers=self.token(user),
                                json={"data": data or {}})
        assert resp.status_code == status, resp.get_json()
        return resp.get_json()

    def status(self) -> str:
        return self.state()["status"]

    def history(self, action: str) -> list[dict]:
        return [h for h in self.state()["history"] if h["action"] == action]


def tick(app) -> None:
    """What the scheduler does on each poll."""
    run_due_timers(db.session, app.extensions["clock"])
    sweep_sla(db.session, app.extensions["clock"])
    db.session.expire_all()


# The start event of the tests' own processes: started with the tests' start form (tests/forms/) by these roles.
STARTER = ('<bpmn:extensionElements><spiffworkflow:properties>'
           '<spiffworkflow:property name="formKey" value="test_start"/>'
           '<spiffworkflow:property name="starterRoles" '
           'value="handler,legal_reviewer,revisit_officer,supervision_officer,admin"/>'
           '</spiffworkflow:properties></bpmn:extensionElements>')
