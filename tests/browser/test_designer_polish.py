"""Issue 10 §5, the designer: the diagram opens at a readable zoom, the decision-table editor is reachable from
the modeler and speaks Chinese."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.realtime


def test_the_modeler_opens_readable_and_leads_to_the_decision_tables(user):
    user.sign_in("designer")
    page = user.page
    page.goto("/designer/modeler?key=major_decision_review")
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true")
    assert page.evaluate("() => window.modeler.get('canvas').zoom()") >= 0.75 - 1e-6
    user.shot(page, "modeler-zoom")
    page.locator("#dmn-links summary").click()
    link = page.locator("#dmn-links a", has_text=".dmn").first
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true")
    expect(page.locator("#canvas")).to_contain_text("命中策略")
    user.shot(page, "dmn-editor")
