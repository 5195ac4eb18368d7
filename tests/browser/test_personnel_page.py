"""The personnel register in the browser (issue 11 §1): a county supervision officer opens 执法人员, records
the 法律职业资格 and a training of an unqualified reviewer (who becomes qualified), sees a field error keep the
input, and imports an Excel file with a bad row: nothing is imported and the row is named."""
from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.models import User
from engine.registers import personnel as reg
from web.extensions import db

from ..test_personnel import NEWBIE, kept, workbook

pytestmark = pytest.mark.realtime


def test_a_supervisor_edits_a_person_and_sees_the_import_errors(user, tmp_path):
    newbie = db.session.scalar(select(User).where(User.username == NEWBIE))
    newbie_id, newbie_name = newbie.id, newbie.display_name
    db.session.commit()
    with kept(NEWBIE):
        user.sign_in("anci_sup")
        page = user.page
        page.locator("#nav-personnel").click()
        expect(page.get_by_role("heading", name="执法人员")).to_be_visible()
        row = page.locator(f"#person-{newbie_id}")
        expect(row).to_contain_text("不合格")
        user.shot(page, "personnel-list")
        row.get_by_role("link", name=newbie_name).click()
        expect(page.locator("#reviewer-state")).to_contain_text("无法律职业资格记录")

        # a wrong date is refused next to its field, the rest of the input stays
        page.get_by_label("法律职业资格证书编号").fill("A20261310000321")
        page.locator("#f-cert_valid_from").fill("2026-03-01")
        page.locator("#f-cert_valid_until").fill("2025-03-01")
        page.locator("#save-record").click()
        expect(page.locator("#record-errors")).to_be_visible()
        expect(page.locator(".field-error")).to_contain_text("有效期截止日期早于起始日期")
        expect(page.get_by_label("法律职业资格证书编号")).to_have_value("A20261310000321")
        user.shot(page, "person-error")
        page.locator("#f-cert_valid_until").fill("2030-03-01")
        page.locator("#save-record").click()
        expect(page.get_by_role("status")).to_contain_text("已保存")

        # 12 hours on record: 18 more make him qualified
        page.locator("#t-day").fill(f"{date.today():%Y-%m-%d}")
        page.locator("#t-course").fill("行政处罚法专题培训")
        page.locator("#t-hours").fill("18")
        page.locator("#t-organiser").fill("安次区司法局")
        page.locator("#add-training").click()
        expect(page.get_by_role("status")).to_contain_text("培训记录已保存")
        expect(page.locator("#reviewer-state")).to_contain_text("合格")
        expect(page.locator("#reviewer-state")).not_to_contain_text("不合格")
        expect(page.locator("#training-table")).to_contain_text("行政处罚法专题培训")
        user.shot(page, "person-qualified")

        # an import with a bad row: nothing imported, the row named
        bad = tmp_path / "人员.xlsx"
        bad.write_bytes(workbook(
            [[NEWBIE, "", "", "13100007777", "2026-01-01", "2030-12-31", "安次区", None, None, None]],
            [[NEWBIE, "", "2026-04-01", "专题培训", "十二", "安次区司法局"]]))
        page.locator("#nav-personnel").click()
        page.locator("#import-file").set_input_files(str(bad))
        page.locator("#import-form").get_by_role("button", name="导入", exact=True).click()
        errors = page.locator("#import-errors")
        expect(errors).to_contain_text("没有导入任何数据")
        expect(errors).to_contain_text("工作表 培训记录，第 2 行：学时：学时必须大于 0，最多一位小数")
        user.shot(page, "import-errors")
        db.session.expire_all()
        assert reg.record_of(db.session, newbie_id).cert_no != "13100007777"


def test_the_dashboard_shows_the_shortfall_and_a_reviewer_his_own_hours(user):
    user.sign_in("anci_sup")
    page = user.page
    page.goto("/dashboard")
    card = page.locator("#reviewer-shortfall")
    expect(card).to_contain_text("各单位法制审核人员资格情况")
    expect(card.locator("tr.flagged")).to_contain_text("安次区市场监督管理局")
    user.shot(page, "dashboard-shortfall")
    card.get_by_role("link", name="全部单位").click()
    expect(page.locator("#unit-lf-anci-scjg")).to_contain_text("冯新人")
    user.shot(page, "reviewers-per-unit")
    user.sign_out()
    user.sign_in(NEWBIE)
    page.locator("header.top a.who").click()
    expect(page.locator("#my-hours")).to_contain_text("/ 30")
    expect(page.locator("#my-reviewer-status")).to_contain_text("不合格")
    user.shot(page, "profile-hours")
