"""Time limits as written in models ("7 working days", "24 hours", "30 days", "P5D") turned into deadlines,
and the SLA state of a human task.

Deadlines in days end at the end of that day in Asia/Shanghai; limits in hours end to the minute.

A working-day deadline counted over a year the holiday table lacks is *provisional* (DOMAIN §6). The timer
helpers then return a :class:`ProvisionalISO`: an ordinary ISO string (scripts, expressions, SpiffWorkflow
and JSON see just the text) that also carries how it was computed (its *recipe*), so the runtime can note
where it went — a data variable, a timer, a task's deadline — and engine.provisional can compute it again
(:func:`recompute`) once the year is entered. Calendar-day and hour limits never depend on the calendar."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .calendar import LOCAL_TZ, WorkCalendar, local_date
from .errors import N_, InvalidInput

END_OF_DAY = time(23, 59, 59)
_LIMIT = re.compile(r"^\s*(\d+)\s*(?:个)?\s*(working\s*days?|workdays?|工作日|days?|日|天|hours?|小时)\s*$", re.IGNORECASE)


class ProvisionalISO(str):
    """An ISO date or datetime computed over a year the holiday table lacks, with its ``recipe``:
    ``{"fn": "deadline", "start": ISO, "limit": "7 working days"}``,
    ``{"fn": "end_of_working_day", "day": ISO}`` or ``{"fn": "add_working_days", "start": ISO, "n": 7}``.
    Deep copies keep the recipe; anything derived from the text (slices, JSON) is a plain string."""

    recipe: dict

    def __new__(cls, value: str, recipe: dict):
        obj = super().__new__(cls, value)
        obj.recipe = recipe
        return obj

    def __reduce__(self):
        return (ProvisionalISO, (str(self), dict(self.recipe)))


@dataclass(frozen=True)
class Deadline:
    at: datetime              # aware UTC
    provisional: bool         # counted over a year the holiday table lacks


@dataclass(frozen=True)
class Limit:
    amount: int
    unit: str          # working_days / days / hours / iso

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.replace('_', ' ')}"


def parse_limit(text: str) -> Limit | str:
    """``"7 working days"``/``"7个工作日"`` → Limit(7, working_days); ``"24 hours"``/``"24小时"`` → hours;
    ``"30 days"``/``"30日"`` → days; an ISO 8601 duration (``P5D``, ``PT24H``) is returned as is."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(N_("A time limit is empty"))
    text = text.strip()
    if text.upper().startswith("P"):
        try:
            TimerEventDefinition.parse_iso_duration(text)
        except Exception:
            raise InvalidInput(N_("Not a time limit: %(text)s"), text=text) from None
        return text.upper()
    m = _LIMIT.match(text)
    if not m:
        raise InvalidInput(N_("Not a time limit: %(text)s (write e.g. 7 working days, 24 hours, 30 days)"), text=text)
    word = m.group(2).lower()
    if word.startswith(("working", "workday")) or word == "工作日":
        unit = "working_days"
    elif word.startswith("hour") or word == "小时":
        unit = "hours"
    else:
        unit = "days"
    return Limit(int(m.group(1)), unit)


def end_of_day(day: date) -> datetime:
    """23:59:59 of ``day`` in Asia/Shanghai, as aware UTC."""
    return datetime.combine(day, END_OF_DAY, LOCAL_TZ).astimezone(timezone.utc)


def compute_deadline(calendar: WorkCalendar, start: datetime, limit: str | Limit) -> Deadline:
    """When a limit that starts at ``start`` (aware) runs out, as aware UTC, and whether that is provisional."""
    parsed = parse_limit(limit) if isinstance(limit, str) else limit
    if isinstance(parsed, str):
        duration = TimerEventDefinition.parse_iso_duration(parsed)
        end = start + TimerEventDefinition.get_timedelta_from_start(duration, start)
        return Deadline(end.astimezone(timezone.utc), False)
    if parsed.unit == "hours":
        return Deadline((start + timedelta(hours=parsed.amount)).astimezone(timezone.utc), False)
    if parsed.unit == "days":
        return Deadline(end_of_day(local_date(start) + timedelta(days=parsed.amount)), False)
    day = calendar.add_working_days(start, parsed.amount)
    return Deadline(end_of_day(day), calendar.is_provisional(start, day))


def deadline(calendar: WorkCalendar, start: datetime, limit: str | Limit) -> datetime:
    """When a limit that starts at ``start`` (aware) runs out, as aware UTC."""
    return compute_deadline(calendar, start, limit).at


def end_of_working_day(calendar: WorkCalendar, day: date | datetime | str) -> datetime:
    """The end of ``day`` if it is a working day, else the end of the next working day."""
    d = local_date(day)
    while not calendar.is_workday(d):
        d += timedelta(days=1)
    return end_of_day(d)


def _iso(dt: datetime) -> str:
    return dt.astimezone(LOCAL_TZ).isoformat()


