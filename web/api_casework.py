"""The JSON API of finding and moving work (engine.casework): case search, 撤回 and 撤销, 催办, batch claim and
batch completion. The routes are part of the ``api`` blueprint (imported at the end of web/api.py)."""
from __future__ import annotations

import re

from flask import jsonify, request
from flask_babel import gettext
from flask_login import login_required
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from engine import casework
from engine.errors import N_, Conflict, EngineError, NotFound
from engine.limits import is_uuid
from engine.models import OrgUnit, User

from . import services
from .api import _annotate, _json, bp
from .auth import current
from .edge import arg_day_start, arg_int
from .extensions import db

MAX_BATCH = 50
DEFAULT_LIMIT = 20


def query_from_args(args) -> casework.CaseQuery:
    """A search from query parameters (the page and the API take the same ones)."""
    def text(name):
        value = (args.get(name) or "").strip()
        return value or None
    unit_id = None
    if text("unit"):
        unit_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == text("unit")))
        if unit_id is None:
            unit_id = -1                              # an unknown unit matches nothing
    return casework.CaseQuery(scope=text("scope") or "all", case_number=text("case_number"), title=text("title"),
                              parties=text("parties"), unit_id=unit_id, process_key=text("process"),
                              status=text("status"), started_from=arg_day_start("from"),
                              started_to=arg_day_start("to", end=True))


def case_row(instance, index, ending, names: dict[str, str], people: dict[str, str]) -> dict:
    return {"id": instance.id, "case_number": (index.case_number if index else None) or instance.business_key,
            "title": index.title if index else None, "parties": index.parties if index else None,
            "process_key": instance.process_key,
            "process_name": names.get(instance.process_key) or instance.definition.name,
            "unit": {"code": instance.unit.code, "name": instance.unit.name} if instance.unit else None,
            "status": instance.status, "started_at": instance.started_at.isoformat(),
            "started_by": people.get(instance.started_by) if instance.started_by else None,
            "ended_at": instance.ended_at.isoformat() if instance.ended_at else None,
            "ending": ending_body(ending)}


def ending_body(ending) -> dict | None:
    if ending is None:
        return None
    return {"kind": ending.kind, "reason": ending.reason, "by": ending.actor.display_name,
            "at": ending.at.isoformat()}


def display_names(rows) -> tuple[dict[str, str], dict[str, str]]:
    """Procedure names by key and people's display names by user name, for a page of search rows."""
    names = {d.key: d.name for d in services.repository().list_latest()}
    starters = {r[0].started_by for r in rows if r[0].started_by}
    people = dict(db.session.execute(select(User.username, User.display_name)
                                     .where(User.username.in_(starters))).all()) if starters else {}
    return names, people


@bp.get("/cases")
@login_required
def search_cases():
    """Cases I may see, newest first, paged by ``limit``/``offset``, with the total."""
    limit = arg_int("limit", DEFAULT_LIMIT, 1, casework.MAX_LIMIT)
    offset = arg_int("offset", 0, 0, casework.MAX_OFFSET)
    rows, total = casework.search(db.session, current(), query_from_args(request.args), limit=limit, offset=offset)
    names, people = display_names(rows)
    return jsonify(cases=[case_row(*r, names, people) for r in rows], total=total, limit=limit, offset=offset)


def _instance(instance_id: int):
    return services.tasks().instance_for(current(), instance_id)


def _reason_from_body() -> str | None:
    body = _json()
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ValidationError({"reason": [gettext("Give the reason as text")]})
    return reason


@bp.post("/cases/<id:instance_id>/withdraw")
@login_required
def withdraw_case(instance_id: int):
    """撤回: the starter takes the procedure back while no other unit has acted ({reason} optional)."""
    reason = _reason_from_body()
    instance = _instance(instance_id)
    ending = casework.withdraw(services.runtime(), current(), instance, reason)
    answer = {"id": instance.id, "status": instance.status, "ending": ending_body(ending)}
    db.session.commit()
    return jsonify(answer)


