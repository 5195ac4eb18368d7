"""The assessment ranking in the browser (issue 12 §4): a supervisor opens the ranking, the chart draws under
the Content-Security-Policy, a number leads to the cases behind it; the admin closes an ended quarter and the
page says its figures are frozen."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..test_assessment import seed
from .test_csp import no_violations, watched

pytestmark = pytest.mark.realtime


def test_the_ranking_chart_drilldown_and_closing(ctx, user, shot):
    g, _s, _ = seed()
    user.sign_in("city_sup")
    page, problems = watched(user)
    page.goto("/assessment?period=2026Q1&tier=county&kind=enforcement_dept")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-assessment')")
    row = page.locator("#ranking-table tr", has_text="固安县市场监督管理局")
    expect(row).to_contain_text("3/7")
    shot(page, "ranking")
    no_violations(page, problems)
    row.get_by_role("link", name="3/7").click()
    expect(page.locator("#detail-table tbody tr")).to_have_count(7)
    shot(page, "drilldown")
    user.sign_out()
    user.sign_in("admin")
    page.goto("/assessment?period=2026Q1")
    expect(page.locator("#period-status")).to_contain_text("未关闭")
    page.locator("#close-form button").click()
    expect(page.get_by_role("status")).to_contain_text("已关闭")
    expect(page.locator("#period-status")).to_contain_text("已关闭")
    shot(page, "closed")
