"""The English locale (issue 5): after choosing English, the inbox, a task page and a case page speak English
in their chrome — the words the application itself puts on the page.

What counts as chrome: the header (brand, navigation, sign-out button, bell), the inbox tabs, filter labels
and buttons, table headers, headings (h2; h1 is the task's or case's own name), the labels of the facts
lists, buttons, status and SLA badges, the timeline's action words, the pager and "none" placeholders.
What is data and may stay Chinese: the user's own name in the header, the language switch (每种语言用自己的
文字书写: "中文" is how a Chinese reader finds the way back), the options of the filter selects (procedure and
unit names), case numbers and titles, unit names, BPMN step and procedure names, and form content (labels and
help come from the form definitions, whose English labels are checked only where they exist).
The collector removes those parts from a copy of each chrome element and returns the remaining text; the
same collector run on the Chinese pages must find Chinese, so it is not looking at nothing."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.realtime

HANDLER, REVIEWER = "guan_guanzhen_handler", "guan_guanzhen_sfs"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

# parts of a chrome element that are data: the user's name, the language switch, options listing procedures
# and units, a task's subject
DATA = 'a.who, a[href^="/lang/"], select, option, .subject'
HEADER = ["header.top"]
INBOX = HEADER + ["nav.tabs a", "form.filters label", "form.filters button", "#inbox th", "#inbox button",
                  "#inbox td:nth-child(5)", "#inbox td:nth-child(6)", "#inbox td.help", ".pager"]
TASK = HEADER + ["main dl.facts > dt", "main dl.facts > dd:nth-of-type(3)",
                 "main h2", "main button", "#task-form label:has(input[type=radio])", "main li.help"]
CASE = HEADER + ["main > section:first-of-type dl.facts > dt", "#case-status", "main h2", "main th",
                 "main button", "#open-tasks td:nth-child(4)", "#open-tasks td.help", "#timeline > li > strong",
                 "#documents li.help"]

COLLECT = """([selectors, data]) => {
  const out = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      if (el.matches(data)) continue;
      const copy = el.cloneNode(true);
      copy.querySelectorAll(data).forEach(n => n.remove());
      copy.querySelectorAll('script').forEach(n => n.remove());
      const text = copy.textContent.replace(/\\s+/g, ' ').trim();
      if (text) out.push(selector + ' → ' + text);
    }
  }
  return out;
}"""


def chrome(page, selectors: list[str]) -> list[str]:
    return page.evaluate(COLLECT, [selectors, DATA])


def assert_english(page, selectors: list[str]) -> list[str]:
    texts = chrome(page, selectors)
    assert texts, "no chrome found"
    chinese = [t for t in texts if CJK.search(t)]
    assert chinese == [], f"Chinese in the chrome of {page.url}: {chinese}"
    return texts


def texts(locator) -> list[str]:
    return [re.sub(r"\s+", " ", t).strip() for t in locator.all_text_contents()]


def in_order(expected: list[str], actual: list[str]) -> bool:
    """``expected`` appear in ``actual`` in this order (a page may gain other sections; these must stay)."""
    rest = iter(actual)
    return all(any(a == e for a in rest) for e in expected)


def test_english_inbox_task_and_case_pages(page, user, shot, case_number):
    number = case_number()
    user.sign_in(HANDLER)
    case_id = user.start_major_decision_review(number)
    user.submit_package(number)
    user.sign_out()

    # in Chinese first: the same chrome collector finds Chinese there
    user.sign_in(REVIEWER)
    user.tab("待认领")
    assert any(CJK.search(t) for t in chrome(page, INBOX))
    assert "待认领" in " ".join(chrome(page, INBOX))

    page.locator("header.top").get_by_role("link", name="English").click()
    expect(page.locator("nav.tabs a.active")).to_have_text("To claim")        # the same page, in English

    # -- the inbox
    expect(page).to_have_title("Inbox")
    expect(page.locator("header.top a.brand")).to_have_text("Law-enforcement supervision platform")
    nav = texts(page.locator("header.top nav.main > a"))
    assert in_order(["My tasks", "To claim", "Start"], [re.sub(r" \d+$", "", t) for t in nav]), nav
    expect(page.locator("header.top").get_by_role("button", name="Sign out")).to_be_visible()
    assert texts(page.locator("nav.tabs a")) == ["My tasks", "To claim", "Due soon", "Overdue", "Done"]
    assert texts(page.locator("#inbox th")) == ["Case number", "Procedure", "Step", "Unit", "Due", "Status", ""]
    row = user.row("To claim", number, "审查材料是否齐全")
    expect(row).to_have_count(1)
    expect(row.locator(".sla")).to_have_text("On time")
    expect(row.locator("td").nth(4)).to_contain_text("working days left")
    expect(page.locator(".pager")).to_contain_text(re.compile(r"\d+ tasks? · page 1 of \d+"))
    assert_english(page, INBOX)
    shot(page, "en-inbox-to-claim")

    row.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("status")).to_have_text("Claimed: the task is now in My tasks.")
    row = user.row("My tasks", number, "审查材料是否齐全")
    expect(row.get_by_role("button", name="Give back")).to_be_visible()
    assert_english(page, INBOX)
    shot(page, "en-inbox-mine")

    # -- the task page
    row.get_by_role("link", name="审查材料是否齐全").click()
    expect(page.locator("main h1")).to_have_text("审查材料是否齐全")               # the step's name: data
    facts = texts(page.locator("main dl.facts > dt"))
    assert in_order(["Case", "Unit", "Due", "Claimed by"], facts), facts
    headings = texts(page.locator("main h2"))
    assert in_order(["Completeness check", "Documents", "Comments"], headings), headings
    expect(page.locator("#complete")).to_have_text("Submit")
    expect(page.locator("#field-package_complete")).to_contain_text("Yes")
    expect(page.locator("#field-package_complete")).to_contain_text("No")
    expect(page.locator("#field-package_complete label").first).to_contain_text("The package is complete")
    assert_english(page, TASK)
    shot(page, "en-task")

    # -- the case page
    page.locator("main dl.facts").get_by_role("link", name=number).click()
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))
    expect(page.locator("#diagram")).to_have_attribute("data-ready", "true")
    facts = texts(page.locator("main > section:first-of-type dl.facts > dt"))
    assert in_order(["Status", "Started", "Units involved", "Version"], facts), facts
    expect(page.locator("#case-status")).to_have_text("In progress")
    headings = texts(page.locator("main h2"))
    assert in_order(["Open tasks", "Diagram", "Timeline", "Documents", "Comments"], headings), headings
    assert texts(page.locator("#open-tasks th")) == ["Step", "Unit", "Due", "Status"]
    actions = texts(page.locator("#timeline > li > strong"))
    assert actions[0] == "Case started"
    assert {"Task offered", "Task completed", "Task claimed"} <= set(actions)
    expect(page.get_by_role("button", name="Add comment")).to_be_visible()
    assert_english(page, CASE)
    shot(page, "en-case")

    # and back to Chinese
    page.locator("header.top").get_by_role("link", name="中文").click()
    expect(page.locator("#case-status")).to_have_text("办理中")
    shot(page, "zh-case")
