"""Finding and moving work (engine.casework): the case search page (全部案件 / 我发起的), 撤回 and 撤销 from the
case page, 催办 of an open task, and batch claim / batch completion from the inbox."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from engine import casework
from engine.errors import N_, EngineError
from engine.limits import is_uuid
from engine.models import HumanTask
from forms import default_registry

from .. import services
from ..api_casework import MAX_BATCH, complete_same_form, display_names, query_from_args, run_each
from ..edge import arg_page
from ..extensions import db
from ..forms_web import parse, pickers
from .common import annotate, check_csrf, me, safe_next, signed_in

bp = Blueprint("casework", __name__)
PER_PAGE = 20
STATUS_LABELS = {"running": N_("In progress"), "completed": N_("Closed"), "terminated": N_("Terminated"),
                 "withdrawn": N_("Withdrawn"), "cancelled": N_("Cancelled")}
LISTS = [("all", N_("All cases")), ("mine", N_("Started by me"))]


@bp.app_template_filter("case_status")
def case_status(status: str) -> str:
    return _(STATUS_LABELS.get(status, N_("Unknown")))


@bp.app_template_global("casework_panel")
def casework_panel(instance) -> dict:
    """What the case page offers the signed-in user: 撤回, 撤销, 催办 of open tasks, and how the case ended."""
    user = me()
    directory = services.runtime().directory
    open_tasks = list(db.session.scalars(db.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                                    HumanTask.status == "open")
                                         .order_by(HumanTask.created_at)))
    refusal = casework.withdraw_refusal(db.session, user, instance)
    return {"ending": casework.ending_of(db.session, instance.id),
            "may_withdraw": refusal is None,
            "withdraw_refusal": refusal.render(_)["message"] if refusal is not None
            and instance.started_by == user.username and instance.status == "running" else None,
            "may_cancel": instance.status == "running" and casework.may_cancel(directory, user, instance),
            "urgeable": [t for t in open_tasks if casework.may_urge(directory, user, t)]}


# -- search ----------------------------------------------------------------------------------------------
@bp.get("/cases")
@signed_in
def search():
    page = arg_page()
    scope = request.args.get("scope", "all")
    if scope not in dict(LISTS):
        abort(404)
    error, rows, total = None, [], 0
    try:
        rows, total = casework.search(db.session, me(), query_from_args(request.args),
                                      limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    except EngineError as exc:
        error = exc.render(_)["message"]
    except ValidationError as exc:
        error = "; ".join(str(m) for ms in exc.messages.values() for m in ms) if isinstance(exc.messages, dict) \
            else str(exc.messages)
    names, people = display_names(rows)
    units = casework.units_in_view(db.session, me())
    return render_template("cases.html", rows=rows, total=total, page=page, scope=scope, lists=LISTS,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), processes=names, people=people,
                           units=units, statuses=STATUS_LABELS, args=request.args, error=error)


# -- 撤回 / 撤销 / 催办 --------------------------------------------------------------------------------------
def _act(action, message: str, back: str):
    try:
        action()
        db.session.commit()
        flash(message, "success")
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.render(_)["message"], "error")
    return redirect(back)


def _instance(instance_id: int):
    try:
        return services.tasks().instance_for(me(), instance_id)
    except EngineError:
        abort(404)


@bp.post("/cases/<id:instance_id>/withdraw")
@signed_in
def withdraw(instance_id: int):
    check_csrf()
    instance = _instance(instance_id)
    return _act(lambda: casework.withdraw(services.runtime(), me(), instance, request.form.get("reason")),
                _("The case has been withdrawn."), url_for("case.show", instance_id=instance_id))


@bp.post("/cases/<id:instance_id>/cancel")
@signed_in
def cancel(instance_id: int):
    check_csrf()
    instance = _instance(instance_id)
    return _act(lambda: casework.cancel(services.runtime(), me(), instance, request.form.get("reason")),
                _("The case has been cancelled."), url_for("case.show", instance_id=instance_id))


@bp.post("/tasks/<uid:task_id>/urge")
@signed_in
def urge(task_id: str):
    check_csrf()
    svc = services.tasks()
    try:
        task = svc.get_for(me(), task_id)
    except EngineError:
        abort(404)
    back = safe_next(request.form.get("next"), url_for("case.show", instance_id=task.instance_id))
    try:
        notified = casework.urge(db.session, svc.runtime.directory, me(), task, services.clock().now())
        db.session.commit()
    except EngineError as exc:
        db.session.rollback()
        flash(exc.render(_)["message"], "error")
        return redirect(back)
    flash(_("Urged: the person handling “%(name)s” has been notified.", name=task.name) if notified else
          _("Urged again: the person handling “%(name)s” already has an urging notice.", name=task.name), "success")
    return redirect(back)


# -- batch work from the inbox -----------------------------------------------------------------------------
def _selected() -> list[str]:
    ids = []
    for raw in request.form.getlist("task"):
        if is_uuid(raw) and raw not in ids:
            ids.append(raw)
    return ids[:MAX_BATCH]


def _labelled(results: list[dict]) -> list[dict]:
    """Per-task results with the task's step and case for the page."""
    tasks = {t.id: t for t in db.session.scalars(db.select(HumanTask).where(
        HumanTask.id.in_([r["task_id"] for r in results])))}
    for r in results:
        task = tasks.get(r["task_id"])
        r["step"] = task.name if task else ""
        r["case"] = (task.instance.business_key or task.instance_id) if task else ""
        r["instance_id"] = task.instance_id if task else None
    return results


