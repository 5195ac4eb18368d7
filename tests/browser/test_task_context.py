"""The task page shows what the step acts on (issue 10): the reviewer sees the submitted package with its
file, the handler answering the opinion sees the opinion, a field required only for some answers shows its
mark as soon as the answer is chosen, and a done task says who did it and when."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.realtime

HANDLER, REVIEWER = "guan_guanzhen_handler", "guan_guanzhen_sfs"
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
CHECKS = ("check_subject", "check_authority", "check_procedure", "check_facts", "check_law", "check_documents")


def test_the_reviewer_sees_the_package_and_the_handler_sees_the_opinion(page, user, shot, case_number, tmp_path):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    number = case_number()
    evidence = tmp_path / "询问笔录.pdf"
    evidence.write_bytes(PDF)
    user.sign_in(HANDLER)
    user.start_major_decision_review(number, amount="150000")
    user.submit_package(number, files=[str(evidence)])
    user.sign_out()

    # the reviewer's page: the case, then the package with its file, above the form
    user.sign_in(REVIEWER)
    user.open_task("待认领", number, "审查材料是否齐全")
    summary = page.locator("#case-summary")
    expect(summary).to_contain_text("某餐饮店超范围经营案")
    expect(summary).to_contain_text("150,000.00 元")
    acts_on = page.locator("#acts-on")
    expect(acts_on.get_by_role("heading", name="送审材料")).to_be_visible()
    expect(acts_on).to_contain_text("经调查，当事人超范围经营事实清楚。")
    expect(acts_on).to_contain_text("行政处罚决定书（代拟稿）：罚款人民币壹拾伍万元。")
    expect(acts_on.get_by_role("link", name="询问笔录.pdf")).to_be_visible()
    box = acts_on.bounding_box()
    assert box["y"] < page.locator("#task-form").bounding_box()["y"]          # above the form
    # the mark of a field required only when the package is incomplete follows the answer
    mark = page.locator("#field-missing_items .required-mark")
    user.yes_no("package_complete", False)
    expect(mark).to_be_visible()
    shot(page, "reviewer-sees-package")
    user.yes_no("package_complete", True)
    expect(page.locator("#field-missing_items")).to_be_hidden()
    user.submit_task(number, "审查材料是否齐全", "completeness-done")
    user.open_task("待认领", number, "法制审核")
    expect(page.locator("#acts-on")).to_contain_text("经调查，当事人超范围经营事实清楚。")
    for name in CHECKS:
        user.choose(name, "problem" if name == "check_law" else "ok")
    user.choose("check_crime", "no")
    user.choose("review_outcome", "revise")
    user.fill("review_opinion", "裁量基准适用不当，建议修改罚款数额。")
    user.submit_task(number, "法制审核", "review-revise")
    # the done task: by whom and when, and what was submitted
    done = user.row("已办", number, "法制审核")
    expect(done).to_have_count(1)
    expect(done.locator("td.completed-at")).not_to_be_empty()
    done.get_by_role("link", name="法制审核", exact=True).click()
    expect(page.locator("#completed")).to_contain_text("固安镇司法所")
    expect(page.locator("#completed")).to_contain_text("裁量基准适用不当，建议修改罚款数额。")
    expect(page.locator("#complete")).to_have_count(0)
    shot(page, "done-task")
    user.sign_out()

    # the handler answering the opinion sees it
    user.sign_in(HANDLER)
    user.open_task("待认领", number, "处理法制审核意见")
    acts_on = page.locator("#acts-on")
    expect(acts_on.get_by_role("heading", name="法制审核意见")).to_be_visible()
    expect(acts_on).to_contain_text("裁量基准适用不当，建议修改罚款数额。")
    expect(acts_on).to_contain_text("建议修改")
    expect(acts_on).to_contain_text("存在问题")
    shot(page, "handler-sees-opinion")
    # choosing to dispute makes the grounds required at once
    user.choose("response", "dispute")
    expect(page.locator("#field-response_note .required-mark")).to_be_visible()
    assert errors == []
