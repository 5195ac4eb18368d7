"""The personnel register (执法人员) pages: the people of the units an administrator or supervision officer
manages, each person's 执法证 / 法律职业资格 / training records, Excel import (all or nothing) and export;
the reviewers' qualification shortfall per unit for the supervision dashboard (with Excel); my own training
hours and status on the profile page."""
from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.calendar import LOCAL_TZ
from engine.dashboard import SUPERVISOR_ROLES, area_of
from engine.errors import N_, EngineError
from engine.models import OrgUnit
from engine.registers import personnel as reg

from .. import services
from ..export import XLSX_MIMETYPE, workbook_bytes
from ..extensions import db
from .common import check_csrf, me, roles_of, signed_in

bp = Blueprint("personnel", __name__)
MAX_UPLOAD = 5 * 1024 * 1024
FIELD_LABELS = {"cert_no": N_("执法证号"), "cert_valid_from": N_("执法证 valid from"),
                "cert_valid_until": N_("执法证 valid until"), "area": N_("Enforcement area"),
                "legal_cert_no": N_("法律职业资格 certificate number"), "legal_cert_date": N_("法律职业资格 obtained on"),
                "reviewer_since": N_("Legal reviewer since"), "day": N_("Date"), "course": N_("Course"),
                "hours": N_("Hours"), "organiser": N_("Organiser")}
SHORTFALL_HEADERS = [N_("Unit"), N_("Legal reviewers"), N_("Qualified"), N_("Without 法律职业资格"),
                     N_("Training hours missing"), N_("Not qualified")]


def _today() -> date:
    return services.clock().now().astimezone(LOCAL_TZ).date()


def _editor():
    user = me()
    if not roles_of(user) & reg.EDITOR_ROLES:
        abort(403)
    return user


def _area(user):
    return reg.edit_area(services.directory(), user)


def _xlsx(content: bytes, name: str, title: str) -> Response:
    response = Response(content, mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = (f"attachment; filename={name}.xlsx; "
                                               f"filename*=UTF-8''{quote(title + '.xlsx')}")
    return response


def _units(area) -> list[OrgUnit]:
    from sqlalchemy import select
    stmt = select(OrgUnit).order_by(OrgUnit.code)
    if area is not None:
        stmt = stmt.where(OrgUnit.id.in_(area)) if area else stmt.where(OrgUnit.id == -1)
    return list(db.session.scalars(stmt))


def _list_page(import_errors=None, status=200):
    user = _editor()
    area = _area(user)
    unit_id = request.args.get("unit", type=int)
    if unit_id is not None and area is not None and unit_id not in area:
        abort(404)
    persons = reg.people(db.session, area, unit_id)
    today = _today()
    rule = services.reviewer_rule()
    records = reg.records_of(db.session, [p.id for p in persons])
    st = reg.statuses(db.session, [p.id for p in persons], today, rule)
    rows = []
    for p in persons:
        roles = {ra.role_code for ra in p.roles}
        rec = records.get(p.id)
        rows.append({"person": p, "rec": rec, "status": st[p.id], "reviewer": reg.REVIEWER_ROLE in roles,
                     "valid": reg.enforcement_valid(db.session, p.id, today) if rec else False})
    return render_template("personnel/list.html", rows=rows, units=_units(area), unit_id=unit_id, today=today,
                           import_errors=import_errors, min_hours=rule.min_hours), status


@bp.get("/personnel")
@signed_in
def index():
    return _list_page()


@bp.get("/personnel/template.xlsx")
@signed_in
def template():
    _editor()
    return _xlsx(reg.template_xlsx(), "personnel-template", _("Personnel import template"))


@bp.get("/personnel/export.xlsx")
@signed_in
def export():
    user = _editor()
    persons = reg.people(db.session, _area(user), request.args.get("unit", type=int))
    return _xlsx(reg.export_xlsx(db.session, persons), f"personnel-{_today():%Y-%m-%d}",
                 f"{_('Enforcement personnel')}-{_today():%Y-%m-%d}")


def render_import_errors(result) -> list[str]:
    return [_("Sheet %(sheet)s, row %(row)s: %(reason)s", sheet=e["sheet"], row=e["row"],
              reason=_(e["msgid"], **{k: (_(v) if k == "reason" else v) for k, v in e["params"].items()}))
            for e in result.errors]


@bp.post("/personnel/import")
@signed_in
def import_():
    user = _editor()
    check_csrf()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _list_page([_("Choose an Excel file (.xlsx) to import.")], 422)
    content = upload.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        return _list_page([_("The file is too large (at most 5 MB).")], 422)
    try:
        result = reg.import_xlsx(db.session, services.directory(), user, content, services.clock().now())
    except EngineError as exc:
        db.session.rollback()
        return _list_page([exc.render(_)["message"]], 422)
    if result.errors:
        db.session.rollback()
        return _list_page([_("Nothing was imported: the file has %(count)s error(s). Correct them and import "
                             "the whole file again.", count=len(result.errors))] + render_import_errors(result), 422)
    db.session.commit()
    flash(_("Imported: %(people)s person record(s), %(training)s training record(s).", people=result.people,
            training=result.training), "success")
    return redirect(url_for("personnel.index"))


def _person_page(person, errors=None, form=None, training_errors=None, training_form=None, status=200):
    today = _today()
    rule = services.reviewer_rule()
    return render_template("personnel/person.html", person=person, rec=reg.record_of(db.session, person.id),
                           training=reg.training_of(db.session, person.id),
                           status=reg.status_of(db.session, person, today, rule),
                           reviewer=any(ra.role_code == reg.REVIEWER_ROLE for ra in person.roles),
                           valid=reg.enforcement_valid(db.session, person.id, today), today=today,
                           errors=errors or {}, form=form, training_errors=training_errors or {},
                           training_form=training_form or {}, labels=FIELD_LABELS, min_hours=rule.min_hours), status


def _person(user_id: int):
    try:
        return reg.person_for(db.session, services.directory(), _editor(), user_id)
    except EngineError:
        abort(404)


@bp.get("/personnel/<id:user_id>")
@signed_in
def person(user_id: int):
    return _person_page(_person(user_id))


@bp.post("/personnel/<id:user_id>")
@signed_in
def save(user_id: int):
    p = _person(user_id)
    check_csrf()
    form = {name: request.form.get(name, "") for name in reg.RECORD_FIELDS}
    clean, errors = reg.clean_record(form)
    if errors:
        return _person_page(p, errors=errors, form=form, status=422)
    reg.save_record(db.session, p, clean, me().username, services.clock().now())
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("personnel.person", user_id=p.id))


