"""A task: its form (with the case data it needs), comments, delegation and completion."""
from __future__ import annotations

import logging
from uuid import UUID

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.errors import Conflict, EngineError, InvalidInput
from engine.models import RoleAssignment, User
from forms import default_registry

from .. import services
from ..extensions import db
from ..forms_web import attachment_names, hidden_by_case, parse, pickers, store
from .common import annotate, check_csrf, me, safe_next, signed_in

bp = Blueprint("task", __name__)
log = logging.getLogger(__name__)


def _load(task_id: str):
    try:
        return services.tasks().get_for(me(), task_id)
    except EngineError:
        abort(404)


def _case_data(task) -> dict:
    """The data the task's form sees: what the process holds at this step."""
    runtime = services.runtime()
    workflow = runtime.load(task.instance)
    spiff_task = workflow.get_task_from_id(UUID(task.id))
    return dict(spiff_task.data) if spiff_task is not None else runtime.data_of(task.instance)


def _render(task, values, errors, status=200):
    form = default_registry().get(task.form_key) if task.form_key else None
    case_data = _case_data(task) if task.status == "open" else {}
    if form is not None and not values and task.status == "open":
        values = {f.name: case_data.get(f.name) for f in form.fields if case_data.get(f.name) is not None}
    colleagues = db.session.scalars(select(User).join(RoleAssignment).where(
        RoleAssignment.role_code == task.role_code, RoleAssignment.unit_id == task.unit_id, User.id != me().id,
        User.active.is_(True))).all() if task.status == "open" else []
    file_ids = [i for f in (form.fields if form else ()) if f.type == "files" for i in (values.get(f.name) or [])]
    svc = services.tasks()
    return render_template(
        "task.html", task=annotate([task])[0], form=form, values=values, errors=errors,
        pickers=pickers(form, {**case_data, "task_unit": task.unit.code if task.unit else None}) if form else {}, hidden=hidden_by_case(form, case_data) if form else set(),
        attachments=attachment_names(file_ids), colleagues=colleagues, comments=svc.comments(task.instance_id),
        documents=store().for_instance(task.instance_id),
        process_name=task.instance.definition.name, may_act=task.status == "open" and (
            task.claimed_by_id == me().id or (task.claimed_by_id is None and svc.is_candidate(me(), task)))), status


@bp.get("/tasks/<uid:task_id>")
@signed_in
def show(task_id: str):
    return _render(_load(task_id), {}, {})


@bp.post("/tasks/<uid:task_id>/complete")
@signed_in
def complete(task_id: str):
    check_csrf()
    task = _load(task_id)
    form = default_registry().get(task.form_key) if task.form_key else None
    values = {}
    try:
        values = parse(form, me()) if form else {}
        # the uploads are kept (unbound: only the uploader sees them) so a refused form shows them again;
        # they join the case below, only when the form is accepted
        db.session.commit()
        services.tasks().complete(me(), task.id, values)
        if form is not None:
            for f in form.fields:
                if f.type == "files":
                    store().bind(values.get(f.name) or [], me(), task.instance_id, task.id)
        db.session.commit()
    except InvalidInput as exc:
        db.session.rollback()
        return _render(_load(task_id), values, exc.fields or {"_": [exc.render(_)["message"]]}, 422)
    except Conflict:
        db.session.rollback()
        return render_template("error.html", code=409, message=_(
            "Someone else has already completed this task; your input was not applied.")), 409
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        if exc.status == 403:          # e.g. no valid 执法证, not a qualified reviewer: say why, keep the input
            return _render(_load(task_id), values, {"_": [exc.render(_)["message"]]}, 403)
        flash(exc.render(_)["message"], "error")
        return redirect(url_for("task.show", task_id=task_id))
    flash(_("Done: “%(name)s” of case %(case)s is completed.", name=task.name,
            case=task.instance.business_key or task.instance_id), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<uid:task_id>/delegate")
@signed_in
def delegate(task_id: str):
    check_csrf()
    try:
        services.tasks().delegate(me(), task_id, request.form.get("username", ""))
        db.session.commit()
        flash(_("Delegated."), "success")
        return redirect(url_for("inbox.index"))
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404 and not request.form.get("username"):
            abort(404)
        flash(exc.render(_)["message"], "error")
        return redirect(url_for("task.show", task_id=task_id))


@bp.post("/cases/<id:instance_id>/comments")
@signed_in
def comment(instance_id: int):
    check_csrf()
    try:
        services.tasks().add_comment(me(), instance_id, request.form.get("text", ""), request.form.get("task_id") or None)
        db.session.commit()
        flash(_("Comment added."), "success")
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.render(_)["message"], "error")
    return redirect(safe_next(request.form.get("next"), url_for("case.show", instance_id=instance_id)))


@bp.get("/documents/<uid:att_id>")
@signed_in
def document(att_id: str):
    from flask import send_file
    files = store()
    try:
        row = files.get(att_id)
        if row.instance_id is None:
            if row.uploaded_by_id != me().id:
                abort(404)
        else:
            services.tasks().instance_for(me(), row.instance_id)
    except EngineError:
        abort(404)
    try:
        content = files.open(row)
    except FileNotFoundError:
        log.error("the bytes of attachment %s (sha256 %s) are missing from the attachment storage", row.id,
                  row.sha256, extra={"attachment_id": row.id, "instance_id": row.instance_id})
        abort(404)
    # the server's type for the extension, never the one stored from an upload; always a download
    return send_file(content, mimetype=files.content_type(row.filename), as_attachment=True,
                     download_name=row.filename)
