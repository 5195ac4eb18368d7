"""Form errors (issue 5): a refused form comes back with the Chinese message next to each wrong field and
with everything the user typed (or uploaded) still there, so only the mistakes need fixing."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.realtime

HANDLER = "guan_guanzhen_handler"
REQUIRED = "此项为必填项。"
MONEY = "请输入以元为单位的金额，例如 1200.50。"
CORRECT = "请修改下方标出的内容。"


def errors_of(page, field: str):
    return page.locator(f"#field-{field} .field-error")


def test_start_form_shows_chinese_messages_and_keeps_the_input(page, user, shot, case_number):
    number = case_number()
    user.sign_in(HANDLER)
    page.locator("header.top").get_by_role("link", name="发起", exact=True).click()
    page.get_by_role("link", name="重大执法决定法制审核", exact=True).click()
    expect(page.locator("main h2")).to_have_text("重大执法决定法制审核申请")

    # case title, kind of decision and procedure left empty; the amount in words
    user.fill("case_number", number)
    user.fill("amount", "很多")
    user.fill("parties", "张某，身份证号 131022198001010000")
    user.fill("filed_on", "2026-11-02")
    user.fill("summary", "在禁止区域内露天焚烧垃圾，造成大气污染")
    user.yes_no("public_interest", True)
    shot(page, "start-form-filled-wrongly")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("#submit").click()
    assert posted.value.status == 422
    expect(page).to_have_url(re.compile(r"/start/major_decision_review$"))     # nothing was started
    expect(page.locator("main .card > p.error")).to_have_text(CORRECT)
    shot(page, "start-form-errors")

    # the messages stand next to the fields they are about, in Chinese
    for field, message in (("case_title", REQUIRED), ("case_type", REQUIRED), ("procedure_kind", REQUIRED),
                           ("amount", MONEY)):
        box = page.locator(f"#field-{field}")
        expect(box).to_have_class(re.compile(r"\bhas-error\b"))
        expect(errors_of(page, field)).to_have_text(message)
        expect(errors_of(page, field)).to_be_visible()
        below_input = box.locator("input, select").first.bounding_box()
        message_box = errors_of(page, field).bounding_box()
        assert 0 <= message_box["y"] - (below_input["y"] + below_input["height"]) < 60, (field, message_box)
    for field in ("case_number", "parties", "filed_on", "summary"):
        expect(errors_of(page, field)).to_have_count(0)
    expect(page.locator(".field-error")).to_have_count(4)

    # what was typed is still there, the wrong amount too
    expect(page.locator("#in-case_number")).to_have_value(number)
    expect(page.locator("#in-amount")).to_have_value("很多")
    expect(page.locator("#in-parties")).to_have_value("张某，身份证号 131022198001010000")
    expect(page.locator("#in-filed_on")).to_have_value("2026-11-02")
    expect(page.locator("#in-summary")).to_have_value("在禁止区域内露天焚烧垃圾，造成大气污染")
    expect(page.locator("#field-public_interest").get_by_label("是", exact=True)).to_be_checked()
    expect(page.locator("#in-case_title")).to_have_value("")

    # fixing only the mistakes is enough: a major case (public interest) although the amount is small
    user.fill("case_title", "张某露天焚烧垃圾案")
    user.choose("case_type", "fine")
    user.choose("procedure_kind", "ordinary")
    user.fill("amount", "2000")
    shot(page, "start-form-corrected")
    page.locator("#submit").click()
    expect(page.get_by_role("status")).to_have_text(f"已发起：重大执法决定法制审核 {number}。")
    expect(page.locator("#case-status")).to_have_text("办理中")
    expect(page.locator("#open-tasks tbody")).to_contain_text("提交法制审核材料")
    shot(page, "case-started")


def test_task_form_keeps_text_and_uploaded_files_on_error(page, user, shot, case_number, tmp_path):
    number = case_number()
    note = tmp_path / "询问笔录.txt"
    note.write_text("询问笔录：当事人承认超范围经营。", encoding="utf-8")
    user.sign_in(HANDLER)
    user.start_major_decision_review(number)
    user.open_task("待认领", number, "提交法制审核材料")

    user.fill("investigation_report", "经调查，当事人超范围经营事实清楚。")
    page.locator("#in-package_files").set_input_files(str(note))
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("#complete").click()
    assert posted.value.status == 422
    expect(page.locator("main h1")).to_have_text("提交法制审核材料")
    shot(page, "task-form-errors")
    for field in ("draft_decision", "evidence_list", "application_form"):
        expect(errors_of(page, field)).to_have_text(REQUIRED)
    expect(errors_of(page, "investigation_report")).to_have_count(0)
    expect(page.locator("#in-investigation_report")).to_have_value("经调查，当事人超范围经营事实清楚。")
    kept = page.locator("#field-package_files").get_by_label("询问笔录.txt")
    expect(kept).to_be_checked()                                   # the upload is not lost

    user.fill("draft_decision", "行政处罚决定书（代拟稿）")
    user.fill("evidence_list", "询问笔录")
    user.fill("application_form", "申请法制审核")
    user.submit_task(number, "提交法制审核材料", "task-form-corrected")
    user.row("已办", number, "提交法制审核材料").get_by_role("link", name=number).click()
    expect(page.locator("#documents").get_by_role("link", name="询问笔录.txt")).to_have_count(1)
    shot(page, "case-with-document")
