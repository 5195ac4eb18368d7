"""The personnel register in the JSON API (a part of the ``api`` blueprint: /api/personnel…): people of the
units the caller manages with their 执法证, 法律职业资格 and training; the reviewers' shortfall per unit; my
own qualification. Editors are administrators (every unit) and supervision officers (their county or city);
a person outside the caller's area is 404."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, jsonify, request
from flask_babel import gettext
from flask_login import login_required

from engine.calendar import LOCAL_TZ
from engine.dashboard import SUPERVISOR_ROLES, area_of
from engine.errors import N_, Forbidden, InvalidInput
from engine.registers import personnel as reg

from . import services
from .auth import current
from .extensions import db

bp = Blueprint("personnel", __name__, url_prefix="/personnel")


@bp.before_request
@login_required
def _signed_in():
    """Every call needs a session or a token (401 otherwise)."""
    return None


def _today() -> date:
    return services.clock().now().astimezone(LOCAL_TZ).date()


def _editor():
    user = current()
    if not {ra.role_code for ra in user.roles} & reg.EDITOR_ROLES:
        raise Forbidden(N_("Only an administrator or a supervision officer manages the personnel register"))
    return user


def _body() -> dict:
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        raise InvalidInput(N_("Invalid input"), fields={"_body": [gettext("The request body must be a JSON object")]})
    return body


def _fields(errors: dict) -> dict:
    return {name: [gettext(m) for m in msgids] for name, msgids in errors.items()}


def _person(user_id: int):
    return reg.person_for(db.session, services.directory(), _editor(), user_id)


@bp.get("")
def people():
    user = _editor()
    unit = request.args.get("unit", type=int)
    persons = reg.people(db.session, reg.edit_area(services.directory(), user), unit)
    today, rule = _today(), services.reviewer_rule()
    st = reg.statuses(db.session, [p.id for p in persons], today, rule)
    records = reg.records_of(db.session, [p.id for p in persons])
    out = []
    for p in persons:
        rec = records.get(p.id)
        reviewer = any(ra.role_code == reg.REVIEWER_ROLE for ra in p.roles)
        out.append({"id": p.id, "name": p.display_name, "unit": {"code": p.unit.code, "name": p.unit.name},
                    "cert_no": rec.cert_no if rec else None,
                    "cert_valid_until": rec.cert_valid_until.isoformat() if rec and rec.cert_valid_until else None,
                    "enforcement_valid": reg.enforcement_valid(db.session, p.id, today) if rec else False,
                    "reviewer": reviewer, "training_hours": float(st[p.id].hours),
                    "qualified_reviewer": st[p.id].qualified if reviewer else None})
    return jsonify(people=out)


@bp.get("/<id:user_id>")
def person(user_id: int):
    p = _person(user_id)
    return jsonify(reg.person_dict(db.session, p, _today(), services.reviewer_rule()))


@bp.put("/<id:user_id>")
def save(user_id: int):
    p = _person(user_id)
    clean, errors = reg.clean_record(_body())
    if errors:
        raise InvalidInput(N_("Invalid input"), fields=_fields(errors))
    reg.save_record(db.session, p, clean, current().username, services.clock().now())
    body = reg.person_dict(db.session, p, _today(), services.reviewer_rule())
    db.session.commit()
    return jsonify(body)


@bp.post("/<id:user_id>/training")
def add_training(user_id: int):
    p = _person(user_id)
    clean, errors = reg.clean_training(_body())
    if errors:
        raise InvalidInput(N_("Invalid input"), fields=_fields(errors))
    row = reg.add_training(db.session, p, clean)
    body = {"id": row.id, "day": row.day.isoformat(), "course": row.course, "hours": float(row.hours),
            "organiser": row.organiser}
    db.session.commit()
    return jsonify(body), 201


@bp.delete("/<id:user_id>/training/<id:training_id>")
def delete_training(user_id: int, training_id: int):
    p = _person(user_id)
    reg.delete_training(db.session, p, training_id)
    db.session.commit()
    return "", 204


@bp.get("/shortfall")
def shortfall():
    """Per unit of the caller's supervised area: legal reviewers, qualified, hours missing."""
    user = current()
    if not {ra.role_code for ra in user.roles} & SUPERVISOR_ROLES:
        raise Forbidden(N_("Your roles do not allow this"))
    rule = services.reviewer_rule()
    rows = reg.shortfall(db.session, area_of(db.session, user), _today(), rule)
    return jsonify(min_hours=float(rule.min_hours), units=rows)


@bp.get("/me")
def mine():
    """My 执法证 and, for a legal reviewer, this year's training hours and whether I am qualified."""
    user = current()
    return jsonify(reg.person_dict(db.session, user, _today(), services.reviewer_rule()))
