"""The six public lists in the browser (issue 11 §2): the unit's legal reviewer edits a draft of its 事项清单 and
submits it, the agency head approves it in the inbox (the list_publication procedure), and an anonymous
visitor — no sign-in — finds it on the public page; after a second version the first stays readable and the
two are compared. A draft never shows there."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.calendar import LOCAL_TZ
from engine.models import OrgUnit
from engine.registers import lists as L
from engine.runtime import Runtime
from web.extensions import db

from ..test_public_lists import EDITOR, HEAD, MATTERS, UNIT, approve, lists  # noqa: F401  (lists: the fixture)

pytestmark = pytest.mark.realtime


def test_a_list_is_approved_and_published_for_anonymous_visitors(user, new_context, shot, client, token, ctx, lists):  # noqa: F811
    page = user.page
    user.sign_in(EDITOR)
    page.locator("#nav-lists").click()
    expect(page.get_by_role("heading", name="固安县市场监督管理局执法公示清单")).to_be_visible()
    page.get_by_role("link", name="行政执法事项清单", exact=True).click()
    page.locator("#new-draft").click()
    expect(page.locator("#edit-grid")).to_be_visible()
    for i, row in enumerate(MATTERS):
        for key, value in row.items():
            cell = page.locator(f"[name=c-{i}-{key}]")
            if key == "category":
                cell.select_option(value)
            else:
                cell.fill(value)
    shot(page, "draft-grid")
    page.locator("#save-draft").click()
    expect(page.get_by_role("status")).to_have_text("草稿已保存，共 2 行。")
    page.locator("#submit-draft").click()
    expect(page.get_by_role("status")).to_have_text("清单已提交机关负责人审批。")
    expect(page.locator("#draft-status")).to_have_text("待机关负责人审批")
    shot(page, "submitted")
    user.sign_out()

    anonymous = new_context().new_page()
    assert anonymous.goto(f"/public/lists/{UNIT}/matters").status == 404      # submitted, not yet published

    user.sign_in(HEAD)
    row = user.row("待认领", "行政执法事项清单 第1版", "审批执法公示清单")
    expect(row).to_contain_text("固安县市场监督管理局 行政执法事项清单")       # the task's subject
    row.get_by_role("link", name="审批执法公示清单", exact=True).click()
    expect(page.locator("main h1")).to_contain_text("审批执法公示清单")
    expect(page.locator("main")).to_contain_text("新增2项，删除0项，修改0项；共2项")
    user.choose("list_decision", "approve")
    user.submit_task("行政执法事项清单 第1版", "审批执法公示清单", "approval")

    # a second version, approved the same way (through the API), drops one matter and adds another
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == UNIT))
    draft = L.start_draft(db.session, unit, "matters", EDITOR, ctx.extensions["clock"].now())
    L.save_rows(db.session, draft, [MATTERS[0], {**MATTERS[1], "code": "SJ-JC-001", "name": "食品经营者日常监督检查",
                                                 "category": "行政检查"}], EDITOR, ctx.extensions["clock"].now())
    today = ctx.extensions["clock"].now().astimezone(LOCAL_TZ).date()
    L.submit(db.session, Runtime(db.session, ctx.extensions["clock"]), draft, EDITOR, today, today)
    db.session.commit()
    approve(client, token, ctx)
    L.start_draft(db.session, unit, "matters", EDITOR, ctx.extensions["clock"].now())   # version 3: a draft
    db.session.commit()

    anonymous.goto("/public/lists")
    expect(anonymous.get_by_role("heading", name="行政执法公示清单")).to_be_visible()
    expect(anonymous.locator("header.top a.who")).to_have_count(0)                 # nobody is signed in
    shot(anonymous, "public-index")
    anonymous.get_by_role("link", name="固安县市场监督管理局", exact=True).click()
    anonymous.get_by_role("link", name="行政执法事项清单", exact=True).click()
    expect(anonymous.locator("#in-force")).to_contain_text("第 2 版，自")
    expect(anonymous.locator("#list-rows")).to_contain_text("食品经营者日常监督检查")
    expect(anonymous.locator("#list-rows")).not_to_contain_text("对超范围从事经营活动的行政处罚")
    expect(anonymous.locator("#history tbody tr")).to_have_count(2)                 # version 3 is a draft
    shot(anonymous, "public-list")
    anonymous.locator("#diff-form").get_by_role("button", name="比较").click()
    expect(anonymous.locator("#diff-summary")).to_have_text("新增 1 项，删除 1 项，修改 0 项。")
    expect(anonymous.locator("#diff-removed")).to_contain_text("对超范围从事经营活动的行政处罚")
    shot(anonymous, "public-diff")
    anonymous.go_back()
    anonymous.locator("#history").get_by_role("link", name="第 1 版").click()
    expect(anonymous.locator("#list-rows")).to_contain_text("对超范围从事经营活动的行政处罚")
    shot(anonymous, "public-version-1")
    with anonymous.expect_download() as download:
        anonymous.get_by_role("link", name="下载 CSV").click()
    assert download.value.suggested_filename.endswith(".csv")


def test_the_handler_picks_the_matter_and_the_published_review_list_makes_the_case_major(user, ctx, lists):  # noqa: F811
    from engine.models import ProcessInstance

    from ..test_public_lists import HANDLER, REVIEW, publish_directly
    now = ctx.extensions["clock"].now()
    publish_directly("matters", MATTERS, 1, now)
    publish_directly("major_review", REVIEW, 1, now)
    user.sign_in(HANDLER)
    # the start form's matter picker offers the unit's published matters (choosing one that is not there fails)
    case_id = user.start_major_decision_review("浏览器-清单-1", amount="3000", enforcement_matter="SJ-CF-012")
    db.session.expire_all()
    data = Runtime(db.session, ctx.extensions["clock"]).data_of(db.session.get(ProcessInstance, case_id))
    assert (data["on_review_list"], data["is_major"], data["major_reason"]) == (True, True, "列入重大执法决定法制审核事项清单")
