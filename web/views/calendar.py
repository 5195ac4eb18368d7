"""The working-day calendar for administrators (工作日历): a year as twelve months of days, each a working day,
a day off or a make-up working day (调休上班), edited on the grid or by pasting the State Council's list of
dates; saving the year recomputes every provisional deadline of running cases (engine.provisional) and says
how many moved."""
from __future__ import annotations

import calendar as monthly
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.orm.exc import StaleDataError

from engine.calendar import (LOCAL_TZ, MAX_YEAR, MIN_YEAR, NOTICE_FORMAT_HELP, fixed_holidays, format_notice,
                             parse_notice, year_overrides)
from engine.errors import Conflict, InvalidInput
from engine.models import CalendarYear
from engine.provisional import enter_year, pending_count

from .. import services
from ..extensions import db
from .common import ERROR_MESSAGES, check_csrf, me, roles_of, signed_in

bp = Blueprint("calendar", __name__)
MAX_NOTICE_CHARS = 20_000


def _admin() -> None:
    if "admin" not in roles_of(me()):
        abort(403)


def _today() -> date:
    return services.clock().now().astimezone(LOCAL_TZ).date()


def first_missing_year(today: date) -> int | None:
    """The year an administrator should enter now: this year if missing, next year if missing (from
    1 December on), else None."""
    for year in (today.year,) + ((today.year + 1,) if today.month == 12 else ()):
        if db.session.get(CalendarYear, year) is None:
            return year
    return None


def _months(year: int, overrides: dict[date, tuple[bool, str | None]], provisional: bool) -> list[dict]:
    """Twelve months as weeks of day cells (Monday first); None pads the weeks."""
    fixed = fixed_holidays(year) if provisional else {}
    months = []
    for month in range(1, 13):
        weeks = []
        for week in monthly.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells = []
            for day in week:
                if day.month != month:
                    cells.append(None)
                    continue
                weekend = day.weekday() >= 5
                if day in overrides:
                    is_workday, name = overrides[day]
                elif day in fixed:
                    is_workday, name = False, fixed[day]
                else:
                    is_workday, name = not weekend, None
                kind = ("makeup" if weekend else "workday") if is_workday else ("weekend" if weekend and not name
                                                                                 else "holiday")
                cells.append({"day": day, "kind": kind, "name": name, "weekend": weekend,
                              "assumed": day in fixed and day not in overrides})
            weeks.append(cells)
        months.append({"number": month, "name": format_date(date(year, month, 1), "LLLL"), "weeks": weeks})
    return months


@bp.get("/admin/calendar")
@signed_in
def index():
    _admin()
    return redirect(url_for("calendar.year", year=first_missing_year(_today()) or _today().year))


@bp.get("/admin/calendar/<year:year>")
@signed_in
def year(year: int):
    _admin()
    if not MIN_YEAR <= year <= MAX_YEAR:
        abort(404)
    return _page(year)


def _page(year: int, text: str | None = None, errors: list[str] | None = None, status: int = 200):
    covered = db.session.get(CalendarYear, year)
    rows = year_overrides(db.session, year)
    overrides = {r.day: (r.is_workday, r.name) for r in rows}
    if text is None:
        if covered is not None:
            text = format_notice([{"day": r.day, "is_workday": r.is_workday, "name": r.name} for r in rows])
        else:                               # a start: the days every year has off, to complete from the notice
            text = format_notice([{"day": d, "is_workday": False, "name": n} for d, n in fixed_holidays(year).items()])
    months = _months(year, overrides, covered is None)
    working_days = sum(1 for m in months for w in m["weeks"] for c in w if c and c["kind"] in ("workday", "makeup"))
    return render_template("calendar.html", year=year, covered=covered, months=months, text=text,
                           errors=errors or [], format_help=_(NOTICE_FORMAT_HELP), pending=pending_count(db.session),
                           missing=first_missing_year(_today()), working_days=working_days,
                           weekday_names=[_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]), status


@bp.post("/admin/calendar/<year:year>")
@signed_in
def save(year: int):
    _admin()
    check_csrf()
    if not MIN_YEAR <= year <= MAX_YEAR:
        abort(404)
    text = request.form.get("days", "")
    if len(text) > MAX_NOTICE_CHARS:
        return _page(year, text[:MAX_NOTICE_CHARS], [_("The list is too long (at most %(n)s characters).",
                                                       n=MAX_NOTICE_CHARS)], 422)
    try:
        days = parse_notice(text, year)
        count, report = enter_year(db.session, services.clock(), year, days, actor=me().username)
        db.session.commit()
    except InvalidInput as exc:
        db.session.rollback()
        rendered = exc.render(_)
        return _page(year, text, [e["message"] for e in rendered["errors"]] or [rendered["message"]], 422)
    except (Conflict, StaleDataError):        # a case moved on at the same moment: nothing was saved
        db.session.rollback()
        return _page(year, text, [_(ERROR_MESSAGES[409])], 409)
    flash(_("The holidays of %(year)s are saved (%(days)s days off or make-up working days).", year=year,
            days=count), "success")
    if report.deadlines:
        flash(ngettext("%(num)s provisional deadline of running cases was recomputed: %(moved)s moved, "
                       "%(still)s still provisional.",
                       "%(num)s provisional deadlines of running cases were recomputed: %(moved)s moved, "
                       "%(still)s still provisional.", report.deadlines, moved=report.moved,
                       still=report.still_provisional), "success")
    else:
        flash(_("No running case had a provisional deadline to recompute."), "success")
    return redirect(url_for("calendar.year", year=year))

