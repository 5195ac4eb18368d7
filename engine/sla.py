"""Time limits as written in models ("7 working days", "24 hours", "30 days", "P5D") turned into deadlines,
and the SLA state of a human task.

Deadlines in days end at the end of that day in Asia/Shanghai; limits in hours end to the minute."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .calendar import LOCAL_TZ, WorkCalendar, local_date
from .errors import N_, InvalidInput

END_OF_DAY = time(23, 59, 59)
_LIMIT = re.compile(r"^\s*(\d+)\s*(?:个)?\s*(working\s*days?|workdays?|工作日|days?|日|天|hours?|小时)\s*$", re.IGNORECASE)


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


def deadline(calendar: WorkCalendar, start: datetime, limit: str | Limit) -> datetime:
    """When a limit that starts at ``start`` (aware) runs out, as aware UTC."""
    parsed = parse_limit(limit) if isinstance(limit, str) else limit
    if isinstance(parsed, str):
        duration = TimerEventDefinition.parse_iso_duration(parsed)
        return (start + TimerEventDefinition.get_timedelta_from_start(duration, start)).astimezone(timezone.utc)
    if parsed.unit == "hours":
        return (start + timedelta(hours=parsed.amount)).astimezone(timezone.utc)
    if parsed.unit == "days":
        return end_of_day(local_date(start) + timedelta(days=parsed.amount))
    return end_of_day(calendar.add_working_days(start, parsed.amount))


def end_of_working_day(calendar: WorkCalendar, day: date | datetime | str) -> datetime:
    """The end of ``day`` if it is a working day, else the end of the next working day."""
    d = local_date(day)
    while not calendar.is_workday(d):
        d += timedelta(days=1)
    return end_of_day(d)


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
    """Functions for BPMN timer expressions; each returns an aware ISO datetime string."""
    iso = lambda dt: dt.astimezone(LOCAL_TZ).isoformat()  # noqa: E731
    return {
        "working_days": lambda n: iso(deadline(calendar, clock.now(), Limit(int(n), "working_days"))),
        "calendar_days": lambda n: iso(deadline(calendar, clock.now(), Limit(int(n), "days"))),
        "hours": lambda n: iso(deadline(calendar, clock.now(), Limit(int(n), "hours"))),
        "deadline": lambda text, start=None: iso(deadline(
            calendar, datetime.fromisoformat(start) if start else clock.now(), text)),
        "end_of_day": lambda day: iso(end_of_day(local_date(day))),
        "start_of_day": lambda day: iso(datetime.combine(local_date(day), time(0, 0), LOCAL_TZ)),
        "add_days": lambda day, n: (local_date(day) + timedelta(days=int(n))).isoformat(),
        "end_of_working_day": lambda day=None: iso(end_of_working_day(calendar, day or clock.now())),
        "now": lambda: iso(clock.now()),
        "next_quarter_start": lambda: iso(_next_quarter_start(clock.now())),
        "previous_quarter": lambda: [iso(d) for d in _previous_quarter(clock.now())],
    }


def annotate(tasks, now: datetime, calendar: WorkCalendar):
    """Set ``live_sla_state`` and ``working_days_left`` on human-task rows for display (the stored state
    moves with the scheduler's sweep; this is the state at ``now``). Returns the rows."""
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
