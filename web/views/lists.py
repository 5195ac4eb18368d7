"""The unit's six public lists (任务4) for its staff: versions, the draft edited on a grid or imported from
Excel (template download; all or nothing, every bad row named), submission to the agency head (the
``list_publication`` procedure), any version readable and any two compared. Publishing happens in the
procedure; the public sees published versions only (web/views/public.py)."""
from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.calendar import LOCAL_TZ
from engine.errors import EngineError
from engine.registers import lists as L
from engine.registers.lists_models import ListVersion

from .. import services
from ..export import XLSX_MIMETYPE, workbook_bytes
from ..extensions import db
from .common import check_csrf, me, roles_of, signed_in

bp = Blueprint("lists", __name__)
EDITORS = frozenset({"legal_reviewer", "supervision_officer", "admin"})   # = platformStartRoles of list_publication.bpmn
MAX_VERSION = 2 ** 31 - 1
BLANK_ROWS = 3
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _today() -> date:
    return services.clock().now().astimezone(LOCAL_TZ).date()


def _editor() -> bool:
    return bool(roles_of(me()) & EDITORS)


def _type(key: str) -> L.ListType:
    if key not in L.list_types():
        abort(404)
    return L.list_type(key)


def _version(key: str, no: int) -> ListVersion:
    if not 1 <= no <= MAX_VERSION:
        abort(404)
    try:
        return L.version(db.session, me().unit_id, key, no)
    except EngineError:
        abort(404)


def messages(exc: EngineError) -> list[str]:
    """The error and, for a refused list, one line per bad row and column."""
    body = exc.render(_)
    return [body["message"]] + [_("Row %(row)s, %(column)s: %(message)s", row=e["row"], column=e["column"],
                                  message=e["message"]) if e.get("row") else e["message"] for e in body["errors"]]


def _en() -> bool:
    from flask_babel import get_locale
    return str(get_locale()) == "en"


def xlsx(t: L.ListType, rows: list[dict]) -> bytes:
    """The list's columns as the header row (the import template reads them back), ``rows`` under them."""
    en = _en()
    return workbook_bytes(t.name_en if en and t.name_en else t.name, L.headers(t, en),
                          [[row.get(c.key, "") for c in t.columns] for row in rows])


