"""The bell: my reminders, overdue and escalation notices, tasks to assign; opening one marks it read."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for

from engine import notifications as notes
from engine.errors import EngineError

from .. import services
from ..extensions import db
from .common import annotate, check_csrf, me, signed_in

bp = Blueprint("notifications", __name__)


@bp.get("/notifications/menu")
@signed_in
def menu():
    rows = notes.for_user(db.session, me(), limit=15)
    annotate([n.task for n in rows])
    return render_template("notifications_menu.html", rows=rows)


@bp.post("/notifications/<id:notification_id>/open")
@signed_in
def open_(notification_id: int):
    check_csrf()
    try:
        note = notes.mark_read(db.session, me(), notification_id, services.clock().now())
    except EngineError:
        abort(404)
    kind = note.kind
    db.session.commit()
    if kind == "unassigned":              # told because they may assign it: the 待分派 queue
        return redirect(url_for("queue.index"))
    if kind == "training_due":            # a reviewer's training shortfall: his profile, or the register
        if note.audience == "supervisor" and note.subject_user_id:
            return redirect(url_for("personnel.person", user_id=note.subject_user_id))
        return redirect(url_for("auth.profile"))
    return redirect(url_for("case.show", instance_id=note.instance_id))