@bp.post("/personnel/<id:user_id>/training")
@signed_in
def add_training(user_id: int):
    p = _person(user_id)
    check_csrf()
    form = {name: request.form.get(name, "") for name in ("day", "course", "hours", "organiser")}
    clean, errors = reg.clean_training(form)
    if errors:
        return _person_page(p, training_errors=errors, training_form=form, status=422)
    reg.add_training(db.session, p, clean)
    db.session.commit()
    flash(_("Training record saved."), "success")
    return redirect(url_for("personnel.person", user_id=p.id))


@bp.post("/personnel/<id:user_id>/training/<id:training_id>/delete")
@signed_in
def delete_training(user_id: int, training_id: int):
    p = _person(user_id)
    check_csrf()
    try:
        reg.delete_training(db.session, p, training_id)
    except EngineError:
        abort(404)
    db.session.commit()
    flash(_("Training record deleted."), "success")
    return redirect(url_for("personnel.person", user_id=p.id))


# -- the supervision dashboard: the reviewers' shortfall per unit ------------------------------------------

def _supervisor():
    user = me()
    if not roles_of(user) & SUPERVISOR_ROLES:
        abort(403)
    return user


def _shortfall_rows():
    return reg.shortfall(db.session, area_of(db.session, _supervisor()), _today(), services.reviewer_rule())


def _unqualified_text(r) -> str:
    return "；".join(f"{u['name']}（" + (_("%(hours)s h", hours=u["hours"]) if u["certificate"]
                                         else _("%(hours)s h, no 法律职业资格", hours=u["hours"])) + "）"
                    for u in r["unqualified"])


@bp.get("/dashboard/reviewers")
@signed_in
def shortfall():
    rows = _shortfall_rows()
    return render_template("personnel/shortfall.html", rows=rows, unqualified_text=_unqualified_text,
                           min_hours=services.reviewer_rule().min_hours, today=_today())


@bp.get("/dashboard/reviewers.xlsx")
@signed_in
def shortfall_export():
    rows = _shortfall_rows()
    title = _("Legal reviewers' qualification per unit")
    content = workbook_bytes(title, [_(h) for h in SHORTFALL_HEADERS],
                             [[r["unit_name"], r["reviewers"], r["qualified"], r["without_certificate"],
                               r["hours_missing"], _unqualified_text(r)] for r in rows])
    return _xlsx(content, f"reviewers-{_today():%Y-%m-%d}", f"{title}-{_today():%Y-%m-%d}")


@bp.app_template_global()
def my_personnel_status() -> dict | None:
    """For the profile page: my 执法证 and — for a legal reviewer — this year's hours and qualification."""
    user = me()
    today = _today()
    rule = services.reviewer_rule()
    rec = reg.record_of(db.session, user.id)
    reviewer = any(ra.role_code == reg.REVIEWER_ROLE for ra in user.roles)
    if rec is None and not reviewer:
        return None
    return {"rec": rec, "reviewer": reviewer, "status": reg.status_of(db.session, user, today, rule),
            "valid": reg.enforcement_valid(db.session, user.id, today), "min_hours": rule.min_hours,
            "year": today.year, "training": [t for t in reg.training_of(db.session, user.id) if t.day.year == today.year]}


@bp.app_template_global()
def role_label(code: str) -> str:
    """A role's name (承办人 …) for a page, never its code."""
    from flask import g
    from sqlalchemy import select
    from engine.models import Role
    if "role_labels" not in g:
        g.role_labels = {r.code: r.name for r in db.session.scalars(select(Role))}
    return g.role_labels.get(code, code)


@bp.app_template_global()
def reviewer_shortfall() -> dict:
    """For the supervision dashboard: the units of the viewer's area whose reviewers fall short."""
    rows = _shortfall_rows()
    return {"rows": rows, "flagged": [r for r in rows if r["qualified"] < r["reviewers"]],
            "min_hours": services.reviewer_rule().min_hours}


@bp.app_template_global()
def qualification_refusal(task) -> str | None:
    """On a task page: why the signed-in holder of the task's role may not take or do it (an unqualified
    legal reviewer, a case handler without a valid 执法证), or None."""
    from engine.org import user_holds
    user = me()
    if task.role_code not in (reg.REVIEWER_ROLE, reg.HANDLER_ROLE) or not user_holds(user, task.role_code, task.unit_id):
        return None
    try:
        if task.role_code == reg.REVIEWER_ROLE:
            reg.check_reviewer(db.session, user, _today(), services.reviewer_rule())
        else:
            reg.check_enforcement(db.session, user, _today())
    except EngineError as exc:
        return exc.render(_)["message"]
    return None
