"""A survey round of the enterprise contact points in the browser (issue 12 §3): the county's supervision
officer registers contact points, the round's timer fires, the officer fills a visit questionnaire rating each
unit that enforces on the enterprise, and the results per enforcement unit show on the survey page."""
from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from playwright.sync_api import expect
from sqlalchemy import delete

from engine.registers.contact_point_models import ContactPoint, ContactPointUnit, SurveyRating, SurveyResponse
from engine.repository import Repository
from engine.runtime import Runtime
from web.extensions import db

from ..procedures import tick
from ..test_contact_points import CODES, _create

pytestmark = pytest.mark.realtime


@pytest.fixture
def clean_points(ctx):
    yield
    db.session.rollback()
    for model in (SurveyRating, SurveyResponse, ContactPointUnit, ContactPoint):
        db.session.execute(delete(model))
    db.session.commit()


def test_a_survey_round_in_the_browser(ctx, user, client, token, clean_points):
    guan = token("guan_sup")
    for i, (name, units) in enumerate((("甲公司", ["lf.guan.scjg", "lf.guan.sthj"]), ("乙公司", ["lf.guan.scjg"]),
                                       ("丙公司", ["lf.guan.sthj"])), start=1):
        assert _create(client, guan, name=name, credit_code=CODES[i], units=units).status_code == 201
    runtime = Runtime(db.session, ctx.extensions["clock"])
    [waiting] = runtime.start_timer_instances([Repository(db.session, ctx.extensions["clock"]).latest("enterprise_survey")])
    db.session.commit()
    with freeze_time(waiting.next_timer_at + timedelta(seconds=5)):
        tick(ctx)
    tasks = client.get(f"/api/instances/{waiting.id}", headers=token("admin")).get_json()["open_tasks"]
    assert len(tasks) == 3
    first = next(t for t in tasks if t["subject"] == "甲公司")
    user.sign_in("guan_sup")
    page = user.page
    page.locator("#nav-contact-points").click()
    expect(page.locator("#points-table")).to_contain_text("甲公司")
    user.shot(page, "contact-points")
    page.goto(f"/tasks/{first['id']}")
    expect(page.locator("main h1")).to_have_text("走访企业联系点并填写问卷 · 甲公司")
    expect(page.locator("#in-unit_ratings")).to_contain_text("固安县市场监督管理局")
    page.locator("#in-visited_on").fill("2026-03-16")
    page.locator('[name="unit_ratings.0.satisfaction"]').select_option("2")
    page.locator('[name="unit_ratings.1.satisfaction"]').select_option("5")
    page.locator("#complete").click()
    expect(page.locator("#group-unit_ratings-0 .field-error")).to_contain_text("此项为必填项")   # a 2 needs a remark
    page.locator('[name="unit_ratings.0.comment"]').fill("同一事项重复检查")
    page.locator("#in-problems").fill("检查次数偏多")
    user.shot(page, "questionnaire")
    page.locator("#complete").click()
    expect(page.get_by_role("status")).to_contain_text("已完成")
    page.goto("/surveys")
    table = page.locator("#results-table")
    expect(table).to_contain_text("固安县市场监督管理局")
    expect(table.locator("tr", has_text="固安县市场监督管理局")).to_contain_text("2.00")
    expect(table.locator("tr", has_text="固安县生态环境局")).to_contain_text("5.00")
    expect(page.locator("#answers-table")).to_contain_text("同一事项重复检查")
    user.shot(page, "survey-results")