def download(content: bytes, mimetype: str, ascii_name: str, name: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename={ascii_name}; filename*=UTF-8''{quote(name)}"
    return response


@bp.get("/lists")
@signed_in
def index():
    unit, today = me().unit, _today()
    status = L.publication_status(db.session, [unit.id], today)[unit.id]
    rows = [{"type": t, "current": L.current(db.session, unit.id, key, today),
             "open": L.open_version(db.session, unit.id, key), "status": status[key]}
            for key, t in L.list_types().items()]
    return render_template("lists/index.html", unit=unit, rows=rows, editor=_editor())


@bp.get("/lists/<key>")
@signed_in
def show(key: str):
    t = _type(key)
    unit = me().unit
    return render_template("lists/versions.html", t=t, unit=unit, versions=L.versions(db.session, unit.id, key),
                           current=L.current(db.session, unit.id, key, _today()),
                           draft=L.open_version(db.session, unit.id, key), editor=_editor(), today=_today())


@bp.post("/lists/<key>/draft")
@signed_in
def start_draft(key: str):
    check_csrf()
    _type(key)
    if not _editor():
        abort(403)
    draft = L.start_draft(db.session, me().unit, key, me().username, services.clock().now())
    db.session.commit()
    return redirect(url_for("lists.edit", key=key) if draft.status == "draft" else url_for("lists.show", key=key))


def _draft(key: str) -> ListVersion:
    draft = L.open_version(db.session, me().unit_id, key)
    if draft is None:
        abort(404)
    return draft


def _grid(t: L.ListType) -> list[dict]:
    """The rows posted by the edit grid: cells named ``c-<row>-<column>``."""
    count = min(request.form.get("row_count", type=int) or 0, L.MAX_ROWS + BLANK_ROWS)
    return [{c.key: request.form.get(f"c-{i}-{c.key}", "") for c in t.columns} for i in range(count)]


@bp.route("/lists/<key>/draft/edit", methods=["GET", "POST"])
@signed_in
def edit(key: str):
    t = _type(key)
    if not _editor():
        abort(403)
    draft = _draft(key)
    errors, rows = [], draft.rows
    if request.method == "POST":
        check_csrf()
        rows = _grid(t)
        try:
            L.save_rows(db.session, draft, rows, me().username, services.clock().now())
            db.session.commit()
            flash(_("The draft was saved: %(count)s rows.", count=len(draft.rows)), "success")
            return redirect(url_for("lists.show", key=key))
        except EngineError as exc:
            db.session.rollback()
            errors = messages(exc)
            draft = _draft(key)
    status = 422 if errors else 200
    return render_template("lists/edit.html", t=t, draft=draft, rows=list(rows) + [{}] * BLANK_ROWS,
                           errors=errors), status


@bp.post("/lists/<key>/draft/import")
@signed_in
def import_xlsx(key: str):
    check_csrf()
    t = _type(key)
    if not _editor():
        abort(403)
    draft = _draft(key)
    upload = request.files.get("file")
    errors = []
    if not upload or not upload.filename:
        errors = [_("Choose an Excel file to import.")]
    else:
        content = upload.read(MAX_IMPORT_BYTES + 1)
        try:
            if len(content) > MAX_IMPORT_BYTES:
                raise L.InvalidInput(L.N_("The file is too large."))
            rows = L.read_xlsx(t, content)
            L.save_rows(db.session, draft, rows, me().username, services.clock().now(), first_row=2, how="excel")
            db.session.commit()
            flash(_("Imported %(count)s rows into the draft.", count=len(rows)), "success")
            return redirect(url_for("lists.show", key=key))
        except EngineError as exc:
            db.session.rollback()
            errors = messages(exc)
    return render_template("lists/import_errors.html", t=t, errors=errors), 422


@bp.post("/lists/<key>/draft/refresh")
@signed_in
def refresh(key: str):
    check_csrf()
    t = _type(key)
    if not _editor() or not t.generated:
        abort(403)
    try:
        L.refresh_generated(db.session, _draft(key), me().username, services.clock().now())
        db.session.commit()
    except EngineError as exc:
        db.session.rollback()
        flash(messages(exc)[0], "error")
    return redirect(url_for("lists.show", key=key))


@bp.post("/lists/<key>/draft/submit")
@signed_in
def submit(key: str):
    check_csrf()
    _type(key)
    if not _editor():
        abort(403)
    draft = _draft(key)
    try:
        effective = date.fromisoformat(request.form.get("effective_on", ""))
    except ValueError:
        flash(_("Enter the effective date as YYYY-MM-DD."), "error")
        return redirect(url_for("lists.show", key=key))
    try:
        L.submit(db.session, services.runtime(), draft, me().username, effective, _today())
        db.session.commit()
        flash(_("The list was sent to the agency head for approval."), "success")
    except EngineError as exc:
        db.session.rollback()
        flash(messages(exc)[0], "error")
    return redirect(url_for("lists.show", key=key))


@bp.get("/lists/<key>/template.xlsx")
@signed_in
def template(key: str):
    t = _type(key)
    return download(xlsx(t, []), XLSX_MIMETYPE, f"{key}-template.xlsx", f"{t.name}（导入模板）.xlsx")


@bp.get("/lists/<key>/v<id:no>")
@signed_in
def version(key: str, no: int):
    t = _type(key)
    v = _version(key, no)
    return render_template("lists/version.html", t=t, v=v, unit=me().unit, public=False)


@bp.get("/lists/<key>/diff")
@signed_in
def diff(key: str):
    t = _type(key)
    a, b = request.args.get("a", type=int) or 0, request.args.get("b", type=int) or 0
    old, new = _version(key, min(a, b)), _version(key, max(a, b))
    return render_template("lists/diff.html", t=t, old=old, new=new, d=L.diff(t, old.rows, new.rows),
                           unit=me().unit, public=False)