def recompute(calendar: WorkCalendar, recipe: dict, starts: dict[str, str] | None = None) -> str:
    """The value a recipe gives on today's calendar: a :class:`ProvisionalISO` if still provisional, else a
    plain string. ``starts`` maps provisional values already recomputed to their new values, so that a
    deadline counted from a provisional one (an extension) is counted from the new one."""
    starts = starts or {}
    fn = recipe.get("fn")
    if fn == "deadline":
        start = starts.get(recipe["start"], recipe["start"])
        result = compute_deadline(calendar, datetime.fromisoformat(start), recipe["limit"])
        value, provisional = _iso(result.at), result.provisional
        recipe = {**recipe, "start": start}
    elif fn == "end_of_working_day":
        day = starts.get(recipe["day"], recipe["day"])
        end = end_of_working_day(calendar, day)
        value, provisional = _iso(end), calendar.is_provisional(day, end)
        recipe = {**recipe, "day": day}
    elif fn == "add_working_days":
        start = starts.get(recipe["start"], recipe["start"])
        day = calendar.add_working_days(start, int(recipe["n"]))
        value, provisional = day.isoformat(), calendar.is_provisional(start, day)
        recipe = {**recipe, "start": start}
    else:
        raise ValueError(f"unknown deadline recipe {recipe!r}")
    return ProvisionalISO(value, recipe) if provisional else value


def state_at(now: datetime, due_at: datetime | None, remind_at: datetime | None, stored: str) -> str:
    """on_time → due_soon (past the reminder point) → overdue (past the deadline); escalated stays."""
    if stored == "escalated":
        return stored
    if due_at is not None and now > due_at:
        return "overdue"
    if remind_at is not None and now >= remind_at:
        return "due_soon"
    return "on_time"


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _next_quarter_start(now: datetime) -> datetime:
    """00:00 Asia/Shanghai on the first day of the next quarter."""
    start = _quarter_start(now.astimezone(LOCAL_TZ).date())
    month, year = start.month + 3, start.year
    if month > 12:
        month, year = month - 12, year + 1
    return datetime(year, month, 1, tzinfo=LOCAL_TZ)


def _previous_quarter(now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the quarter before the current one, Asia/Shanghai."""
    end_day = _quarter_start(now.astimezone(LOCAL_TZ).date())
    start_day = _quarter_start(end_day - timedelta(days=1))
    return (datetime.combine(start_day, time(0, 0), LOCAL_TZ), datetime.combine(end_day, time(0, 0), LOCAL_TZ))


def timer_helpers(calendar: WorkCalendar, clock) -> dict:
    """Functions for BPMN timer expressions; each returns an aware ISO datetime string (a
    :class:`ProvisionalISO` when it was counted over a year the holiday table lacks)."""
    iso = _iso

    def counted(start: datetime, limit: str | Limit) -> str:
        result = compute_deadline(calendar, start, limit)
        if not result.provisional:
            return iso(result.at)
        return ProvisionalISO(iso(result.at), {"fn": "deadline", "start": iso(start), "limit": str(limit)})

    def working_day_end(day=None) -> str:
        day = str(day) if day else iso(clock.now())
        value = end_of_working_day(calendar, day)
        if not calendar.is_provisional(day, value):
            return iso(value)
        return ProvisionalISO(iso(value), {"fn": "end_of_working_day", "day": day})

    return {
        "working_days": lambda n: counted(clock.now(), Limit(int(n), "working_days")),
        "calendar_days": lambda n: iso(deadline(calendar, clock.now(), Limit(int(n), "days"))),
        "hours": lambda n: iso(deadline(calendar, clock.now(), Limit(int(n), "hours"))),
        "deadline": lambda text, start=None: counted(datetime.fromisoformat(start) if start else clock.now(), text),
        "end_of_day": lambda day: iso(end_of_day(local_date(day))),
        "start_of_day": lambda day: iso(datetime.combine(local_date(day), time(0, 0), LOCAL_TZ)),
        "add_days": lambda day, n: (local_date(day) + timedelta(days=int(n))).isoformat(),
        "end_of_working_day": working_day_end,
        "now": lambda: iso(clock.now()),
        "next_quarter_start": lambda: iso(_next_quarter_start(clock.now())),
        "previous_quarter": lambda: [iso(d) for d in _previous_quarter(clock.now())],
    }


def annotate(tasks, now: datetime, calendar: WorkCalendar):
    """Set ``live_sla_state`` and ``working_days_left`` on human-task rows for display (the stored state
    moves with the scheduler's sweep; this is the state at ``now``). Returns the rows. Over a year the holiday
    table lacks, the working days left are counted provisionally, like the deadline itself."""
    from .errors import CalendarError
    for task in tasks:
        if task is None:
            continue
        task.live_sla_state = (state_at(now, task.due_at, task.remind_at, task.sla_state)
                               if task.status == "open" else task.sla_state)
        task.working_days_left = None
        if task.due_at is not None and task.status == "open":
            try:
                task.working_days_left = calendar.working_days_between(local_date(now), local_date(task.due_at))
            except CalendarError:
                pass
    return tasks
