"""The assessment ranking (考核): per tier and unit kind, each indicator's value and contribution, the cases
behind each number, a chart, closing a period (admins), and the Excel workbook for a third-party evaluator."""
from __future__ import annotations

import io
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from engine.analytics import assessment as A
from engine.calendar import LOCAL_TZ
from engine.dashboard import area_of
from engine.errors import EngineError, N_
from engine.models import OrgUnit

from .. import services
from ..export import XLSX_MIMETYPE, _clean
from ..extensions import db
from .common import check_csrf, me, roles_of
from .dashboard import supervisors_only

bp = Blueprint("assessment", __name__)
TIER_LABELS = {"city": N_("City level"), "county": N_("County level"), "township": N_("Township level")}
KIND_LABELS = {"enforcement_dept": N_("Enforcement departments"), "enforcement_team": N_("Enforcement teams"),
               "police": N_("Public security")}
KIND_TEXT = {"rate": N_("rate: 100 × numerator / denominator"),
             "inverse_rate": N_("inverse rate: 100 × (1 − numerator / denominator)"),
             "penalty": N_("deduction: 100 − points per item × count"),
             "average": N_("average on a scale, mapped to 0–100")}


def _config() -> A.Config:
    try:
        return A.load_config(current_app.config["ASSESSMENT_CONFIG"])
    except A.AssessmentConfigError as exc:
        abort(Response(render_template("error.html", code=503, message=exc.render(_)["message"]), status=503))


def _args(cfg):
    period = request.args.get("period") or A.current_period(services.clock().now())
    try:
        A.period_bounds(period)
    except EngineError:
        abort(404)
    tier = request.args.get("tier") or None
    kind = request.args.get("kind") or None
    if tier not in (None, *TIER_LABELS) or kind not in (None, *cfg.unit_kinds):
        abort(404)
    return period, tier, kind


def _ranking():
    cfg = _config()
    period, tier, kind = _args(cfg)
    return A.ranking(db.session, cfg, period, services.clock().now(), area_of(db.session, me()), tier, kind), tier, kind


def _periods(now) -> list[str]:
    local = now.astimezone(LOCAL_TZ)
    out = []
    for year in (local.year, local.year - 1):
        out += [f"{year}Q{q}" for q in (4, 3, 2, 1) if f"{year}Q{q}" <= A.current_period(now)] + [str(year)]
    return out


@bp.get("/assessment")
@supervisors_only
def index():
    result, tier, kind = _ranking()
    chart = {"labels": [r["name"] for r in result.rows], "scores": [r["score"] for r in result.rows],
             "indicators": [{"name": i.name, "values": [r["figures"].get(i.key, {}).get("contribution") or 0
                                                        for r in result.rows]} for i in result.config.indicators]}
    return render_template("assessment.html", r=result, tier=tier, kind=kind, chart=chart,
                           periods=_periods(services.clock().now()), tiers=TIER_LABELS, kinds=KIND_LABELS,
                           kind_text=KIND_TEXT, is_admin="admin" in roles_of(me()),
                           closed=[p.period for p in A.closed_periods(db.session)])


@bp.get("/assessment/detail")
@supervisors_only
def detail():
    cfg = _config()
    period, _tier, _kind = _args(cfg)
    unit = db.session.query(OrgUnit).filter_by(code=(request.args.get("unit") or "")[:64]).one_or_none()
    area = area_of(db.session, me())
    if unit is None or (area is not None and unit.id not in area):
        abort(404)
    key = request.args.get("indicator") or ""
    try:
        rows = A.drilldown(db.session, cfg, period, services.clock().now(), unit.id, key)
    except EngineError:
        abort(404)
    result = A.ranking(db.session, cfg, period, services.clock().now(), {unit.id})
    indicator = next((i for i in result.config.indicators if i.key == key), None)
    if indicator is None:
        abort(404)
    return render_template("assessment_detail.html", unit=unit, period=period, indicator=indicator, rows=rows,
                           figure=result.rows[0]["figures"].get(key) if result.rows else None)


