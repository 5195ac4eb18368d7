"""The supervisor dashboard (issue 5 §6): SLA counts per unit and per procedure, the overdue list, average
handling time with outliers (平均数测算), the pilot rounds per county, charts, and every list as Excel.

Each list is built once as a table (headers, rows of cell values, links, row classes); the page and the
Excel export both render that same table."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from functools import wraps
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from engine.calendar import LOCAL_TZ
from engine.dashboard import OUTLIER_FACTOR, OUTLIER_MIN_UNITS, STATES, SUPERVISOR_ROLES, Dashboard, Filters, area_of
from engine.errors import N_
from engine.models import ProcessInstance
from engine.registers.lists import list_keeping_units, list_types, publication_status

from .. import display, services
from ..export import XLSX_MIMETYPE, workbook_stream
from ..extensions import db
from ..edge import arg_day_start, arg_page
from .common import SLA_LABELS, local, me, roles_of, signed_in

bp = Blueprint("dashboard", __name__)

STATE_LABELS = {"open": N_("Open tasks"), **{s: SLA_LABELS[s] for s in STATES if s != "open"}}
TITLES = {"units": N_("Tasks per unit"), "procedures": N_("Tasks per procedure"),
          "overdue": N_("Overdue and escalated tasks"), "handling": N_("Average handling time"),
          "pilot": N_("Pilot reporting rounds per county"), "unassigned": N_("Tasks nobody can take, per unit"),
          "lists": N_("Public lists: last publication per unit")}
HEADERS = {
    "units": [N_("County"), N_("Unit")] + [STATE_LABELS[s] for s in STATES],
    "procedures": [N_("Procedure")] + [STATE_LABELS[s] for s in STATES],
    "overdue": [N_("Case number"), N_("Procedure"), N_("Step"), N_("Subject"), N_("Unit"), N_("Due"),
                N_("Days overdue"), N_("Status"), N_("Claimed by")],
    "handling": [N_("Procedure"), N_("Step"), N_("County"), N_("Unit"), N_("Completed tasks"), N_("Average hours"),
                 N_("Units doing this step"), N_("Mean of those units (hours)"), N_("Ratio to the mean"),
                 N_("Outlier")],
    "pilot": [N_("Round"), N_("County"), N_("Round status"), N_("Current steps"), N_("Overdue"),
              N_("Listed for public criticism")],
    "unassigned": [N_("County"), N_("Unit"), N_("Tasks to assign")],
    "lists": [N_("County"), N_("Unit")] + [t.name for t in list_types().values()] + [N_("Lists not updated in time")],
}
OVERDUE_PER_PAGE = HANDLING_PER_PAGE = 50
ROUND_STATUS = {"running": N_("In progress"), "completed": N_("Closed")}


def supervisors_only(view):
    """Supervision officers, administrators and invited supervisors (read-only: the page has no actions)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not roles_of(me()) & SUPERVISOR_ROLES:
            abort(403)
        return view(*args, **kwargs)
    return signed_in(wrapper)