@bp.post("/cases/<id:instance_id>/cancel")
@login_required
def cancel_case(instance_id: int):
    """撤销: an authorised officer ends the case with a {reason}."""
    reason = _reason_from_body()
    instance = _instance(instance_id)
    ending = casework.cancel(services.runtime(), current(), instance, reason)
    answer = {"id": instance.id, "status": instance.status, "ending": ending_body(ending)}
    db.session.commit()
    return jsonify(answer)


@bp.post("/tasks/<uid:task_id>/urge")
@login_required
def urge_task(task_id: str):
    """催办: the holder (or the candidates) of an open task are notified; audited."""
    svc = services.tasks()
    task = svc.get_for(current(), task_id)
    notified = casework.urge(db.session, svc.runtime.directory, current(), task, services.clock().now())
    db.session.commit()
    return jsonify(task_id=task_id, notified=notified)


def batch_ids(raw) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise ValidationError({"tasks": [gettext("Select at least one task")]})
    if len(raw) > MAX_BATCH:
        raise ValidationError({"tasks": [gettext("At most %(max)s tasks at a time", max=MAX_BATCH)]})
    ids = []
    for item in raw:
        if not isinstance(item, str) or not is_uuid(item):
            raise ValidationError({"tasks": [gettext("A task is named by its id")]})
        if item not in ids:
            ids.append(item)
    return ids


def run_each(ids: list[str], action) -> list[dict]:
    """``action(task_id)`` for each task, each in its own transaction: one refused task does not undo the
    others. Per task: done, or refused with the status and the reason."""
    results = []
    for task_id in ids:
        try:
            task = action(task_id)
            name, case = task.name, task.instance.business_key or task.instance_id
            db.session.commit()
            results.append({"task_id": task_id, "ok": True, "status": 200, "name": name, "case": case})
        except StaleDataError:
            db.session.rollback()
            err = Conflict(N_("The case was changed by someone else at the same moment; reload and try again"))
            results.append({"task_id": task_id, "ok": False, "status": 409, **err.render(gettext)})
        except EngineError as exc:
            db.session.rollback()
            results.append({"task_id": task_id, "ok": False, "status": exc.status, **exc.render(gettext)})
    return results


def complete_same_form(user, ids: list[str], data: dict) -> list[dict]:
    """Complete each task with the same data; tasks whose form differs from the first one's are refused."""
    svc = services.tasks()
    forms = {}
    for task_id in ids:
        try:
            forms[task_id] = svc.get_for(user, task_id).form_key
        except NotFound:
            forms[task_id] = None
    db.session.rollback()
    first = next((f for f in forms.values() if f), None)

    def action(task_id):
        if forms.get(task_id) != first:
            if forms.get(task_id) is None:
                raise NotFound(N_("No such task"))
            raise Conflict(N_("This task has a different form from the others; complete it on its own"))
        return services.tasks().complete(user, task_id, data)
    return run_each(ids, action)


@bp.post("/tasks/batch-claim")
@login_required
def batch_claim():
    """Claim several tasks: {tasks: [ids]}; each its own transaction, a result per task."""
    body = _json()
    ids = batch_ids(body.get("tasks"))
    user = current()
    results = run_each(ids, lambda task_id: services.tasks().claim(user, task_id))
    return jsonify(results=results, done=sum(r["ok"] for r in results))


@bp.post("/tasks/batch-complete")
@login_required
def batch_complete():
    """Complete several tasks of the same form with one submission: {tasks: [ids], data: {…}}; each
    completion is its own transaction and audit row, a result per task."""
    body = _json()
    ids = batch_ids(body.get("tasks"))
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise ValidationError({"data": [gettext("The data must be an object")]})
    results = complete_same_form(current(), ids, data)
    return jsonify(results=results, done=sum(r["ok"] for r in results))
