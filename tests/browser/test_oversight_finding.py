"""行政执法监督员 in the browser (issue 12 §1): the 固安 invited supervisor records a finding on a case of a unit
assigned to him; the unit's agency head answers; the county justice bureau's supervision officer does not
accept the answer and turns the finding into a 督办; the supervisor follows it on 我的监督意见. A case of a unit
not assigned to him, and a case not sent to an expert, are not found (404)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.procedures import CASE, Case

pytestmark = pytest.mark.realtime

OBSERVER, HEAD, SUP, EXPERT = "guan_observer", "guan_scjg_head", "guan_sup", "expert_wang"


def _major(client, token, handler: str, number: str) -> Case:
    return Case(client, token, "major_decision_review", handler,
                {**CASE, "case_number": number, "summary": "销售过期食品，拟罚款20万元", "amount": 200000})


def test_a_finding_becomes_a_supervision_notice(page, user, shot, client, token, case_number):
    number, elsewhere = case_number(), case_number()
    case = _major(client, token, "guan_scjg_handler", number)                 # 固安县市场监督管理局: assigned
    other = _major(client, token, "guan_yjgl_handler", elsewhere)             # 固安县应急管理局: not assigned

    # -- the invited supervisor reads the case and records a finding
    user.sign_in(OBSERVER)
    page.goto(f"/cases/{case.id}")
    expect(page.locator("main h1")).to_have_text(f"{number} · 重大执法决定法制审核")
    form = page.locator("#finding-form")
    expect(form).to_be_visible()
    page.locator("#in-finding").fill("听证告知书未载明听证申请期限，建议补正")
    shot(page, "case-finding-form")
    form.get_by_role("button", name="提交监督意见").click()
    expect(page.get_by_role("status")).to_have_text("您的监督意见已送达固安县市场监督管理局机关负责人。")
    expect(page.locator("main h1")).to_have_text("我的监督意见")
    row = page.locator("#my-findings tbody tr").filter(has_text=number)
    expect(row.locator(".finding-state")).to_have_text("等待机关负责人答复")
    shot(page, "my-findings-waiting")

    # -- outside the assigned units: not found
    response = page.goto(f"/cases/{other.id}")
    assert response.status == 404
    expect(page.locator("main")).not_to_contain_text(elsewhere)
    shot(page, "other-unit-404")
    user.sign_out()

    # -- the agency head answers
    user.sign_in(HEAD)
    user.open_task("待认领", number, "答复监督意见")
    expect(page.locator("main")).to_contain_text("听证告知书未载明听证申请期限")
    user.fill("answer_text", "经复核，听证告知书格式为旧版，已责令更正")
    user.submit_task(number, "答复监督意见", "task-answer")
    user.sign_out()

    # -- the county bureau does not accept the answer: a 督办
    user.sign_in(SUP)
    user.open_task("待认领", number, "审查监督意见答复")
    user.fill("review_opinion", "答复未附更正后的文书")
    user.yes_no("start_notice", True)
    user.submit_task(number, "审查监督意见答复", "task-review")
    expect(user.row("待认领", number, "制发监督文书")).to_have_count(1)
    shot(page, "notice-to-issue")
    user.sign_out()

    # -- the supervisor sees it
    user.sign_in(OBSERVER)
    page.locator("#nav-findings").click()
    row = page.locator("#my-findings tbody tr").filter(has_text=number)
    expect(row.locator(".finding-state")).to_contain_text("已转为执法监督督办")
    shot(page, "my-findings-notice")
    user.sign_out()

    # -- an expert reads only cases sent to him
    user.sign_in(EXPERT)
    response = page.goto(f"/cases/{case.id}")
    assert response.status == 404
    shot(page, "expert-404")
