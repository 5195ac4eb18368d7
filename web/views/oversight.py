"""Pages of outside oversight (issue 12 §1–2): the invited-supervisor register and the expert register (kept by
the justice bureaus' supervision officers), 我的监督意见 (an invited supervisor's findings and where each
stands), recording a finding from a case page, and the expert opinions shown on the case page."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.calendar import local_date
from engine.errors import N_, EngineError
from engine.models import OrgUnit, User
from engine.registers import experts as expert_register
from engine.registers import supervisors as supervisor_register
from engine.registers.oversight_models import Expert

from .. import services
from ..extensions import db
from .common import check_csrf, me, roles_of, signed_in

bp = Blueprint("oversight", __name__)
KEEPERS = {"supervision_officer", "admin"}
FINDING_STATES = {"awaiting_answer": N_("Waiting for the agency head's answer"),
                  "under_review": N_("Answer under review by the justice bureau"),
                  "notice": N_("Turned into a supervision notice (督办)"), "closed": N_("Answer accepted, closed"),
                  "withdrawn": N_("Withdrawn"), "in_progress": N_("In progress")}
OPINION_STATES = {"answered": N_("Opinion given"), "open": N_("Waiting for the opinion"),
                  "missing": N_("No opinion by the deadline")}


def _keeper() -> None:
    if not roles_of(me()) & KEEPERS:
        abort(403)


def _fail(exc: EngineError):
    db.session.rollback()
    if exc.status == 404:
        abort(404)
    flash(exc.render(_)["message"], "error")


# -- the invited-supervisor register --------------------------------------------------------------------------
@bp.get("/oversight/supervisors")
@signed_in
def supervisors():
    _keeper()
    user = me()
    try:
        rows = supervisor_register.appointments(db.session, user)
        area = supervisor_register.keeper_area(services.runtime().directory, user)
    except EngineError:
        abort(403)
    units = db.session.scalars(select(OrgUnit).order_by(OrgUnit.code)).all()
    if area is not None:
        units = [u for u in units if u.id in area]
    people = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
    people = [p for p in people if supervisor_register.SUPERVISOR_ROLE in roles_of(p)]
    today = local_date(services.clock().now())
    return render_template("oversight_supervisors.html", rows=rows, units=units, people=people, today=today)


@bp.post("/oversight/supervisors")
@signed_in
def add_supervisor():
    _keeper()
    check_csrf()
    form = request.form
    try:
        supervisor_register.appoint(db.session, me(), username=form.get("username", ""),
                                    organisation=form.get("organisation", ""), term_from=form.get("term_from", ""),
                                    term_to=form.get("term_to", ""), units=form.getlist("units"),
                                    now=services.clock().now())
        db.session.commit()
        flash(_("The supervisor's term was entered in the register."), "success")
    except EngineError as exc:
        _fail(exc)
    return redirect(url_for("oversight.supervisors"))


@bp.post("/oversight/supervisors/<id:appointment_id>/active")
@signed_in
def toggle_supervisor(appointment_id: int):
    _keeper()
    check_csrf()
    try:
        row = supervisor_register.appointment_for(db.session, me(), appointment_id)
        supervisor_register.update(db.session, me(), appointment_id, {"active": not row.active},
                                   services.clock().now())
        db.session.commit()
    except EngineError as exc:
        _fail(exc)
    return redirect(url_for("oversight.supervisors"))


# -- findings -------------------------------------------------------------------------------------------------
@bp.get("/oversight/findings")
@signed_in
def findings():
    user = me()
    if supervisor_register.SUPERVISOR_ROLE not in roles_of(user):
        abort(403)
    rows = [(f, supervisor_register.finding_status(db.session, f))
            for f in supervisor_register.findings_of(db.session, user)]
    terms = supervisor_register.current_terms(db.session, user, local_date(services.clock().now()))
    return render_template("oversight_findings.html", rows=rows, terms=terms, states=FINDING_STATES)


@bp.post("/cases/<id:instance_id>/findings")
@signed_in
def record_finding(instance_id: int):
    check_csrf()
    try:
        finding = supervisor_register.record_finding(db.session, services.tasks(), me(), instance_id,
                                                     request.form.get("finding_text", ""),
                                                     validate=services.validate_form)
        db.session.commit()
    except EngineError as exc:
        _fail(exc)
        return redirect(url_for("case.show", instance_id=instance_id))
    flash(_("Your finding was sent to the agency head of %(unit)s.", unit=finding.unit.name), "success")
    return redirect(url_for("oversight.findings"))


# -- the expert register --------------------------------------------------------------------------------------
@bp.get("/oversight/experts")
@signed_in
def experts():
    if not roles_of(me()) & (KEEPERS | {"legal_reviewer"}):
        abort(403)
    field = (request.args.get("field") or "").strip()[:50] or None
    rows = expert_register.listing(db.session, field=field)
    registered = set(db.session.scalars(select(Expert.user_id)))
    candidates = [u for u in db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))
                  if expert_register.EXPERT_ROLE in roles_of(u) and u.id not in registered]
    return render_template("oversight_experts.html", rows=rows, field=field, candidates=candidates,
                           fields=expert_register.all_fields(db.session), may_keep=expert_register.may_keep(me()))


@bp.post("/oversight/experts")
@signed_in
def add_expert():
    if not expert_register.may_keep(me()):
        abort(403)
    check_csrf()
    form = request.form
    try:
        expert_register.add(db.session, me(), username=form.get("username", ""), name=form.get("name", ""),
                            organisation=form.get("organisation", ""), fields=form.get("fields", ""),
                            contact=form.get("contact") or None, now=services.clock().now())
        db.session.commit()
        flash(_("The expert was entered in the register."), "success")
    except EngineError as exc:
        _fail(exc)
    return redirect(url_for("oversight.experts"))


@bp.post("/oversight/experts/<id:expert_id>/active")
@signed_in
def toggle_expert(expert_id: int):
    if not expert_register.may_keep(me()):
        abort(403)
    check_csrf()
    try:
        row = expert_register.get(db.session, expert_id)
        expert_register.update(db.session, me(), expert_id, {"active": not row.active}, services.clock().now())
        db.session.commit()
    except EngineError as exc:
        _fail(exc)
    return redirect(url_for("oversight.experts"))


# -- on the case page -----------------------------------------------------------------------------------------
def case_extras(instance, members) -> dict:
    """What the case page shows of outside oversight: the expert opinions of the case file, and — for an
    invited supervisor within the assigned area and term — the form to record a finding."""
    user = me()
    opinions = expert_register.opinions(db.session, [m.id for m in members])
    may_find = False
    if supervisor_register.SUPERVISOR_ROLE in roles_of(user) and instance.unit_id is not None \
            and instance.business_key and instance.process_key != supervisor_register.FINDING_PROCESS:
        area = supervisor_register.assigned_area(db.session, services.runtime().directory, user,
                                                 local_date(services.clock().now()))
        may_find = instance.unit_id in area
    return {"expert_opinions": opinions, "opinion_states": OPINION_STATES, "may_record_finding": may_find}

