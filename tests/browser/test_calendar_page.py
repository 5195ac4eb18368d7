"""December in the browser (issue 9): next year's holidays are not entered, a review package completed on
24 December has a provisional (暂定) deadline in January; the supervision officer and the administrator see
the banner; the administrator opens the calendar page from it, pastes the State Council's list, corrects a
day on the year grid and saves; the page says how many deadlines moved, the banner is gone and the
reviewer's deadline is final."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.clock import FixedClock
from engine.models import HumanTask, User
from engine.runtime import Runtime
from engine.tasks import TaskService
from web.extensions import db
from web.services import validate_form

pytestmark = pytest.mark.realtime

HANDLER, REVIEWER, UNIT = "guan_scjg_handler", "guan_scjg_review", "lf.guan.scjg"
NOTICE = "2027-01-01 元旦 休\n2027年1月2日 元旦调休 班\n2027-02-06至2027-02-13 春节\n2027-02-20 春节调休 班"


def _review_due_in_january(number: str) -> str:
    """A major-decision review whose package was found complete on 24 December 2026: the review runs into
    January 2027 (made in the database with the clock of that day; the browser sees the real clock)."""
    clock = FixedClock(datetime(2026, 12, 24, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    person = lambda name: db.session.scalar(select(User).where(User.username == name))   # noqa: E731
    instance = Runtime(db.session, clock).start(
        "major_decision_review", business_key=number, user=person(HANDLER), validate=validate_form,
        data={"case_number": number, "case_title": "某超市销售过期食品案", "case_type": "fine",
              "procedure_kind": "ordinary", "amount": 200000, "parties": "某超市有限公司", "filed_on": "2026-12-20",
              "summary": "销售过期食品，拟罚款20万元"})
    tasks = TaskService(db.session, clock, validate_form=validate_form)

    def do(element_id, who, data):
        task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                         HumanTask.element_id == element_id,
                                                         HumanTask.status == "open"))
        tasks.complete(person(who), task.id, data)
        db.session.commit()
    do("submit_package", HANDLER, {"investigation_report": "调查终结报告", "draft_decision": "决定书代拟稿",
                                   "evidence_list": "现场笔录", "application_form": "申请法制审核"})
    do("check_completeness", REVIEWER, {"package_complete": True})
    review = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.element_id == "legal_review"))
    assert review.provisional
    review_id = review.id
    db.session.rollback()            # end the transaction: on SQLite it holds the write lock the server needs
    return review_id


def test_entering_next_year_on_the_calendar_page(no_2027, page, user, shot, case_number):
    number = case_number()
    review_id = _review_due_in_january(number)

    # -- the reviewer: the January deadline is marked 暂定 in the inbox and on the task
    user.sign_in(REVIEWER)
    row = user.row("待认领", number, "法制审核")
    expect(row).to_contain_text("2027-01-05 23:59")
    expect(row.locator(".provisional")).to_have_text("暂定")
    shot(page, "reviewer-provisional")
    expect(page.locator("#calendar-banner")).to_have_count(0)           # not a reviewer's business
    user.sign_out()

    # -- the supervision officer sees the banner (no link: administrators enter the year)
    user.sign_in("guan_sup")
    expect(page.locator("#calendar-banner")).to_contain_text("2027 年节假日安排尚未录入")
    expect(page.locator("#calendar-banner-link")).to_have_count(0)
    shot(page, "officer-banner")
    user.sign_out()

    # -- the administrator follows the banner to the calendar page
    user.sign_in("admin")
    banner = page.locator("#calendar-banner")
    expect(banner).to_contain_text("目前有 2 个待办期限为暂定")
    banner.get_by_role("link", name="录入 2027 年节假日安排").click()
    expect(page.locator("main h1")).to_have_text("2027 年工作日历")
    expect(page.locator("#year-grid table.month")).to_have_count(12)
    expect(page.locator('button[data-day="2027-01-01"]')).to_have_class("day holiday assumed")
    shot(page, "calendar-2027-empty")

    # paste the notice: the grid follows the list
    page.locator("#days").fill(NOTICE)
    expect(page.locator('button[data-day="2027-01-02"]')).to_have_class("day makeup")
    expect(page.locator('button[data-day="2027-02-08"]')).to_have_class("day holiday")
    expect(page.locator('button[data-day="2027-02-20"]')).to_have_class("day makeup")
    # a day on the grid: Monday 15 February off as well; the list follows the grid
    page.locator('button[data-day="2027-02-15"]').click()
    expect(page.locator('button[data-day="2027-02-15"]')).to_have_class("day holiday")
    expect(page.locator("#days")).to_have_value(
        "2027-01-01 元旦 休\n2027-01-02 元旦调休 班\n2027-02-06至2027-02-13 春节 休\n2027-02-15 休\n"
        "2027-02-20 春节调休 班")
    page.locator('button[data-day="2027-02-15"]').click()                 # changed my mind: back to work
    expect(page.locator('button[data-day="2027-02-15"]')).to_have_class("day workday")
    shot(page, "calendar-2027-filled")

    page.once("dialog", lambda dialog: dialog.accept())                  # "save and recompute?"
    page.locator("#save-year").click()
    status = page.get_by_role("status")
    expect(status.first).to_have_text("2027 年节假日安排已保存（共 11 个放假或调休上班日）。")
    expect(status.nth(1)).to_have_text("已重新计算在办案件的 2 个暂定期限：2 个发生变动，0 个仍为暂定。")
    expect(page.locator("#calendar-status")).to_contain_text("2027 年节假日安排已录入")
    expect(page.locator("#calendar-banner")).to_have_count(0)
    shot(page, "calendar-2027-saved")

    # the case's history says what moved
    page.goto(f"/tasks/{review_id}")
    page.locator("main dl.facts a").first.click()
    expect(page.locator("#timeline")).to_contain_text("按录入的节假日安排重新计算暂定期限")
    expect(page.locator("#timeline")).to_contain_text("2027-01-05 23:59 → 2027-01-04 23:59")
    shot(page, "case-recomputed")
    user.sign_out()

    # -- the reviewer's deadline is final now
    user.sign_in(REVIEWER)
    row = user.row("待认领", number, "法制审核")
    expect(row).to_contain_text("2027-01-04 23:59")
    expect(row.locator(".provisional")).to_have_count(0)
