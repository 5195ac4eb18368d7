"""Finding and moving work in the browser (issue 10 §3): case search by 当事人 with the unit tree, 撤回 and 撤销
from the case page with confirmation, and batch completion of three tasks with one form from the inbox."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..procedures import Case
from ..test_major_decision_review import MAJOR, PACKAGE

pytestmark = pytest.mark.realtime
HANDLER, UNIT = "guan_scjg_handler", "lf.guan.scjg"


def start(client, token, who=HANDLER, **extra) -> Case:
    return Case(client, token, "major_decision_review", who, {**MAJOR, **extra})


def no_script_errors(page) -> list[str]:
    """Script errors, console errors and failed requests of the page (the favicon aside: another part of the
    issue adds it)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    return errors


def test_case_search_by_parties(user, client, token, case_number):
    wanted, other = case_number(), case_number()
    start(client, token, case_number=wanted, parties="王五五金商店（个体工商户）")
    start(client, token, case_number=other, parties="某物流有限公司")
    start(client, token, who="sanhe_scjg_handler", case_number=case_number(), parties="王五五金商店（三河）")
    errors = no_script_errors(user.page)
    user.sign_in(HANDLER)
    page = user.page
    page.locator("#nav-cases").click()
    expect(page.get_by_role("link", name="全部案件")).to_be_visible()
    page.get_by_label("当事人").fill("王五五金")
    # the unit picker is an organisation tree with a search box
    tree = page.locator(".unit-tree")
    tree.locator(".unit-tree-search").fill("市场监督")
    expect(tree.get_by_role("button", name="固安县市场监督管理局")).to_be_visible()
    tree.get_by_role("button", name="固安县市场监督管理局").click()
    expect(page.locator("#q-unit")).to_have_value(UNIT)
    user.shot(page, "case-search-form")
    page.locator("#q-submit").click()
    rows = page.locator("#cases tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(wanted)
    expect(rows.first).to_contain_text("王五五金商店（个体工商户）")
    expect(rows.first).to_contain_text("固安县市场监督管理局")
    expect(rows.first).to_contain_text("办理中")
    expect(page.locator("#case-total")).to_contain_text("1")
    body = page.locator("main").inner_text()
    assert "lf.guan" not in body and "major_decision_review" not in body and "三河" not in body
    user.shot(page, "case-search-result")
    rows.first.get_by_role("link", name=wanted).click()
    expect(page.locator("main h1")).to_contain_text(wanted)
    page.locator("#nav-cases").click()
    page.get_by_role("link", name="我发起的").click()
    expect(page.locator("#cases tbody tr")).to_have_count(2)
    user.shot(page, "case-search-mine")
    assert errors == []


def test_withdraw_and_cancel(user, another_user, client, token, case_number):
    mine, theirs = case_number(), case_number()
    withdrawn = start(client, token, case_number=mine)
    cancelled = start(client, token, case_number=theirs)
    errors = no_script_errors(user.page)
    user.sign_in(HANDLER)
    page = user.page
    page.goto(f"/cases/{withdrawn.id}")
    expect(page.locator("#case-status")).to_have_text("办理中")
    page.locator("#withdraw-reason").fill("当事人已主动改正，不再提请审核")
    user.shot(page, "case-withdraw")
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.locator("#withdraw-button").click()
    expect(page.get_by_role("status")).to_have_text("案件已撤回。")
    assert dialogs and "撤回" in dialogs[0]
    expect(page.locator("#case-status")).to_have_text("已撤回")
    expect(page.locator("#ending-reason")).to_have_text("当事人已主动改正，不再提请审核")
    expect(page.locator("#withdraw-form")).to_have_count(0)
    expect(page.locator("#open-tasks")).to_contain_text("无")
    user.shot(page, "case-withdrawn")
    # the handler may not cancel; the agency head may, with a reason, after confirming
    page.goto(f"/cases/{cancelled.id}")
    expect(page.locator("#cancel-form")).to_have_count(0)
    head = another_user()
    head.sign_in("guan_scjg_head")
    hp = head.page
    head_errors = no_script_errors(hp)
    hp.goto(f"/cases/{cancelled.id}")
    hp.locator("#cancel-reason").fill("经查属重复立案，予以撤销")
    hp.once("dialog", lambda d: d.dismiss())                      # thought better of it: nothing happens
    hp.locator("#cancel-button").click()
    expect(hp.locator("#case-status")).to_have_text("办理中")
    hp.once("dialog", lambda d: d.accept())
    hp.locator("#cancel-button").click()
    expect(hp.get_by_role("status")).to_have_text("案件已撤销。")
    expect(hp.locator("#case-status")).to_have_text("已撤销")
    expect(hp.locator("#ending-by")).to_contain_text(hp.locator("header.top a.who").inner_text())
    head.shot(hp, "case-cancelled")
    # the case stays readable in the search, with its status
    page.goto("/cases?status=cancelled")
    expect(page.locator("#cases tbody tr")).to_have_count(1)
    expect(page.locator("#cases tbody tr").first).to_contain_text("已撤销")
    user.shot(page, "search-cancelled")
    assert errors == [] and head_errors == []


def test_batch_completion_of_three_tasks(user, client, token, case_number):
    numbers = [case_number() for _ in range(3)]
    cases = [start(client, token, case_number=n) for n in numbers]
    for case in cases:
        case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    errors = no_script_errors(user.page)
    user.sign_in("guan_scjg_review")
    page = user.page
    rows = user.tab("待认领")
    for number in numbers:
        rows.filter(has_text=number).locator("input.batch-select").check()
    user.shot(page, "inbox-selected")
    page.locator("#batch-complete").click()
    expect(page.locator("main h1")).to_contain_text("批量办理")
    expect(page.locator("#batch-tasks tbody tr")).to_have_count(3)
    user.yes_no("package_complete", True)
    user.shot(page, "batch-form")
    page.locator("#batch-submit").click()
    expect(page.locator("#batch-summary")).to_have_text("共 3 项，已完成 3 项。")
    expect(page.locator("#batch-results tbody tr.ok")).to_have_count(3)
    user.shot(page, "batch-results")
    for case in cases:
        assert "法制审核" in case.names()
    assert errors == []


def test_unit_picker_is_a_searchable_tree_of_the_units_one_may_address(user):
    errors = no_script_errors(user.page)
    user.sign_in("guan_sup")
    page = user.page
    page.goto("/start/supervision_notice")
    tree = page.locator("#field-notice_unit .unit-tree")
    expect(tree).to_be_visible()
    expect(tree.locator(".unit-tree-heading").first).to_have_text("廊坊市人民政府")   # above the area: a heading
    assert tree.get_by_role("button", name="三河市市场监督管理局").count() == 0   # another county's unit
    tree.locator(".unit-tree-search").fill("生态环境")
    expect(tree.get_by_role("button", name="固安县生态环境局")).to_be_visible()
    expect(tree.get_by_role("button", name="固安县市场监督管理局")).to_be_hidden()
    user.shot(page, "unit-tree-search")
    tree.get_by_role("button", name="固安县生态环境局").click()
    expect(page.locator("#in-notice_unit")).to_have_value("lf.guan.sthj")
    user.shot(page, "unit-tree-chosen")
    assert errors == []
