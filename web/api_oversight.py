"""JSON API of outside oversight (issue 12 §1–2): the invited-supervisor register, findings (监督意见) and their
status, the expert register and the expert opinions of a case. Nested in the ``api`` blueprint (its error
handlers, CSRF check and /api prefix apply); described in web/openapi.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import login_required
from marshmallow import fields, validate

from engine.registers import experts as expert_register
from engine.registers import supervisors as supervisor_register
from engine.calendar import local_date

from . import services
from .auth import current
from .extensions import db
from .schemas import Schema

bp = Blueprint("oversight", __name__)

_CODES = fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(min=1, max=50))


class AppointmentIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    organisation = fields.String(required=True, validate=validate.Length(min=1, max=200))
    term_from = fields.Date(required=True)
    term_to = fields.Date(required=True)
    units = _CODES
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class AppointmentChange(Schema):
    organisation = fields.String(validate=validate.Length(min=1, max=200))
    term_from = fields.Date()
    term_to = fields.Date()
    units = _CODES
    active = fields.Boolean()


class FindingIn(Schema):
    finding_text = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class ExpertIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    organisation = fields.String(required=True, validate=validate.Length(min=1, max=200))
    fields_of_expertise = fields.List(fields.String(validate=validate.Length(min=1, max=50)), required=True,
                                      validate=validate.Length(min=1, max=20), data_key="fields")
    contact = fields.String(allow_none=True, validate=validate.Length(max=200))


class ExpertChange(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    organisation = fields.String(validate=validate.Length(min=1, max=200))
    fields_of_expertise = fields.List(fields.String(validate=validate.Length(min=1, max=50)),
                                      validate=validate.Length(min=1, max=20), data_key="fields")
    contact = fields.String(allow_none=True, validate=validate.Length(max=200))
    active = fields.Boolean()


def _json() -> dict:
    from .api import _json as body
    return body()


def _iso(value):
    return value.isoformat() if value is not None else None


def appointment_body(row) -> dict:
    return {"id": row.id, "username": row.user.username, "name": row.user.display_name,
            "organisation": row.organisation, "bureau": {"code": row.bureau.code, "name": row.bureau.name},
            "term_from": row.term_from.isoformat(), "term_to": row.term_to.isoformat(), "active": row.active,
            "units": [{"code": a.unit.code, "name": a.unit.name} for a in row.areas], "note": row.note}


def expert_body(row) -> dict:
    return {"id": row.id, "username": row.user.username, "name": row.name, "organisation": row.organisation,
            "fields": list(row.fields or []), "contact": row.contact, "active": row.active}


def finding_body(instance) -> dict:
    status = supervisor_register.finding_status(db.session, instance)
    return {"id": instance.id, "case_number": instance.business_key, "status": instance.status,
            "unit": {"code": instance.unit.code, "name": instance.unit.name} if instance.unit else None,
            "recorded_at": _iso(instance.started_at), "state": status["state"],
            "answer_due_at": _iso(status["answer_due_at"]), "answered_at": _iso(status["answered_at"]),
            "answered_on_time": status["answered_on_time"], "answer_overdue": status["answer_overdue"],
            "notice_id": status["notice_id"]}


def opinion_body(row: dict) -> dict:
    return {**row, "asked_at": _iso(row["asked_at"]), "due_at": _iso(row["due_at"]),
            "answered_at": _iso(row["answered_at"])}


# -- invited supervisors --------------------------------------------------------------------------------------
@bp.get("/supervisors")
@login_required
def list_supervisors():
    rows = supervisor_register.appointments(db.session, current())
    return jsonify(supervisors=[appointment_body(r) for r in rows])


@bp.post("/supervisors")
@login_required
def add_supervisor():
    body = AppointmentIn().load(_json())
    row = supervisor_register.appoint(db.session, current(), username=body["username"],
                                      organisation=body["organisation"], term_from=body["term_from"],
                                      term_to=body["term_to"], units=body.get("units") or [],
                                      note=body.get("note"), now=services.clock().now())
    answer = appointment_body(row)
    db.session.commit()
    return jsonify(answer), 201


@bp.put("/supervisors/<id:appointment_id>")
@login_required
def change_supervisor(appointment_id: int):
    body = AppointmentChange().load(_json())
    row = supervisor_register.update(db.session, current(), appointment_id, body, services.clock().now())
    answer = appointment_body(row)
    db.session.commit()
    return jsonify(answer)


@bp.get("/supervisors/me")
@login_required
def my_terms():
    """An invited supervisor's current terms and the units they may read."""
    user = current()
    today = local_date(services.clock().now())
    terms = supervisor_register.current_terms(db.session, user, today)
    return jsonify(terms=[appointment_body(r) for r in terms])


# -- findings -------------------------------------------------------------------------------------------------
@bp.post("/instances/<id:instance_id>/findings")
@login_required
def record_finding(instance_id: int):
    body = FindingIn().load(_json())
    instance = supervisor_register.record_finding(db.session, services.tasks(), current(), instance_id,
                                                  body["finding_text"], validate=services.validate_form)
    answer = finding_body(instance)
    db.session.commit()
    return jsonify(answer), 201


@bp.get("/findings")
@login_required
def my_findings():
    """Every finding I recorded, with where it stands."""
    rows = supervisor_register.findings_of(db.session, current())
    return jsonify(findings=[finding_body(r) for r in rows])


# -- experts --------------------------------------------------------------------------------------------------
def _may_read_experts(user) -> None:
    from engine.errors import N_, Forbidden
    if not {"supervision_officer", "admin", "legal_reviewer"} & {ra.role_code for ra in user.roles}:
        raise Forbidden(N_("Your roles do not allow this"))


@bp.get("/experts")
@login_required
def list_experts():
    _may_read_experts(current())
    field = (request.args.get("field") or "").strip()[:50] or None
    active = request.args.get("active") == "1"
    rows = expert_register.listing(db.session, field=field, active_only=active)
    return jsonify(experts=[expert_body(r) for r in rows], fields=expert_register.all_fields(db.session))


@bp.post("/experts")
@login_required
def add_expert():
    body = ExpertIn().load(_json())
    row = expert_register.add(db.session, current(), username=body["username"], name=body["name"],
                              organisation=body["organisation"], fields=body["fields_of_expertise"],
                              contact=body.get("contact"), now=services.clock().now())
    answer = expert_body(row)
    db.session.commit()
    return jsonify(answer), 201


@bp.put("/experts/<id:expert_id>")
@login_required
def change_expert(expert_id: int):
    body = ExpertChange().load(_json())
    if "fields_of_expertise" in body:
        body["fields"] = body.pop("fields_of_expertise")
    row = expert_register.update(db.session, current(), expert_id, body, services.clock().now())
    answer = expert_body(row)
    db.session.commit()
    return jsonify(answer)


@bp.get("/instances/<id:instance_id>/expert-opinions")
@login_required
def case_opinions(instance_id: int):
    """The expert opinions of a case (its case file as the user may read it): given, still open, or missing
    (the round's deadline passed)."""
    tasks = services.tasks()
    instance = tasks.instance_for(current(), instance_id)
    members = tasks.case_file(current(), instance)
    rows = expert_register.opinions(db.session, [m.id for m in members])
    return jsonify(opinions=[opinion_body(r) for r in rows],
                   missing=[r["name"] for r in rows if r["status"] == "missing"])