@dataclass(frozen=True)
class ProvisionalTime:
    """A deadline counted over a year the holiday table lacks: the page marks it 暂定, Excel gets it as text."""
    provisional_at: datetime

    def export(self) -> str:
        return _("%(time)s (provisional)", time=self.provisional_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"))


@dataclass
class Table:
    name: str
    rows: list[list] = field(default_factory=list)       # cell values: str, int, float (1 decimal), datetime
    links: list[dict] = field(default_factory=list)      # per row: column index → URL
    classes: list[str] = field(default_factory=list)     # per row: CSS class
    total: int | None = None                             # a paged list: rows in all, this page, pages
    page: int = 1
    pages: int = 1

    @property
    def title(self) -> str:
        return _(TITLES[self.name])

    @property
    def headers(self) -> list[str]:
        return [_(h) for h in HEADERS[self.name]]

    def add(self, values: list, links: dict | None = None, css: str = "") -> None:
        self.rows.append(values)
        self.links.append(links or {})
        self.classes.append(css)

    def body_html(self) -> Markup:
        """The rows as ``<tr>`` elements, built here rather than by a template macro per cell (the city's page
        holds thousands of cells)."""
        provisional = escape(_("Provisional"))
        out = []
        for values, links, css in zip(self.rows, self.links, self.classes):
            out.append(f'<tr class="{escape(css)}">' if css else "<tr>")
            for i, value in enumerate(values):
                text = _cell_html(value, provisional)
                out.append(f'<td><a href="{escape(links[i])}">{text}</a></td>' if i in links else f"<td>{text}</td>")
            out.append("</tr>\n")
        return Markup("".join(out))


def _cell_html(value, provisional: str) -> str:
    """One cell as HTML: a number with one decimal, a time in Asia/Shanghai (暂定 when provisional), text escaped."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        return "%.1f" % value
    if isinstance(value, ProvisionalTime):
        return f'{local(value.provisional_at)}<span class="provisional">{provisional}</span>'
    if isinstance(value, datetime):
        return local(value)
    return str(escape(value))


def _one(value: float | None):
    return round(value, 1) if value is not None else None


def _filters() -> Filters:
    return Filters(process_key=request.args.get("process") or None, created_from=arg_day_start("from"),
                   created_to=arg_day_start("to", end=True))


def _dashboard() -> Dashboard:
    return Dashboard(db.session, services.clock().now(), area_of(db.session, me()), _filters())


def _units(d: Dashboard, rows: list[dict] | None = None) -> Table:
    table = Table("units")
    for r in rows if rows is not None else d.unit_counts():
        table.add([r["county"], r["unit"] or "—"] + [r[s] for s in STATES])
    return table


def _procedures(d: Dashboard, rows: list[dict] | None = None) -> Table:
    table = Table("procedures")
    for r in rows if rows is not None else d.procedure_counts():
        table.add([r["procedure"]] + [r[s] for s in STATES])
    return table


def _overdue_values(d: Dashboard, names: dict, labels: dict, r) -> list:
    """The cells of one row of the overdue list (a column tuple from Dashboard.overdue_rows)."""
    late = (d.now - r.due_at).total_seconds() / 86400 if r.due_at is not None else None
    return [r.business_key or display.case_name(db.session.get(ProcessInstance, r.instance_id)),
            names.get(r.process_key, r.process_key), r.name or r.element_id, r.subject or "", d.unit_name(r.unit_id),
            ProvisionalTime(r.due_at) if r.provisional and r.due_at else r.due_at,
            _one(max(late, 0.0)) if late is not None else None,
            labels["escalated" if r.sla_state == "escalated" else "overdue"], r.claimed_by or ""]


def _sla_labels() -> dict:
    return {state: _(SLA_LABELS[state]) for state in ("overdue", "escalated")}


def _overdue(d: Dashboard, page: int | None = None) -> Table:
    """The overdue list: one page of it (``page``, OVERDUE_PER_PAGE rows) for the page, every row for Excel."""
    table, names = Table("overdue"), d.procedure_names()
    if page is None:
        rows = d.overdue_rows(stream=True)
    else:
        table.total = d.overdue_count()
        table.pages = max((table.total + OVERDUE_PER_PAGE - 1) // OVERDUE_PER_PAGE, 1)
        table.page = page = min(page, table.pages)
        rows = d.overdue_rows(limit=OVERDUE_PER_PAGE, offset=(page - 1) * OVERDUE_PER_PAGE)
    labels = _sla_labels()
    for r in rows:
        state = "escalated" if r.sla_state == "escalated" else "overdue"
        table.add(_overdue_values(d, names, labels, r),
                  links={0: url_for("case.show", instance_id=r.instance_id), 2: url_for("task.show", task_id=r.id)},
                  css=f"sla-row-{state}")
    return table


def _handling(d: Dashboard, page: int | None = None) -> Table:
    """Average handling time per step and unit: one page (HANDLING_PER_PAGE rows) for the page, every row for
    Excel. The outliers are computed over all rows either way."""
    table = Table("handling")
    if page is None:
        rows = d.handling_times()
    else:
        table.total, rows = d.handling_page(offset=(page - 1) * HANDLING_PER_PAGE, limit=HANDLING_PER_PAGE)
        table.pages = max((table.total + HANDLING_PER_PAGE - 1) // HANDLING_PER_PAGE, 1)
        if page > table.pages:                   # past the end: the last page
            page = table.pages
            rows = d.handling_page(offset=(page - 1) * HANDLING_PER_PAGE, limit=HANDLING_PER_PAGE)[1]
        table.page = page
    far = _("Far above the average")
    for r in rows:
        table.add([r.procedure, r.step, r.county, r.unit or "—", r.tasks, _one(r.avg_hours), r.units_on_step,
                   _one(r.step_mean_hours), _one(r.ratio), far if r.flagged else ""],
                  css="flagged" if r.flagged else "")
    return table


def _pilot(d: Dashboard) -> Table:
    table = Table("pilot")
    for r in d.pilot_status():
        stage = "、".join(r.stages) if r.stages else (_("All steps done") if r.instance_status == "completed"
                                                      else _("No open step"))
        table.add([display.case_name(db.session.get(ProcessInstance, r.instance_id)) or r.round, r.county, _(ROUND_STATUS.get(r.instance_status, r.instance_status)), stage, r.overdue,
                   r.circulars], links={0: url_for("case.show", instance_id=r.instance_id)},
                  css="flagged" if r.overdue or r.circulars else "")
    return table


def _unassigned(d: Dashboard, rows: list[dict] | None = None) -> Table:
    table = Table("unassigned")
    for r in rows if rows is not None else d.unassigned_counts():
        table.add([r["county"], r["unit"] or "—", r["unassigned"]], css="flagged")
    return table


def _lists(d: Dashboard) -> Table:
    """Per unit that keeps the six public lists: each list's last publication date; a list never published or
    not published within LIST_STALE_MONTHS months is flagged."""
    from flask import current_app
    table = Table("lists")
    units = list_keeping_units(db.session, d.area)
    status = publication_status(db.session, [u.id for u in units], d.now.astimezone(LOCAL_TZ).date(),
                                current_app.config["LIST_STALE_MONTHS"])
    for unit in units:
        cells = status[unit.id]
        stale = sum(1 for c in cells.values() if c["stale"])
        table.add([d.county_name(unit.id), unit.name]
                  + [c["last"].isoformat() if c["last"] else _("Never published") for c in cells.values()] + [stale],
                  css="flagged" if stale else "")
    return table


BUILDERS = {"units": _units, "procedures": _procedures, "overdue": _overdue, "handling": _handling, "pilot": _pilot,
            "unassigned": _unassigned, "lists": _lists}


def handling_window(d: Dashboard) -> tuple[Dashboard, datetime | None]:
    """Handling times look at history: without a date filter they cover the tasks offered this year (local
    time), so the page never aggregates every year there is. Returns the dashboard for them and the start of
    that default window (None when the user's own filters apply)."""
    if d.filters.created_from is not None or d.filters.created_to is not None:
        return d, None
    start = datetime(d.now.astimezone(LOCAL_TZ).year, 1, 1, tzinfo=LOCAL_TZ)
    window = Dashboard(d.session, d.now, d.area, replace(d.filters, created_from=start))
    window._units, window._names, window._counties = d._units, d._names, d._counties
    return window, start


@bp.get("/dashboard")
@supervisors_only
def index():
    d = _dashboard()
    unit_rows, procedure_rows = d.unit_counts(), d.procedure_counts()
    unassigned_rows = d.unassigned_counts()
    history, window_from = handling_window(d)
    tables = [_units(d, unit_rows), _procedures(d, procedure_rows), _overdue(d, arg_page("overdue_page")),
              _handling(history, arg_page("handling_page")), _pilot(d), _unassigned(d, unassigned_rows), _lists(d)]
    labels = {s: _(STATE_LABELS[s]) for s in STATES}
    charts = {"labels": labels,
              "units": {"labels": [r["unit"] or "—" for r in unit_rows], **{s: [r[s] for r in unit_rows] for s in STATES}},
              "procedures": {"labels": [r["procedure"] for r in procedure_rows],
                             **{s: [r[s] for r in procedure_rows] for s in STATES}}}
    return render_template("dashboard.html", tables=tables, totals=Dashboard.totals(unit_rows), labels=labels,
                           states=STATES, charts=charts, processes={p.key: p.name or p.key for p in services.procedures()}, args=request.args,
                           unassigned_total=sum(r["unassigned"] for r in unassigned_rows),
                           factor=OUTLIER_FACTOR, min_units=OUTLIER_MIN_UNITS,
                           window_from=window_from.date() if window_from else None,
                           stale_months=current_app.config["LIST_STALE_MONTHS"])


def _excel_value(v):
    if isinstance(v, datetime):
        return v.astimezone(LOCAL_TZ).replace(tzinfo=None)
    if isinstance(v, ProvisionalTime):
        return v.export()
    return v


@bp.get("/dashboard/export/<name>.xlsx")
@supervisors_only
def export(name: str):
    """Every row of a list as Excel, written as the rows are read (openpyxl write-only), then streamed."""
    if name not in BUILDERS:
        abort(404)
    d = _dashboard()
    table = Table(name)
    if name == "overdue":                           # the long one: straight from the cursor, no links
        names, labels = d.procedure_names(), _sla_labels()
        rows = (_overdue_values(d, names, labels, r) for r in d.overdue_rows(stream=True))
    else:
        rows = BUILDERS[name](handling_window(d)[0] if name == "handling" else d).rows
    body = workbook_stream(table.title, table.headers, ([_excel_value(v) for v in row] for row in rows))
    response = Response(body, mimetype=XLSX_MIMETYPE)
    day = f"{d.now.astimezone(LOCAL_TZ):%Y-%m-%d}"
    response.headers["Content-Disposition"] = (f"attachment; filename={name}-{day}.xlsx; "
                                               f"filename*=UTF-8''{quote(f'{table.title}-{day}.xlsx')}")
    return response
