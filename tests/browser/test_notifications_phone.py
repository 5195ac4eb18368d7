"""Issue 10 §4 and §5 in real Chromium: a notification reaches the bell of the right user without a reload, and
the inbox, task page, case page and notifications are usable at 390 px (no horizontal overflow)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..procedures import Case
from ..test_case_referral import GA_SCJG, GA_SCJG_USER
from ..test_supervision_notice import BUREAU, ISSUE, NOTICE, SUP

pytestmark = pytest.mark.realtime
PHONE = {"width": 390, "height": 844}


def test_the_bell_of_the_receiving_unit_counts_up_without_a_reload(user, another_user, client, token):
    case = Case(client, token, "supervision_notice", SUP, NOTICE, business_key="浏览器-督办-铃铛")
    handler = another_user()
    handler.sign_in(GA_SCJG_USER)
    bell = handler.page.locator("#count-unread")
    before = int(bell.inner_text())
    url = handler.page.url
    # the bell is an SVG icon, not an emoji
    expect(handler.page.locator("details.bell summary svg.icon")).to_be_visible()
    assert "🔔" not in handler.page.locator("header.top").inner_text()

    user.sign_in(SUP)                                        # another browser profile, another person
    user.open_task("待认领", "浏览器-督办-铃铛", "制发监督文书")
    user.fill("notice_number", ISSUE["notice_number"])
    user.fill("notice_content", ISSUE["notice_content"])
    user.submit_task("浏览器-督办-铃铛", "制发监督文书", "task-issue")

    expect(bell).to_have_text(str(before + 1))               # no navigation on the handler's side
    assert handler.page.url == url
    handler.page.locator("details.bell summary").click()
    menu = handler.page.locator("#bell-menu")
    expect(menu).to_contain_text("收到督办")
    expect(menu).to_contain_text("整改并书面回复")
    handler.shot(handler.page, "bell-open")
    menu.locator("form.note").first.locator("button").click()
    expect(handler.page.locator("main h1")).to_have_text("整改并书面回复")   # the notification leads to its task
    expect(handler.page.locator("#count-unread")).to_have_text(str(before))
    # the issuer's own step told nobody of itself
    assert case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)


def _fits(person, name: str) -> None:
    page = person.page
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    person.shot(page, f"390-{name}")
    assert width <= PHONE["width"], (name, width)


def test_inbox_task_case_and_notifications_fit_a_phone(user, client, token):
    case = Case(client, token, "supervision_notice", SUP, NOTICE, business_key="浏览器-督办-手机")
    case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
    page = user.page
    page.set_viewport_size(PHONE)
    user.sign_in(GA_SCJG_USER)
    _fits(user, "inbox-mine")
    rows = user.tab("待认领")
    expect(rows.filter(has_text="浏览器-督办-手机")).to_have_count(1)
    _fits(user, "inbox-group")
    cell = rows.filter(has_text="浏览器-督办-手机").locator("td").first
    assert cell.bounding_box()["width"] > 200                # a card, not a one-character column
    rows.filter(has_text="浏览器-督办-手机").get_by_role("link", name="整改并书面回复", exact=True).click()
    expect(page.locator("main h1")).to_have_text("整改并书面回复")
    _fits(user, "task")
    page.goto(f"/cases/{case.id}")
    expect(page).to_have_url(re.compile(rf"/cases/{case.id}$"))
    _fits(user, "case")
    page.goto("/notifications")
    expect(page.locator("#notifications")).to_contain_text("收到督办")
    _fits(user, "notifications")
    page.locator("details.bell summary").click()
    expect(page.locator("#bell-menu")).to_contain_text("收到督办")
    _fits(user, "bell-menu")
