"""JSON API of the enterprise contact points, their survey rounds and the assessment of the enforcement units
(issue 12 §3–4). Registered inside the ``api`` blueprint (endpoints ``api.assessment.*``), so its error
handlers, CSRF check and the OpenAPI document (web/openapi.py) cover it."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext
from flask_login import login_required
from sqlalchemy import select

from engine.analytics import assessment as A
from engine.dashboard import SUPERVISOR_ROLES, area_of
from engine.errors import N_, Forbidden, InvalidInput, NotFound
from engine.models import OrgUnit, ProcessInstance
from engine.registers import contact_points as cp

from . import services
from .auth import current
from .extensions import db
from .edge import arg_id

bp = Blueprint("assessment", __name__)


def _body() -> dict:
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        raise InvalidInput(N_("Invalid input"), fields={"_body": [gettext("The request body must be a JSON object")]})
    return body


def supervisor():
    user = current()
    if not {ra.role_code for ra in user.roles} & SUPERVISOR_ROLES:
        raise Forbidden(N_("Your roles do not allow this"))
    return user


# -- contact points ---------------------------------------------------------------------------------------------

@bp.get("/contact-points")
@login_required
def contact_points():
    points = cp.list_points(db.session, current())
    return jsonify(contact_points=[cp.as_dict(p) for p in points])


@bp.post("/contact-points")
@login_required
def create_contact_point():
    point = cp.create_point(db.session, current(), _body(), services.clock().now(), gettext)
    body = cp.as_dict(point)
    db.session.commit()
    return jsonify(body), 201


@bp.get("/contact-points/<id:point_id>")
@login_required
def contact_point(point_id: int):
    return jsonify(cp.as_dict(cp.get_point(db.session, current(), point_id)))


@bp.patch("/contact-points/<id:point_id>")
@login_required
def update_contact_point(point_id: int):
    point = cp.update_point(db.session, current(), point_id, _body(), services.clock().now(), gettext)
    body = cp.as_dict(point)
    db.session.commit()
    return jsonify(body)


# -- surveys ----------------------------------------------------------------------------------------------------

@bp.get("/surveys/rounds")
@login_required
def rounds():
    user = supervisor()
    return jsonify(rounds=cp.rounds(db.session, area_of(db.session, user)))


@bp.get("/surveys/results")
@login_required
def survey_results():
    user = supervisor()
    round_id = arg_id("round")
    if round_id is not None and db.session.scalar(select(ProcessInstance.id).where(
            ProcessInstance.id == round_id, ProcessInstance.process_key == "enterprise_survey")) is None:
        raise NotFound(N_("Survey round %(id)s not found"), id=round_id)
    return jsonify(units=cp.results_per_unit(db.session, area_of(db.session, user), instance_id=round_id))


# -- assessment --------------------------------------------------------------------------------------------------

def config() -> A.Config:
    return A.load_config(current_app.config["ASSESSMENT_CONFIG"])


def arg_period() -> str:
    period = request.args.get("period") or A.current_period(services.clock().now())
    A.period_bounds(period)              # a clear 422 for a malformed one
    return period


def arg_choice(name: str, allowed) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise InvalidInput(N_("Invalid input"), fields={name: [gettext("Choose one of the options.")]})
    return value


TIERS = ("city", "county", "township")


@bp.get("/assessment")
@login_required
def assessment():
    user = supervisor()
    cfg = config()
    result = A.ranking(db.session, cfg, arg_period(), services.clock().now(), area_of(db.session, user),
                       arg_choice("tier", TIERS), arg_choice("kind", cfg.unit_kinds))
    return jsonify(A.as_json(result))


@bp.get("/assessment/detail")
@login_required
def assessment_detail():
    user = supervisor()
    cfg = config()
    period = arg_period()
    code = request.args.get("unit") or ""
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == code[:64])) if code else None
    area = area_of(db.session, user)
    if unit is None or (area is not None and unit.id not in area):
        raise NotFound(N_("Unit %(code)s not found"), code=code[:64])
    rows = A.drilldown(db.session, cfg, period, services.clock().now(), unit.id, request.args.get("indicator") or "")
    return jsonify(period=period, unit={"code": unit.code, "name": unit.name}, rows=rows)


@bp.get("/assessment/periods")
@login_required
def assessment_periods():
    supervisor()
    return jsonify(periods=[{"period": p.period, "closed_at": p.closed_at.isoformat(), "closed_by": p.closed_by}
                            for p in A.closed_periods(db.session)])


@bp.post("/assessment/periods/<period>/close")
@login_required
def close_assessment_period(period: str):
    user = current()
    if "admin" not in {ra.role_code for ra in user.roles}:
        raise Forbidden(N_("Only an administrator may close an assessment period"))
    A.period_bounds(period)
    closed = A.close_period(db.session, config(), period, services.clock().now(), user.username)
    body = {"period": closed.period, "closed_at": closed.closed_at.isoformat(), "closed_by": closed.closed_by}
    db.session.commit()
    return jsonify(body), 201
