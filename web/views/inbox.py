"""The inbox: my tasks, tasks to claim, due soon, overdue, done — filtered, sorted by due time, paged."""
from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from engine.errors import N_, EngineError
from engine.models import OrgUnit

from .. import services
from ..edge import arg_day_start, arg_page
from ..extensions import db
from .common import annotate, check_csrf, me, read_nav_counts, safe_next, signed_in

bp = Blueprint("inbox", __name__)
PER_PAGE = 20
TABS = [("mine", N_("My tasks")), ("group", N_("To claim")), ("due_soon", N_("Due soon")),
        ("overdue", N_("Overdue")), ("done", N_("Done"))]


@bp.get("/")
@signed_in
def index():
    tab = request.args.get("tab", "mine")
    if tab not in dict(TABS):
        abort(404)
    page = arg_page()
    unit_code = request.args.get("unit") or None
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == unit_code)) if unit_code else None
    svc = services.tasks()
    # the tab's total is read with the navigation's badges, in one statement
    rows, total = svc.inbox(me(), tab, now=services.clock().now(), process_key=request.args.get("process") or None,
                            unit_id=unit.id if unit else None, created_from=arg_day_start("from"),
                            created_to=arg_day_start("to", end=True), page=page, per_page=PER_PAGE,
                            count_with=lambda count: read_nav_counts(me(), total=count)["total"])
    # the procedures, and the rows' other versions and sub-processes, in one statement; held here while the page
    # is drawn (the session's identity map keeps only referenced rows, and the case column reads each row's
    # definition)
    latest, definitions = services.procedures_and_versions({t.instance.definition_id for t in rows})
    processes = {d.key: d.name or d.key for d in latest}
    my_units = db.session.scalars(_units_statement(), {"ids": list({ra.unit_id for ra in me().roles})}).all()
    return render_template("inbox.html", tab=tab, tabs=TABS, rows=annotate(rows), total=total, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), processes=processes,
                           my_units=my_units, args=request.args, definitions=definitions)


@lru_cache(maxsize=1)
def _units_statement():
    """The units :ids (the user's, for the filter), built once."""
    return select(OrgUnit).where(OrgUnit.id.in_(bindparam("ids", expanding=True))).order_by(OrgUnit.id)


@bp.post("/tasks/<uid:task_id>/claim")
@signed_in
def claim(task_id: str):
    check_csrf()
    return _act(lambda svc: svc.claim(me(), task_id), _("Claimed: the task is now in My tasks."))


@bp.post("/tasks/<uid:task_id>/unclaim")
@signed_in
def unclaim(task_id: str):
    check_csrf()
    return _act(lambda svc: svc.unclaim(me(), task_id), _("Given back: the task is offered to your colleagues again."))


def _act(action, message: str):
    try:
        action(services.tasks())
        db.session.commit()
        flash(message, "success")
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.render(_)["message"], "error")
    return redirect(safe_next(request.form.get("next")))
