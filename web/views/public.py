"""The public page of the six lists (任务4), without sign-in: every unit's lists in force, by tier and unit, with
search, the effective date, the history of published versions (any two compared) and downloads.

Only published versions are shown — never a draft, a version waiting for approval, or who edited or approved
it — and the lists hold only their declared columns (the personnel list: name, unit, 执法证号, enforcement
area)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select

from engine.calendar import LOCAL_TZ
from engine.errors import EngineError
from engine.models import OrgUnit
from engine.org import GOVERNMENT
from engine.registers import lists as L
from engine.registers.lists_models import ListVersion

from .. import services
from ..extensions import db
from .lists import MAX_VERSION, download, xlsx

bp = Blueprint("public", __name__)
MAX_QUERY = 100
MAX_HITS = 200
TIERS = ("city", "county", "township")


def _today() -> date:
    return services.clock().now().astimezone(LOCAL_TZ).date()


def _query() -> str:
    return (request.args.get("q") or "").strip()[:MAX_QUERY]


def _in_force(today: date) -> dict[int, dict[str, ListVersion]]:
    """Per unit, per list: the version in force today (units with none are left out)."""
    out: dict[int, dict[str, ListVersion]] = {}
    rows = db.session.scalars(select(ListVersion).where(
        ListVersion.status == "published", ListVersion.effective_on <= today).order_by(ListVersion.version_no))
    for v in rows:                          # later versions replace earlier ones
        out.setdefault(v.unit_id, {})[v.list_type] = v
    return out


def _county(unit: OrgUnit, units: dict[int, OrgUnit]) -> OrgUnit | None:
    while unit is not None:
        if unit.kind == GOVERNMENT and unit.tier in ("county", "city"):
            return unit
        unit = units.get(unit.parent_id)
    return None


def _matches(row: dict, q: str) -> bool:
    return any(q.lower() in str(value).lower() for value in row.values())


@bp.get("/public/lists")
def index():
    today, q = _today(), _query()
    in_force = _in_force(today)
    units = {u.id: u for u in db.session.scalars(select(OrgUnit))}
    tiers: dict[str, dict[str, list]] = {t: {} for t in TIERS}
    for unit_id in in_force:
        unit = units[unit_id]
        county = _county(unit, units)
        tiers.setdefault(unit.tier, {}).setdefault(county.name if county else "", []).append(unit)
    for groups in tiers.values():
        for members in groups.values():
            members.sort(key=lambda u: u.code)
    hits = []
    if q:
        types = L.list_types()
        for unit_id, lists in in_force.items():
            for key, v in lists.items():
                for row in v.rows:
                    if _matches(row, q) and len(hits) < MAX_HITS:
                        hits.append({"unit": units[unit_id], "t": types[key], "row": row})
        hits.sort(key=lambda h: (h["unit"].code, h["t"].order))
    return render_template("public/index.html", tiers=tiers, q=q, hits=hits, max_hits=MAX_HITS,
                           types=L.list_types())


def _unit(code: str) -> OrgUnit:
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == code)) if len(code) <= 64 else None
    if unit is None:
        abort(404)
    return unit


def _type(key: str) -> L.ListType:
    if key not in L.list_types():
        abort(404)
    return L.list_type(key)


def _published(unit: OrgUnit, key: str, no: int) -> ListVersion:
    if not 1 <= no <= MAX_VERSION:
        abort(404)
    try:
        return L.version(db.session, unit.id, key, no, published_only=True)
    except EngineError:
        abort(404)


@bp.get("/public/lists/<code>")
def unit_lists(code: str):
    unit, today = _unit(code), _today()
    rows = [{"type": t, "current": L.current(db.session, unit.id, key, today)} for key, t in L.list_types().items()]
    if not any(r["current"] for r in rows):
        abort(404)
    return render_template("public/unit.html", unit=unit, rows=rows)


@bp.get("/public/lists/<code>/<key>")
def current_list(code: str, key: str):
    unit, t, q = _unit(code), _type(key), _query()
    v = L.current(db.session, unit.id, key, _today())
    history = [h for h in L.versions(db.session, unit.id, key, published_only=True)]
    if v is None and not history:
        abort(404)
    rows = [r for r in (v.rows if v else []) if not q or _matches(r, q)]
    return render_template("public/list.html", unit=unit, t=t, v=v, rows=rows, q=q, history=history)


@bp.get("/public/lists/<code>/<key>/v<id:no>")
def published_version(code: str, key: str, no: int):
    unit, t = _unit(code), _type(key)
    return render_template("lists/version.html", t=t, v=_published(unit, key, no), unit=unit, public=True)


@bp.get("/public/lists/<code>/<key>/diff")
def published_diff(code: str, key: str):
    unit, t = _unit(code), _type(key)
    a, b = request.args.get("a", type=int) or 0, request.args.get("b", type=int) or 0
    old, new = _published(unit, key, min(a, b)), _published(unit, key, max(a, b))
    return render_template("lists/diff.html", t=t, old=old, new=new, d=L.diff(t, old.rows, new.rows), unit=unit,
                           public=True)


@bp.get("/public/lists/<code>/<key>/v<id:no>.<fmt>")
def published_download(code: str, key: str, no: int, fmt: str):
    unit, t = _unit(code), _type(key)
    v = _published(unit, key, no)
    name = f"{unit.name}{t.name}（第{v.version_no}版）"
    if fmt == "xlsx":
        from ..export import XLSX_MIMETYPE
        return download(xlsx(t, v.rows), XLSX_MIMETYPE, f"{key}-v{no}.xlsx", f"{name}.xlsx")
    if fmt == "csv":
        return download(L.to_csv(t, v.rows), "text/csv; charset=utf-8", f"{key}-v{no}.csv", f"{name}.csv")
    abort(404)
