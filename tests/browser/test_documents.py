"""Official documents in the browser (issue 10 §2): the reviewer completes 法制审核 on its page; the case page
then lists the 法制审核意见书 with its 文号 and shows the PDF inside the page (an <iframe> the site's
security headers allow for this one address), with download and print links."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .test_review_walkthrough import review

pytestmark = pytest.mark.realtime

HANDLER, REVIEWER, UNIT = "guan_scjg_handler", "guan_scjg_review", "lf.guan.scjg"


def test_review_opinion_in_the_case_page_with_preview(page, user, shot, case_number, client, token):
    number = case_number()
    refused = []
    page.on("console", lambda msg: refused.append(msg.text) if "Refused" in msg.text else None)

    user.sign_in(HANDLER)
    case_id = user.start_major_decision_review(number, amount="150000")
    user.submit_package(number)
    # the completeness check (not what this test is about) through the API
    task = next(t for t in client.get(f"/api/instances/{case_id}", headers=token(REVIEWER)).get_json()["open_tasks"]
                if t["name"] == "审查材料是否齐全")
    resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(REVIEWER),
                       json={"data": {"package_complete": True}})
    assert resp.status_code == 200, resp.get_json()
    user.sign_out()

    # the reviewer writes the opinion on the task page; completing the step issues the document
    user.sign_in(REVIEWER)
    user.open_task("待认领", number, "法制审核")
    review(user, "agree", "事实清楚，证据确凿，适用法律正确，同意作出处罚决定。")
    user.submit_task(number, "法制审核", "task-legal-review")

    # the case page: the document with its 文号, previewed in the page
    with page.expect_response(lambda r: "/preview" in r.url) as preview:
        page.goto(f"/cases/{case_id}")
    assert preview.value.status == 200 and preview.value.headers["content-type"] == "application/pdf"
    rows = page.locator("#documents tr.issued-document")
    opinion = rows.filter(has_text="法制审核意见书")
    expect(opinion).to_have_count(1)
    expect(opinion.locator(".doc-number")).to_have_text(re.compile(r"^固市监审〔\d{4}〕\d+号$"))
    expect(rows.filter(has_text="重大执法决定法制审核申请表").locator(".doc-number")).to_have_text(
        re.compile(r"^固市监申〔\d{4}〕\d+号$"))
    frame = page.locator("details.preview[open] iframe.document-preview")
    expect(frame).to_have_count(1)
    expect(frame).to_be_visible()
    box = frame.bounding_box()
    assert box and box["height"] > 300 and box["width"] > 500
    expect(opinion.get_by_role("link", name="下载", exact=True)).to_be_visible()
    expect(opinion.get_by_role("link", name="打开打印")).to_have_attribute("target", "_blank")
    expect(page.locator("#timeline")).to_contain_text("签发文书")
    page.locator("#documents").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)                      # let the PDF viewer draw before the picture
    shot(page, "case-documents")
    assert not refused, refused                      # no frame or script refused by the security headers
    # the download is the PDF itself
    with page.expect_download() as download:
        opinion.get_by_role("link", name="下载", exact=True).click()
    assert download.value.suggested_filename.startswith("法制审核意见书")
