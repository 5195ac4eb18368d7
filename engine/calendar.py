"""Working-day arithmetic over the holiday table (DOMAIN §6).

Working days are Monday-Friday, minus the State Council's public holidays, plus its make-up working days
(调休). The table is seeded from ``chinesecalendar`` and editable. The start day is not counted.

A year the table does not cover (the State Council publishes next year's schedule late in the year, while
December's work already needs January's deadlines) is counted *provisionally*: Monday-Friday minus the
statutory holidays whose Gregorian dates are fixed by law (:func:`fixed_holidays`). Whatever is computed
over such a year says so (:meth:`WorkCalendar.is_provisional`), so that it is shown as 暂定 and recomputed
when an administrator enters the year (engine.provisional). Years outside MIN_YEAR..MAX_YEAR are refused."""
from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from .errors import N_, CalendarError, InvalidInput, problem
from .models import CalendarYear, Holiday, reading_reference

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MIN_YEAR, MAX_YEAR = 1900, 2200          # the years anyone may enter or ask about


def check_year(year: int) -> int:
    """A year the calendar may be asked about or given; others are refused with a message (422)."""
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise CalendarError(N_("The year must be between %(min)s and %(max)s"), min=MIN_YEAR, max=MAX_YEAR)
    return year


def local_date(value: date | datetime | str) -> date:
    """The Asia/Shanghai calendar day of a date, an aware datetime or an ISO string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CalendarError(N_("A time without time zone cannot be placed on the calendar: %(value)s"),
                                value=value.isoformat())
        return value.astimezone(LOCAL_TZ).date()
    return value


def fixed_holidays(year: int) -> dict[date, str]:
    """The public holidays of ``year`` whose dates are fixed by law (全国年节及纪念日放假办法), which a year
    without the State Council's notice is known to have: 元旦 1 January, 劳动节 1 May (and 2 May from 2025,
    国务院令第795号), 国庆节 1-3 October. The lunar holidays (春节, 端午, 中秋) and 清明 (a solar term), the
    extra days the notice joins to them and its make-up working days (调休) are unknown until the notice is
    entered; a deadline counted without them is provisional."""
    days = {date(year, 1, 1): "元旦", date(year, 5, 1): "劳动节", date(year, 10, 1): "国庆节",
            date(year, 10, 2): "国庆节", date(year, 10, 3): "国庆节"}
    if year >= 2025:
        days[date(year, 5, 2)] = "劳动节"
    return dict(sorted(days.items()))


@lru_cache(maxsize=1)
def _year_statement():
    """Whether the table covers :year, and its days (:first … :last); built once (every page with deadlines
    reads it)."""
    return (select(CalendarYear.year, Holiday.day, Holiday.is_workday).select_from(CalendarYear)
            .outerjoin(Holiday, and_(Holiday.day >= bindparam("first"), Holiday.day <= bindparam("last")))
            .where(CalendarYear.year == bindparam("year")))


class WorkCalendar:
    """Reads the holiday table once per year asked for; create one per unit of work."""

    def __init__(self, session: Session):
        self.session = session
        self._years: dict[int, dict[date, bool]] = {}
        self._counts: dict[int, list[int]] = {}
        self._provisional: set[int] = set()

    def _year(self, year: int) -> dict[date, bool]:
        if year not in self._years:
            check_year(year)
            # whether the table covers the year, and its days, in one statement: no row when it does not
            with reading_reference(self.session, CalendarYear, Holiday):
                rows = self.session.execute(_year_statement(), {"year": year, "first": date(year, 1, 1),
                                                                "last": date(year, 12, 31)}).all()
            if not rows:
                self._provisional.add(year)
                self._years[year] = {d: False for d in fixed_holidays(year)}
            else:
                self._years[year] = {d: w for _y, d, w in rows if d is not None}
        return self._years[year]

    @property
    def touched_provisional(self) -> bool:
        """True once anything asked this calendar about a year the table lacks."""
        return bool(self._provisional)

    def is_covered(self, year: int) -> bool:
        """True when the holiday table holds ``year`` (its working days are final)."""
        self._year(year)
        return year not in self._provisional

    def is_provisional(self, a: date | datetime | str, b: date | datetime | str | None = None) -> bool:
        """True when a count from ``a`` to ``b`` (or the day ``a``) touches a year the table lacks."""
        start = local_date(a)
        end = local_date(b) if b is not None else start
        low, high = min(start, end), max(start, end)
        return any(not self.is_covered(y) for y in range(low.year, high.year + 1))

    def is_workday(self, day: date) -> bool:
        override = self._year(day.year).get(day)
        return override if override is not None else day.weekday() < 5

    def add_working_days(self, start: date | datetime | str, n: int) -> date:
        """The day on which a limit of ``n`` working days starting on ``start`` ends."""
        day = local_date(start)
        self._year(day.year)                 # a year out of bounds is refused before stepping off its end
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        while remaining:
            day += timedelta(days=step)
            if self.is_workday(day):
                remaining -= 1
        return day

    def working_days_between(self, a: date | datetime | str, b: date | datetime | str) -> int:
        """Working days after ``a`` up to and including ``b`` (negative when ``b`` is before ``a``)."""
        start, end = local_date(a), local_date(b)
        self._year(start.year), self._year(end.year)
        sign = 1
        if end < start:
            start, end, sign = end, start, -1
        # working days of [1 January of start's year, day], from each year's running count (an inbox page asks
        # this for every task: a task overdue for a year was 365 steps of a day)
        def through(day: date) -> int:
            return sum(self._running(y)[-1] for y in range(start.year, day.year)) + \
                self._running(day.year)[day.timetuple().tm_yday - 1]
        return sign * (through(end) - through(start))

    def _running(self, year: int) -> list[int]:
        """Per day of ``year`` (index: day of the year - 1): the working days from 1 January up to that day."""
        if year not in self._counts:
            # Monday-Friday by the weekday of 1 January, then the table's days of the year (an inbox page builds
            # this on every request: one pass without a lookup per day)
            overrides = self._year(year)
            first = date(year, 1, 1)
            weekday = first.weekday()
            work = [(weekday + n) % 7 < 5 for n in range((date(year + 1, 1, 1) - first).days)]
            for day, is_workday in overrides.items():
                work[(day - first).days] = is_workday
            self._counts[year] = list(itertools.accumulate(map(int, work)))
        return self._counts[year]

    def covered_years(self) -> list[int]:
        return sorted(self.session.scalars(select(CalendarYear.year)))


def seed_from_chinesecalendar(session: Session) -> int:
    """Load every year ``chinesecalendar`` knows into the table. Idempotent; rows an administrator entered
    (source ≠ chinesecalendar) are kept. Returns the number of years covered."""
    import chinese_calendar

    known = sorted({d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays})
    existing = {h.day: h for h in session.scalars(select(Holiday))}
    for year in known:
        day = date(year, 1, 1)
        while day.year == year:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
            is_workday = not on_holiday
            if is_workday != (day.weekday() < 5):
                row = existing.get(day)
                if row is None:
                    session.add(Holiday(day=day, is_workday=is_workday, name=name, source="chinesecalendar"))
                elif row.source == "chinesecalendar":
                    row.is_workday, row.name = is_workday, name
            day += timedelta(days=1)
        if session.get(CalendarYear, year) is None:
            session.add(CalendarYear(year=year, source="chinesecalendar"))
    session.flush()
    return len(known)


def set_day(session: Session, day: date, is_workday: bool, name: str | None) -> Holiday:
    """Enter or override one day (a local holiday, a corrected make-up day). Its year must be known."""
    check_year(day.year)
    if session.get(CalendarYear, day.year) is None:
        raise CalendarError(N_("The working-day calendar does not cover the year %(year)s; "
                               "an administrator must enter that year's holidays first."), year=day.year)
    row = session.get(Holiday, day)
    if row is None:
        row = Holiday(day=day)
        session.add(row)
    row.is_workday, row.name, row.source = is_workday, name, "admin"
    session.flush()
    return row


def set_year(session: Session, year: int, days: list[dict]) -> int:
    """Enter a whole year (e.g. next year's State Council notice): its holidays and make-up working days
    replace what the table held for that year, and the year counts as covered from now on."""
    check_year(year)
    for d in days:
        if d["day"].year != year:
            raise CalendarError(N_("Day %(day)s is not in the year %(year)s"), day=d["day"].isoformat(), year=year)
    for row in session.scalars(select(Holiday).where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))):
        session.delete(row)
    session.flush()
    for d in days:
        session.add(Holiday(day=d["day"], is_workday=d["is_workday"], name=d.get("name"), source="admin"))
    covered = session.get(CalendarYear, year)
    if covered is None:
        session.add(CalendarYear(year=year, source="admin"))
    else:
        covered.source = "admin"
    session.flush()
    return len(days)


def year_overrides(session: Session, year: int) -> list[Holiday]:
    check_year(year)
    return list(session.scalars(select(Holiday).where(Holiday.day >= date(year, 1, 1),
                                                      Holiday.day <= date(year, 12, 31)).order_by(Holiday.day)))


# -- the State Council's list of dates, pasted as text -------------------------------------------------------

NOTICE_FORMAT_HELP = N_(
    "One day or range per line: a date (2027-01-01 or 2027年1月1日), or a range joined by 至, 到 or ~ "
    "(2027-02-06至2027-02-13, 2027年2月6日至13日), then the name of the holiday, then 休 (a day off, the "
    "default) or 班 (a make-up working day). Lines starting with # are comments.")
_HOLIDAY_MARKS = {"休": False, "放假": False, "休息": False, "假": False,
                  "班": True, "上班": True, "补班": True, "调休上班": True}
_DAY = r"(\d{4})\s*[-/年]\s*(\d{1,2})\s*[-/月]\s*(\d{1,2})\s*日?"
_END = r"(?:(\d{4})\s*[-/年]\s*)?(?:(\d{1,2})\s*[-/月]\s*)?(\d{1,2})\s*日?"
_LINE = re.compile(rf"^\s*{_DAY}(?:\s*(?:至|到|~|～)\s*{_END})?(.*)$")
MAX_RANGE_DAYS = 31


def parse_notice(text: str, year: int) -> list[dict]:
    """The days of ``year`` listed in ``text`` (format: :data:`NOTICE_FORMAT_HELP`), as set_year takes them:
    ``[{day, is_workday, name}]`` in date order. Every line that cannot be used is reported (InvalidInput
    with ``errors``: line number and what is wrong); nothing is returned then."""
    check_year(year)
    days: dict[date, tuple[bool, str | None, int]] = {}
    problems: list[dict] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            problems.append(problem(N_("Line %(n)s: no date at the start (write e.g. 2027-01-01 元旦 休)"),
                                    line=number, n=number))
            continue
        y1, m1, d1, y2, m2, d2, rest = m.groups()
        try:
            first = date(int(y1), int(m1), int(d1))
            last = first if d2 is None else date(int(y2 or y1), int(m2 or m1), int(d2))
        except ValueError:
            problems.append(problem(N_("Line %(n)s: there is no such date"), line=number, n=number))
            continue
        words = rest.replace("，", " ").replace(",", " ").split()
        is_workday = False
        if words and words[-1] in _HOLIDAY_MARKS:
            is_workday = _HOLIDAY_MARKS[words.pop()]
        name = " ".join(words).strip()[:64] or None
        if first.year != year or last.year != year:
            problems.append(problem(N_("Line %(n)s: the date is not in %(year)s"), line=number, n=number, year=year))
            continue
        if last < first or (last - first).days >= MAX_RANGE_DAYS:
            problems.append(problem(N_("Line %(n)s: a range must run forwards and last at most %(max)s days"),
                                    line=number, n=number, max=MAX_RANGE_DAYS))
            continue
        day = first
        while day <= last:
            if day in days and days[day][0] != is_workday:
                problems.append(problem(N_("Line %(n)s: %(day)s is already given on line %(other)s as the "
                                           "opposite"), line=number, n=number, day=day.isoformat(), other=days[day][2]))
                break
            days[day] = (is_workday, name, number)
            day += timedelta(days=1)
    if problems:
        raise InvalidInput(N_("The list of dates has %(count)s problems; nothing was saved"), errors=problems,
                           count=len(problems))
    return [{"day": d, "is_workday": w, "name": n} for d, (w, n, _) in sorted(days.items())]


def format_notice(rows: list[dict]) -> str:
    """Days (``{day, is_workday, name}``) as the text :func:`parse_notice` reads; runs of consecutive days with
    the same name and kind become ranges."""
    out: list[str] = []
    rows = sorted(rows, key=lambda r: r["day"])
    i = 0
    while i < len(rows):
        j = i
        while (j + 1 < len(rows) and rows[j + 1]["day"] == rows[j]["day"] + timedelta(days=1)
               and rows[j + 1]["is_workday"] == rows[i]["is_workday"] and rows[j + 1]["name"] == rows[i]["name"]):
            j += 1
        span = rows[i]["day"].isoformat() + (f"至{rows[j]['day'].isoformat()}" if j > i else "")
        out.append(" ".join(x for x in (span, rows[i]["name"] or "", "班" if rows[i]["is_workday"] else "休") if x))
        i = j + 1
    return "\n".join(out)
