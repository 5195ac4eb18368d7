"""Working days over the holiday table (DOMAIN §6), including 调休 make-up days."""
from datetime import date, datetime, timezone

import pytest

from engine.calendar import WorkCalendar, fixed_holidays
from engine.errors import CalendarError
from engine.models import CalendarYear, Holiday
from web.extensions import db


@pytest.fixture
def cal(ctx):
    return WorkCalendar(db.session)


def test_seven_working_days_over_national_day_2022(cal):
    # Saturday 10-08 and Sunday 10-09 were make-up working days; 10-01..07 off.
    assert cal.add_working_days(date(2022, 9, 29), 7) == date(2022, 10, 13)


def test_five_working_days_after_2025_09_30(cal):
    # National Day + Mid-Autumn 2025: 10-01..08 off, Saturday 10-11 a make-up working day.
    assert cal.add_working_days(date(2025, 9, 30), 5) == date(2025, 10, 14)


def test_start_day_is_not_counted_and_between_is_the_inverse(cal):
    assert cal.add_working_days(date(2026, 11, 23), 1) == date(2026, 11, 24)
    assert cal.working_days_between(date(2022, 9, 29), date(2022, 10, 13)) == 7
    assert cal.working_days_between(date(2022, 10, 13), date(2022, 9, 29)) == -7
    assert cal.add_working_days(date(2022, 10, 13), -7) == date(2022, 9, 29)


def test_working_days_between_counts_each_day_once_across_years(no_2027):
    """The count between two days, from running counts per year, is the day-by-day count of working days, over
    make-up working days, year ends and a year the table lacks; and add_working_days is its inverse."""
    from datetime import timedelta
    cal = WorkCalendar(db.session)
    start = date(2024, 12, 20)
    days = [start + timedelta(days=n) for n in range(0, 3 * 366, 11)]
    for a in days[::7]:
        for b in days:
            low, high = min(a, b), max(a, b)
            one_by_one = sum(cal.is_workday(low + timedelta(days=n)) for n in range(1, (high - low).days + 1))
            assert cal.working_days_between(a, b) == (one_by_one if b >= a else -one_by_one), (a, b)
            if cal.is_workday(b) and b > a:
                assert cal.add_working_days(a, one_by_one) == b


def test_aware_datetimes_use_the_shanghai_day(cal):
    # 2022-09-29 17:00 UTC is already 09-30 01:00 in Shanghai
    late = datetime(2022, 9, 29, 17, 0, tzinfo=timezone.utc)
    assert cal.add_working_days(late, 1) == date(2022, 10, 8)
    with pytest.raises(CalendarError):
        cal.add_working_days(datetime(2022, 9, 29, 10, 0), 1)


def test_a_year_the_table_lacks_is_counted_provisionally(no_2027):
    """DOMAIN §6: Monday-Friday minus the holidays fixed by law, and said to be provisional."""
    cal = WorkCalendar(db.session)
    # Monday 2026-12-28 + 5: 29, 30, 31 December, (Friday 1 January 2027, 元旦), 4, 5 January
    assert cal.add_working_days(date(2026, 12, 28), 5) == date(2027, 1, 5)
    assert cal.is_provisional(date(2026, 12, 28), date(2027, 1, 5))
    assert not cal.is_provisional(date(2026, 12, 1), date(2026, 12, 31)) and cal.is_covered(2026)
    # 2029: 劳动节 Tuesday 1 and Wednesday 2 May, 国庆节 Monday 1 to Wednesday 3 October
    assert cal.add_working_days(date(2029, 4, 30), 1) == date(2029, 5, 3)
    assert cal.add_working_days(date(2029, 9, 28), 1) == date(2029, 10, 4)
    assert cal.working_days_between(date(2026, 12, 31), date(2027, 1, 8)) == 5
    with pytest.raises(CalendarError):
        cal.add_working_days(date(2200, 12, 28), 5)           # beyond the years anyone may ask about


def test_the_fixed_statutory_holidays():
    assert [(d.isoformat(), n) for d, n in fixed_holidays(2027).items()] == [
        ("2027-01-01", "元旦"), ("2027-05-01", "劳动节"), ("2027-05-02", "劳动节"),
        ("2027-10-01", "国庆节"), ("2027-10-02", "国庆节"), ("2027-10-03", "国庆节")]
    assert date(2024, 5, 2) not in fixed_holidays(2024)       # 2 May from the 2025 rules on


def test_administrator_override_is_used(ctx):
    db.session.add(Holiday(day=date(2026, 11, 30), is_workday=False, name="local", source="admin"))
    db.session.flush()
    try:
        # Friday 11-27 + 1 working day skips the weekend and the local holiday Monday 11-30
        assert WorkCalendar(db.session).add_working_days(date(2026, 11, 27), 1) == date(2026, 12, 1)
    finally:
        db.session.rollback()


def test_a_newly_entered_year_is_accepted(no_2027):
    db.session.add(CalendarYear(year=2027, source="admin"))
    db.session.flush()
    try:
        # declared with no holidays entered yet, so Friday 2027-01-01 counts as a working day
        assert WorkCalendar(db.session).add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 1)
        assert not WorkCalendar(db.session).is_provisional(date(2027, 1, 1))
    finally:
        db.session.rollback()


def test_helpers_are_callable_from_bpmn_expressions(ctx):
    from engine.runtime import Runtime
    from engine.scripting import evaluate
    rt = Runtime(db.session, ctx.extensions["clock"])
    assert evaluate('add_working_days("2022-09-29", 7)', {}, rt.helpers) == "2022-10-13"
    assert evaluate('working_days_between(a, b)', {"a": "2022-09-29", "b": "2022-10-13"}, rt.helpers) == 7
