"""A task: its form (with the case data it needs), comments, delegation and completion."""
from __future__ import annotations

import logging
from uuid import UUID

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine import history
from engine.errors import Conflict, EngineError, Forbidden, InvalidInput
from engine.models import ProcessInstance, RoleAssignment, User
from forms import default_registry

from .. import display, services
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
    """The data the task's form sees: what the process holds at this step (for a done step: what it held
    when it was done, or the case's latest data)."""
    runtime = services.runtime()
    try:
        workflow = runtime.load(task.instance)
    except Exception:          # a case whose state cannot be loaded (a timer incident) still shows its task
        log.exception("task %s: the workflow state could not be loaded", task.id)
        return {}
    try:
        spiff_task = workflow.get_task_from_id(UUID(task.id))
    except Exception:          # a step of a finished loop round, pruned from the stored state
        spiff_task = None
    if spiff_task is not None:
        return dict(spiff_task.data)
    last = workflow.last_task or workflow.task_tree
    return dict(last.data)


def _earlier_rounds(task) -> set[str]:
    """Fields that an earlier, completed occurrence of the same step (same form in the same case) set: on
    a second round they start empty, not with the first round's outcome."""
    names: set[str] = set()
    for event in history.for_instance(db.session, task.instance_id):
        if event.action != "task_completed" or event.task_id == task.id:
            continue
        data = event.data or {}
        if data.get("element_id") == task.element_id and isinstance(data.get("data"), dict):
            names.update(data["data"])
    return names


def _completion(task) -> dict | None:
    """Who completed a done task, when, and what they submitted (labelled)."""
    if task.status != "completed":
        return None
    event = next((e for e in history.for_instance(db.session, task.instance_id)
                  if e.action == "task_completed" and e.task_id == task.id), None)
    by = db.session.get(User, task.completed_by_id) if task.completed_by_id else None
    submitted = (event.data or {}).get("data") if event is not None else None
    return {"by": by.display_name if by else display.person(event.actor if event else None),
            "at": task.completed_at or (event.at if event else None),
            "submitted": display.labelled(task.form_key, submitted)}


def _render(task, values, errors, status=200, kept=False):
    """The task page. ``kept``: the post could not be applied (someone else acted first); the typed values
    are shown again, read only, with the message in ``errors``."""
    form = default_registry().get(task.form_key) if task.form_key else None
    case_data = _case_data(task)
    if form is not None and not values and task.status == "open":
        repeated = _earlier_rounds(task)
        values = {f.name: case_data.get(f.name) for f in form.fields
                  if case_data.get(f.name) is not None and (f.keep_on_repeat or f.name not in repeated)}
    open_ = task.status == "open"
    colleagues = db.session.scalars(select(User).join(RoleAssignment).where(
        RoleAssignment.role_code == task.role_code, RoleAssignment.unit_id == task.unit_id, User.id != me().id,
        User.active.is_(True))).all() if open_ else []
    pending = store().pending(me(), task.id) if open_ else []
    files_fields = [f for f in (form.fields if form else ()) if f.type == "files"]
    listed = {i for f in files_fields for i in (values.get(f.name) or [])}
    if files_fields and pending and not any(a.id in listed for a in pending):   # after a delete or replace
        values = {**values, files_fields[0].name: [*(values.get(files_fields[0].name) or []),
                                                   *(a.id for a in pending)]}
    file_ids = [i for f in files_fields for i in (values.get(f.name) or [])]
    svc = services.tasks()
    shows = display.shows(form, case_data)
    documents = store().for_instance(task.instance_id)
    own = {d.id for d in documents}
    sent = {v for value in display.start_data(task.instance, sent_only=True).values() if isinstance(value, list)
            for v in value if isinstance(v, str)}
    shows = display.keep_files_of(shows, own | sent)
    shared = display.shown_file_ids(shows) - own
    if shared:         # files another procedure sent along (e.g. the referring unit's materials)
        from engine.models import Attachment
        documents = list(documents) + list(db.session.scalars(select(Attachment).where(
            Attachment.id.in_(shared), Attachment.instance_id.is_not(None))))
    may_act = open_ and not kept and (
        task.claimed_by_id == me().id or (task.claimed_by_id is None and svc.is_candidate(me(), task)))
    from .documents import issued_by_attachment
    return render_template(
        "task.html", task=annotate([task])[0], form=form, values=values, errors=errors, kept=kept,
        pickers=pickers(form, {**case_data, "task_unit": task.unit.code if task.unit else None}) if form else {},
        hidden=hidden_by_case(form, case_data) if form else set(),
        attachments=attachment_names(file_ids), colleagues=colleagues, comments=svc.comments(task.instance_id),
        documents=documents, issued=issued_by_attachment(documents), pending=pending, shows=shows,
        summary=display.labelled("case_basics", case_data), completion=_completion(task),
        process_name=task.instance.definition.name, may_act=may_act), status


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
    values, refused = {}, {}
    try:
        values = parse(form, me(), refused, task.id) if form else {}
        # the uploads are kept (unbound: only the uploader sees them) so a refused form shows them again;
        # they join the case below, only when the form is accepted
        db.session.commit()
        if refused:                    # a refused file: nothing is applied, everything typed is shown again
            return _render(_load(task_id), values, refused, 422)
        services.tasks().complete(me(), task.id, values)
        if form is not None:
            for f in form.fields:
                if f.type == "files":
                    store().bind(values.get(f.name) or [], me(), task.instance_id, task.id)
        db.session.commit()
    except InvalidInput as exc:
        db.session.rollback()
        return _render(_load(task_id), values, {**(exc.fields or {"_": [exc.render(_)["message"]]}), **refused}, 422)
    except (Conflict, Forbidden) as exc:
        db.session.rollback()
        task = _load(task_id)
        if task.status == "completed":
            message = _("Someone else completed this task first; your input was not applied. It is shown below "
                        "so you can copy it.")
        elif task.claimed_by is not None and task.claimed_by_id != me().id:
            message = _("%(name)s claimed this task first; your input was not applied. It is shown below so you "
                        "can copy it.", name=task.claimed_by.display_name)
        else:
            message = exc.render(_)["message"]
        return _render(task, values, {"_": [message]}, exc.status, kept=True)
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        if exc.status == 403:          # e.g. no valid 执法证, not a qualified reviewer: say why, keep the input
            return _render(_load(task_id), values, {"_": [exc.render(_)["message"]]}, 403)
        flash(exc.render(_)["message"], "error")
        return redirect(url_for("task.show", task_id=task_id))
    flash(_("Done: “%(name)s” of case %(case)s is completed.", name=task.name,
            case=display.case_name(task.instance)), "success")
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


def _readable(files, row) -> None:
    """The user may read the attachment's case — or a case of the same case number that was started by a
    message carrying the attachment (the receiving unit of a referral reads the files the sender sent)."""
    from engine import casefile
    try:
        services.tasks().instance_for(me(), row.instance_id)
        return
    except EngineError:
        owner = db.session.get(ProcessInstance, row.instance_id)
        if owner is None or not owner.business_key:
            raise
        for other in casefile.instances(db.session, owner.business_key):
            if other.id == owner.id:
                continue
            sent = display.start_data(other, sent_only=True)
            if not any(isinstance(v, list) and row.id in v for v in sent.values()):
                continue
            try:
                services.tasks().instance_for(me(), other.id)
                return
            except EngineError:
                continue
        raise


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
            _readable(files, row)
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
