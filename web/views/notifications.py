"""The bell: new tasks, tasks sent back, 督办 received, reminders, overdue and escalation notices, 催办, withdrawn
and cancelled cases, tasks to assign; opening one marks it read and goes to its task (or its case when the task
is closed). The page polls ``/api/notifications/summary`` (web/api.py) to update the count without a reload."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

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


@bp.get("/notifications")
@signed_in
def index():
    rows = notes.for_user(db.session, me(), limit=200)
    annotate([n.task for n in rows])
    return render_template("notifications.html", rows=rows)


@bp.post("/notifications/<id:notification_id>/open")
@signed_in
def open_(notification_id: int):
    check_csrf()
    try:
        note = notes.mark_read(db.session, me(), notification_id, services.clock().now())
    except EngineError:
        abort(404)
    kind, task, instance_id = note.kind, note.task, note.instance_id
    db.session.commit()
    if kind == "unassigned":              # told because they may assign it: the 待分派 queue
        return redirect(url_for("queue.index"))
    if kind == "training_due":            # a reviewer's training shortfall: his profile, or the register
        if note.audience == "supervisor" and note.subject_user_id:
            return redirect(url_for("personnel.person", user_id=note.subject_user_id))
        return redirect(url_for("auth.profile"))
    if task is not None and task.status == "open" and kind not in ("withdrawn", "cancelled"):
        try:
            services.tasks().get_for(me(), task.id)
            return redirect(url_for("task.show", task_id=task.id))
        except EngineError:
            pass
    return redirect(url_for("case.show", instance_id=instance_id))


_EMAIL = re.compile(r"[^@\s<>\"'(),;:]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}")


@bp.post("/profile/notifications")
@signed_in
def settings():
    """My e-mail address and whether my notifications also come by e-mail."""
    check_csrf()
    user = me()
    address = request.form.get("email", "").strip()
    wanted = request.form.get("email_notifications") == "1"
    if address and (len(address) > 254 or not _EMAIL.fullmatch(address)):
        flash(_("Give an e-mail address such as zhangsan@example.gov.cn."), "error")
        return redirect(url_for("auth.profile"))
    if wanted and not address:
        flash(_("Give an e-mail address to receive notifications by e-mail."), "error")
        return redirect(url_for("auth.profile"))
    user.email, user.email_notifications = address or None, wanted
    db.session.commit()
    flash(_("Notification settings saved."), "success")
    return redirect(url_for("auth.profile"))
