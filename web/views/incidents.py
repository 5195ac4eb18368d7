"""Timer incidents for administrators (异常定时任务): timers that failed on every attempt, with the case, the
procedure, the step, the error and when it failed; each can be retried (due now) or cancelled."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from engine import incidents as inc
from engine.errors import EngineError

from .. import display, services
from ..extensions import db
from .common import check_csrf, me, roles_of, signed_in

bp = Blueprint("incidents", __name__)
ADMINS = {"admin"}


def error_text(error: dict | None) -> str:
    """The stored error in the reader's language (the technical detail is for the log and the API)."""
    if not error or not error.get("msgid"):
        return ""
    text = _(error["msgid"])
    try:
        return text % error["params"] if error.get("params") else text
    except (KeyError, TypeError, ValueError):
        return text


def step_label(incident: inc.Incident) -> str:
    """The timer's name in the model; for an unnamed boundary timer the time limit of its task."""
    if incident.step_name:
        return incident.step_name
    if incident.task_name:
        return _("Time limit of %(step)s", step=incident.task_name)
    return _("Timer event")


def _admin() -> None:
    if not roles_of(me()) & ADMINS:
        abort(403)


@bp.get("/admin/incidents")
@signed_in
def index():
    _admin()
    rows = inc.list_open(db.session)
    return render_template("incidents.html", incidents=rows, step_label=step_label, error_text=error_text)


@bp.post("/admin/incidents/<id:timer_id>/<action>")
@signed_in
def act(timer_id: int, action: str):
    _admin()
    check_csrf()
    if action not in ("retry", "cancel"):
        abort(404)
    try:
        row = (inc.retry if action == "retry" else inc.cancel)(db.session, timer_id, services.clock().now(),
                                                               me().username)
        case = display.case_name(row.instance)
        db.session.commit()
    except EngineError:
        db.session.rollback()
        flash(_("This incident was already dealt with."), "error")
        return redirect(url_for("incidents.index"))
    if action == "retry":
        flash(_("The timer of case %(case)s will be tried again at the scheduler's next run.", case=case), "success")
    else:
        flash(_("The timer of case %(case)s was cancelled.", case=case), "success")
    return redirect(url_for("incidents.index"))
