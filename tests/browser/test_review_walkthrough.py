"""重大执法决定法制审核 walked through in the browser by the people who do it (issue 5): a township handler
starts a major case and submits the review package with a document; the county justice bureau's reviewer
claims it, checks it and asks for changes; the handler accepts and resubmits; the reviewer agrees; the
township government's head decides; the handler issues the decision; the case page shows all of it."""
from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.realtime

HANDLER, REVIEWER, HEAD = "guan_guanzhen_handler", "guan_guanzhen_sfs", "guan_guanzhen_head"
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
CHECKS = ("check_subject", "check_authority", "check_procedure", "check_facts", "check_law", "check_documents")


def review(user, outcome: str, opinion: str, problems: tuple[str, ...] = ()):
    for name in CHECKS:
        user.choose(name, "problem" if name in problems else "ok")
    user.choose("check_crime", "no")
    user.choose("review_outcome", outcome)
    user.fill("review_opinion", opinion)


def test_township_case_from_start_to_decision(page, user, shot, case_number, tmp_path):
    number = case_number()
    evidence = tmp_path / "现场检查笔录.pdf"
    evidence.write_bytes(PDF)

    # -- the handler of 固安镇综合行政执法队 starts the procedure: 150,000 yuan makes it a major decision
    user.sign_in(HANDLER)
    expect(page.locator("header.top a.who")).to_have_text("固安镇综合行政执法队承办人")
    case_id = user.start_major_decision_review(number, amount="150000")
    expect(page.locator("main h1")).to_have_text(f"{number} · 重大执法决定法制审核")
    expect(page.locator("#case-status")).to_have_text("办理中")
    expect(page.locator("#open-tasks tbody")).to_contain_text("提交法制审核材料")
    expect(page.locator("#open-tasks tbody")).to_contain_text("固安镇综合行政执法队")
    expect(page.locator("#diagram")).to_have_attribute("data-ready", "true")
    expect(page.locator('#diagram .djs-element[data-element-id="submit_package"]')).to_have_class(
        re.compile(r"\bcurrent\b"))
    shot(page, "case-current-step")

    # -- the handler submits the package with a document
    user.submit_package(number, files=[str(evidence)])
    user.sign_out()

    # -- the reviewer: a township's team has no reviewer of its own, so the 司法所 serving the township reviews
    user.sign_in(REVIEWER)
    expect(page.locator("header.top a.who")).to_have_text("固安镇司法所")
    row = user.row("待认领", number, "审查材料是否齐全")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("固安镇司法所")
    expect(row).to_contain_text("重大执法决定法制审核")
    shot(page, "reviewer-to-claim")
    row.get_by_role("button", name="认领").click()
    expect(page.get_by_role("status")).to_have_text("已认领，该任务已移入“我的待办”。")
    expect(user.row("待认领", number, "审查材料是否齐全")).to_have_count(0)
    mine = user.row("我的待办", number, "审查材料是否齐全")
    expect(mine).to_have_count(1)
    expect(mine.get_by_role("button", name="退回")).to_be_visible()
    user.open_task("我的待办", number, "审查材料是否齐全")
    expect(page.locator("dl.facts")).to_contain_text("固安镇司法所")      # claimed by
    documents = page.locator("section.card", has=page.get_by_role("heading", name="材料", exact=True))
    expect(documents.get_by_role("link", name="现场检查笔录.pdf")).to_be_visible()
    user.yes_no("package_complete", True)
    expect(page.locator("#field-missing_items")).to_be_hidden()           # only asked when incomplete
    user.submit_task(number, "审查材料是否齐全", "task-completeness")

    # -- 法制审核: 建议修改
    user.open_task("待认领", number, "法制审核")
    expect(page.locator("section.card:has(#task-form) h2")).to_have_text("法制审核意见书")
    review(user, "revise", "裁量基准适用不当，建议修改罚款数额。", problems=("check_law",))
    user.submit_task(number, "法制审核", "task-review-revise")
    user.sign_out()

    # -- the handler accepts the opinion and resubmits
    user.sign_in(HANDLER)
    user.open_task("待认领", number, "处理法制审核意见")
    user.choose("response", "accept")
    expect(page.locator("#field-response_note")).to_be_hidden()            # grounds only for a dispute
    user.submit_task(number, "处理法制审核意见", "task-response")
    user.open_task("待认领", number, "提交法制审核材料")
    expect(page.locator("#in-investigation_report")).to_have_value("经调查，当事人超范围经营事实清楚。")   # kept
    user.fill("draft_decision", "行政处罚决定书（修改稿）：罚款人民币壹拾万元。")
    user.submit_task(number, "提交法制审核材料", "task-package-again")
    user.sign_out()

    # -- the reviewer checks again and agrees
    user.sign_in(REVIEWER)
    user.open_task("待认领", number, "审查材料是否齐全")
    user.yes_no("package_complete", True)
    user.submit_task(number, "审查材料是否齐全", "task-completeness-again")
    user.open_task("待认领", number, "法制审核")
    review(user, "agree", "事实清楚，证据确凿，适用法律正确，同意。")
    user.submit_task(number, "法制审核", "task-review-agree")
    user.sign_out()

    # -- the head of 固安镇人民政府 decides
    user.sign_in(HEAD)
    row = user.row("待认领", number, "机关负责人决定")
    expect(row).to_contain_text("固安镇人民政府")
    user.open_task("待认领", number, "机关负责人决定")
    user.choose("head_decision", "approve")
    user.fill("head_opinion", "同意作出行政处罚决定。")
    user.submit_task(number, "机关负责人决定", "task-head-decision")
    user.sign_out()

    # -- the handler issues and serves the decision
    user.sign_in(HANDLER)
    user.open_task("待认领", number, "制作并送达行政执法决定书")
    user.fill("decision_number", number.replace("罚", "罚决"))
    user.fill("decision_date", date.today().isoformat())
    user.fill("served_on", date.today().isoformat())
    user.submit_task(number, "制作并送达行政执法决定书", "task-issue")

    # -- the decision is carried out: the handler closes the case, which starts its revisit (a complaint case:
    #    always revisited)
    user.open_task("待认领", number, "登记执行完毕并结案")
    user.fill("executed_on", date.today().isoformat())
    user.fill("closed_on", date.today().isoformat())
    user.choose("case_origin", "complaint")
    user.submit_task(number, "登记执行完毕并结案", "task-close")

    # -- the case page: closed, the whole timeline, the document, the diagram with the end reached
    done = user.row("已办", number, "登记执行完毕并结案")
    expect(done).to_have_count(1)
    shot(page, "inbox-done")
    done.get_by_role("link", name=number).click()
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))
    expect(page.locator("main h1")).to_have_text(f"{number} · 重大执法决定法制审核")
    expect(page.locator("#case-status")).to_have_text("已办结")
    expect(page.locator("#open-tasks tbody")).to_have_text("无。")
    units = page.locator("main dl.facts").first
    for unit in ("固安镇综合行政执法队", "固安镇司法所", "固安镇人民政府"):
        expect(units).to_contain_text(unit)

    timeline = page.locator("#timeline > li")
    completed = timeline.filter(has_text="完成任务")
    expect(timeline.first).to_contain_text("发起案件")
    for step, times in (("提交法制审核材料", 2), ("审查材料是否齐全", 2), ("法制审核", 2), ("处理法制审核意见", 1),
                        ("机关负责人决定", 1), ("制作并送达行政执法决定书", 1), ("登记执行完毕并结案", 1)):
        expect(completed.filter(has_text=re.compile(rf"· {step} ·"))).to_have_count(times)
    expect(completed.filter(has_text="· 法制审核 ·").first).to_contain_text("建议修改")
    expect(completed.filter(has_text="· 法制审核 ·").last).to_contain_text("同意")
    expect(completed.filter(has_text="· 机关负责人决定 ·")).to_contain_text("同意作出决定")
    expect(completed.filter(has_text="· 机关负责人决定 ·")).to_contain_text("固安镇人民政府负责人")
    expect(timeline.filter(has_text="案件办结").first).not_to_contain_text("结案案件回访抽取")   # this case's own end
    # one case file: the revisit its closing started is listed, and its steps are in the same timeline
    expect(page.locator("#case-file")).to_contain_text("结案案件回访抽取（结案时自动发起）")
    expect(timeline.filter(has_text="结案案件回访抽取（结案时自动发起）").filter(has_text="开展回访")).to_have_count(1)

    link = page.locator("#documents").get_by_role("link", name="现场检查笔录.pdf")
    expect(link).to_be_visible()
    expect(page.locator("#documents")).to_contain_text("固安镇综合行政执法队承办人")   # uploaded by

    diagram = page.locator("#diagram")
    expect(diagram).to_have_attribute("data-ready", "true")
    expect(diagram.locator('.djs-element[data-element-id="end_issued"]')).to_have_class(re.compile(r"\bdone\b"))
    for step in ("submit_package", "check_completeness", "legal_review", "handler_response", "head_decision",
                 "issue_decision", "close_case", "notify_closed"):
        expect(diagram.locator(f'.djs-element[data-element-id="{step}"]')).to_have_class(re.compile(r"\bdone\b"))
    expect(diagram.locator('.djs-element[data-element-id="end_not_major"]')).not_to_have_class(
        re.compile(r"\bdone\b"))
    expect(diagram.locator(".djs-element.current")).to_have_count(0)
    diagram.scroll_into_view_if_needed()
    shot(page, "case-closed")

    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "现场检查笔录.pdf"
    with open(download.path(), "rb") as fh:
        assert fh.read() == PDF
