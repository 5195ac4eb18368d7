"""Pages of the enterprise contact points (企业联系点) and the survey results per enforcement unit."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.calendar import LOCAL_TZ
from engine.dashboard import area_of
from engine.errors import EngineError, InvalidInput
from engine.registers import contact_points as cp

from .. import services
from ..export import XLSX_MIMETYPE, workbook_bytes
from ..extensions import db
from ..edge import arg_id
from .common import check_csrf, me, roles_of
from .dashboard import supervisors_only

bp = Blueprint("contact_points", __name__)


def _xlsx(title: str, headers: list[str], rows: list[list], name: str) -> Response:
    response = Response(workbook_bytes(title, headers, rows), mimetype=XLSX_MIMETYPE)
    day = f"{services.clock().now().astimezone(LOCAL_TZ):%Y-%m-%d}"
    response.headers["Content-Disposition"] = (f"attachment; filename={name}-{day}.xlsx; "
                                               f"filename*=UTF-8''{quote(f'{title}-{day}.xlsx')}")
    return response


def _form_body() -> dict:
    body = {k: request.form.get(k, "") for k in ("name", "credit_code", "sector", "address", "contact_name",
                                                 "contact_phone")}
    body["units"] = [u for u in request.form.getlist("units") if u]
    body["active"] = request.form.get("active", "1") == "1"
    if request.form.get("owner"):
        body["owner"] = request.form["owner"]
    return body


def _page(values=None, errors=None, point=None, status=200):
    user = me()
    points = cp.list_points(db.session, user)
    may_keep = bool(roles_of(user) & cp.KEEPER_ROLES)
    return render_template("contact_points.html", points=points, values=values or {}, errors=errors or {},
                           point=point, may_keep=may_keep, units=cp.enforcement_units(db.session, user),
                           is_admin="admin" in roles_of(user), bureaus=_bureaus() if "admin" in roles_of(user) else []), status


def _bureaus():
    from sqlalchemy import select
    from engine.models import OrgUnit
    return db.session.scalars(select(OrgUnit).where(OrgUnit.kind == "justice_bureau",
                                                    OrgUnit.tier.in_(("city", "county"))).order_by(OrgUnit.code)).all()


@bp.get("/contact-points")
@supervisors_only
def index():
    point = None
    edit = arg_id("edit")
    if edit is not None:
        try:
            point = cp.get_point(db.session, me(), edit)
        except EngineError:
            abort(404)
        values = {**cp.as_dict(point), "units": [u["code"] for u in cp.as_dict(point)["units"]]}
        return _page(values, point=point)
    return _page()


@bp.post("/contact-points")
@supervisors_only
def save():
    check_csrf()
    body = _form_body()
    point_id = arg_id("id", request.form)
    try:
        if point_id is None:
            point = cp.create_point(db.session, me(), body, services.clock().now(), _)
        else:
            point = cp.update_point(db.session, me(), point_id, body, services.clock().now(), _)
        db.session.commit()
    except InvalidInput as exc:
        db.session.rollback()
        return _page(body, exc.fields, point=cp.get_point(db.session, me(), point_id) if point_id else None,
                     status=422)
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.render(_)["message"], "error")
        return redirect(url_for("contact_points.index"))
    flash(_("Contact point %(name)s saved.", name=point.name), "success")
    return redirect(url_for("contact_points.index"))


@bp.get("/contact-points/export.xlsx")
@supervisors_only
def export():
    headers = [_("Justice bureau"), _("Enterprise"), _("Unified social credit code"), _("Sector"), _("Address"),
               _("Contact person"), _("Telephone"), _("Enforcement units"), _("Active")]
    rows = [[p.owner_unit.name, p.name, p.credit_code, p.sector, p.address, p.contact_name, p.contact_phone,
             "、".join(u.unit.name for u in p.units), _("Yes") if p.active else _("No")]
            for p in cp.list_points(db.session, me())]
    return _xlsx(_("Enterprise contact points"), headers, rows, "contact-points")


def _survey_tables(round_id):
    area = area_of(db.session, me())
    results = cp.results_per_unit(db.session, area, instance_id=round_id)
    answers = cp.responses(db.session, area, instance_id=round_id)
    return results, answers


RESULT_HEADERS = ("Enforcement unit", "Ratings", "Mean satisfaction (1–5)", "5", "4", "3", "2", "1")


@bp.get("/surveys")
@supervisors_only
def surveys():
    round_id = arg_id("round")
    results, answers = _survey_tables(round_id)
    return render_template("surveys.html", rounds=cp.rounds(db.session, area_of(db.session, me())), round_id=round_id,
                           results=results, answers=answers, headers=[_(h) for h in RESULT_HEADERS])


@bp.get("/surveys/export.xlsx")
@supervisors_only
def surveys_export():
    results, _answers = _survey_tables(arg_id("round"))
    rows = [[r["unit"]["name"], r["ratings"], r["mean"]] + [r[f"score_{i}"] for i in (5, 4, 3, 2, 1)] for r in results]
    return _xlsx(_("Contact point satisfaction per enforcement unit"), [_(h) for h in RESULT_HEADERS], rows,
                 "survey-results")
