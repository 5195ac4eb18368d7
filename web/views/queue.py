"""待分派: tasks nobody can take (无人承接) — their role has no active holder at the unit they were routed to.
Supervision officers see those of the units in their area, administrators all; each can be given to a unit
where somebody holds the role, or to one such person."""
from __future__ import annotations


from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.errors import N_, EngineError
from engine.models import OrgUnit, Role, RoleAssignment, User
from engine.org import REVIEWER_ROLE

from .. import display, services
from ..extensions import db
from .common import annotate, check_csrf, me, roles_of, signed_in

bp = Blueprint("queue", __name__)
ASSIGNERS = {"supervision_officer", "admin"}
REASONS = {"no_holder": N_("Nobody active holds %(role)s at %(unit)s"),
           "no_role": N_("The step names no role"),
           "no_unit": N_("The step names no unit"),
           "no_qualified": N_("No legal reviewer at %(unit)s is qualified (法律职业资格 and this year's training hours)")}


def reason_text(task, role_names: dict[str, str]) -> str:
    text = _(REASONS.get(task.unassigned_reason or "no_holder", REASONS["no_holder"]))
    return text % {"role": role_names.get(task.role_code, task.role_code or "—"),
                   "unit": task.unit.name if task.unit else "—"}


def _assigner() -> None:
    if not roles_of(me()) & ASSIGNERS:
        abort(403)


def choices(tasks, area: set[int] | None) -> dict[str, list[tuple[OrgUnit, list[User]]]]:
    """Per role of the listed tasks: the units of the area where somebody holds it, with those people."""
    out: dict[str, list[tuple[OrgUnit, list[User]]]] = {}
    for role in {t.role_code for t in tasks if t.role_code}:
        stmt = (select(User, OrgUnit).join(RoleAssignment, RoleAssignment.user_id == User.id)
                .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
                .where(RoleAssignment.role_code == role, User.active.is_(True)))
        if area is not None:
            stmt = stmt.where(OrgUnit.id.in_(area))
        by_unit: dict[int, tuple[OrgUnit, list[User]]] = {}
        rows = list(db.session.execute(stmt.order_by(OrgUnit.code, User.username)))
        directory = services.directory()
        good = directory.qualified(u.id for u, _unit in rows) if role == REVIEWER_ROLE else None
        for user, unit in rows:
            if good is not None and user.id not in good:          # only qualified reviewers take review tasks
                continue
            by_unit.setdefault(unit.id, (unit, []))[1].append(user)
        out[role] = list(by_unit.values())
    return out


@bp.get("/queue")
@signed_in
def index():
    _assigner()
    svc = services.tasks()
    tasks = annotate(svc.queue(me()))
    role_names = {r.code: r.name for r in db.session.scalars(select(Role))}
    return render_template("queue.html", tasks=tasks, role_names=role_names, reason_text=reason_text,
                           choices=choices(tasks, svc.assign_area(me())))


@bp.post("/queue/<uid:task_id>/assign")
@signed_in
def assign(task_id: str):
    _assigner()
    check_csrf()
    unit_code, _sep, username = (request.form.get("target") or "").partition("|")
    try:
        task = services.tasks().assign(me(), task_id, unit_code, username or None)
        message = _("“%(name)s” of case %(case)s was given to %(who)s.", name=task.name,
                    case=display.case_name(task.instance),
                    who=task.claimed_by.display_name if task.claimed_by else task.unit.name)
        db.session.commit()
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.render(_)["message"], "error")
        return redirect(url_for("queue.index"))
    flash(message, "success")
    return redirect(url_for("queue.index"))