@bp.post("/assessment/close")
@supervisors_only
def close():
    check_csrf()
    if "admin" not in roles_of(me()):
        abort(403)
    period = request.form.get("period") or ""
    try:
        A.close_period(db.session, _config(), period, services.clock().now(), me().username)
        db.session.commit()
        flash(_("The period %(period)s is closed; its ranking is frozen.", period=period), "success")
    except EngineError as exc:
        db.session.rollback()
        flash(exc.render(_)["message"], "error")
    return redirect(url_for("assessment.index", period=period))


@bp.get("/assessment/export.xlsx")
@supervisors_only
def export():
    result, _tier, _kind = _ranking()
    wb = Workbook()
    cover = wb.active
    cover.title = _("Method")[:31]
    bold = Font(bold=True)
    cover.append([_("Assessment of the enforcement units")])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append([_("Period"), result.period])
    cover.append([_("From"), result.start.astimezone(LOCAL_TZ).strftime("%Y-%m-%d")])
    cover.append([_("To (exclusive)"), result.end.astimezone(LOCAL_TZ).strftime("%Y-%m-%d")])
    cover.append([_("Status"), _("Closed, figures frozen at %(at)s", at=result.closed_at.astimezone(LOCAL_TZ)
                                 .strftime("%Y-%m-%d %H:%M")) if result.frozen else _("Open, computed live")])
    cover.append([_("Not applicable"), _(NA_TEXT[result.config.not_applicable])])
    cover.append([])
    cover.append([_("Indicator"), _("Method"), _("Parameters"), _("Weight")])
    for cell in cover[cover.max_row]:
        cell.font = bold
    for ind in result.config.indicators:
        cover.append([ind.name, _(KIND_TEXT[ind.kind]),
                      "; ".join(f"{k}={v}" for k, v in ind.params.items()), ind.weight])
    cover.column_dimensions["A"].width = 28
    cover.column_dimensions["B"].width = 48
    scores = wb.create_sheet(_("Scores")[:31])
    scores.append([_("Rank"), _("Tier"), _("Kind"), _("County"), _("Unit"), _("Score")]
                  + [f"{i.name}（{_('contribution')}）" for i in result.config.indicators])
    for cell in scores[1]:
        cell.font = bold
    for row in result.rows:
        scores.append([row["rank"], _(TIER_LABELS.get(row["tier"], row["tier"])),
                       _(KIND_LABELS.get(row["kind"], row["kind"])), row["county"], row["name"], row["score"]]
                      + [row["figures"].get(i.key, {}).get("contribution") for i in result.config.indicators])
    for index, ind in enumerate(result.config.indicators, start=1):
        sheet = wb.create_sheet(_clean(f"{index} {ind.name}")[:31].replace("/", " "))
        sheet.append([_("County"), _("Unit"), _("Numerator"), _("Denominator"), _("Applicable"), _("Value"),
                      _("Indicator score"), _("Effective weight"), _("Contribution")])
        for cell in sheet[1]:
            cell.font = bold
        for row in result.rows:
            f = row["figures"].get(ind.key, {})
            sheet.append([row["county"], row["name"], f.get("numerator"), f.get("denominator"),
                          _("Yes") if f.get("applicable") else _("No"), f.get("value"), f.get("score"),
                          f.get("weight"), f.get("contribution")])
    for ws in wb.worksheets:
        for r in ws.iter_rows():
            for cell in r:
                if isinstance(cell.value, str):
                    cell.value = _clean(cell.value)
                    cell.data_type = "s"
    out = io.BytesIO()
    wb.save(out)
    title = f"{_('Assessment')}-{result.period}.xlsx"
    response = Response(out.getvalue(), mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = (f"attachment; filename=assessment-{result.period}.xlsx; "
                                               f"filename*=UTF-8''{quote(title)}")
    return response


NA_TEXT = {"redistribute": N_("an indicator with nothing to count is left out and its weight shared by the "
                              "unit's other indicators"),
           "full": N_("an indicator with nothing to count scores 100"),
           "zero": N_("an indicator with nothing to count scores 0")}