@bp.post("/tasks/batch")
@signed_in
def batch():
    """The inbox's batch bar: ``action`` claim (done at once) or complete (the shared form first)."""
    check_csrf()
    ids = _selected()
    back = safe_next(request.form.get("next"))
    if not ids:
        flash(_("Select at least one task"), "error")
        return redirect(back)
    if request.form.get("action") == "claim":
        user = me()
        results = run_each(ids, lambda task_id: services.tasks().claim(user, task_id))
        return render_template("batch_results.html", results=_labelled(results), what=_("Batch claim"), back=back)
    return _batch_form(ids, {}, {}, back)


def _batch_form(ids: list[str], values: dict, errors: dict, back: str, status: int = 200):
    svc = services.tasks()
    tasks = []
    for task_id in ids:
        try:
            tasks.append(svc.get_for(me(), task_id))
        except EngineError:
            continue
    tasks = [t for t in tasks if t.status == "open"]
    form_keys = {t.form_key for t in tasks}
    if not tasks or len(form_keys) != 1 or None in form_keys:
        flash(_("Batch completion needs open tasks that all have the same form."), "error")
        return redirect(back)
    form = default_registry().get(tasks[0].form_key)
    if form is None:
        abort(404)
    return render_template("batch.html", tasks=annotate(tasks), form=form, values=values, errors=errors,
                           pickers=pickers(form, {"task_unit": tasks[0].unit.code if tasks[0].unit else None}),
                           back=back), status


@bp.post("/tasks/batch/complete")
@signed_in
def batch_complete():
    check_csrf()
    ids = _selected()
    back = safe_next(request.form.get("next"))
    if not ids:
        flash(_("Select at least one task"), "error")
        return redirect(back)
    first = None
    for task_id in ids:
        try:
            first = services.tasks().get_for(me(), task_id)
            break
        except EngineError:
            continue
    form = default_registry().get(first.form_key) if first is not None and first.form_key else None
    if form is None:
        flash(_("Batch completion needs open tasks that all have the same form."), "error")
        return redirect(back)
    values = {k: v for k, v in parse(form, me()).items() if form.field(k) and form.field(k).type != "files"}
    db.session.rollback()
    results = complete_same_form(me(), ids, values)
    return render_template("batch_results.html", results=_labelled(results), what=_("Batch completion"), back=back)


@bp.app_template_filter("unit_tree_order")
def unit_tree_order(units) -> list:
    """Units in organisation order (each followed by the units below it), so a plain select reads as a tree;
    a unit whose parent is not in the list starts a branch of its own."""
    units = list(units)
    ids = {u.id for u in units}
    kids: dict = {}
    for u in sorted(units, key=lambda u: u.code):
        kids.setdefault(u.parent_id if u.parent_id in ids else None, []).append(u)
    out, stack = [], list(reversed(kids.get(None, [])))
    while stack:
        unit = stack.pop()
        out.append(unit)
        stack.extend(reversed(kids.get(unit.id, [])))
    return out
