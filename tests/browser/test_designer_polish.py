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
    # pick a step with the mouse, pick it again (and after picking nothing): its properties stay shown
    box = page.evaluate("""() => {
        const m = window.modeler, reg = m.get('elementRegistry');
        const task = reg.filter(e => e.type === 'bpmn:UserTask')[0];
        m.get('canvas').scrollToElement(task);
        const r = reg.getGraphics(task).getBoundingClientRect();
        return {x: r.x + r.width / 2, y: r.y + r.height / 2, name: task.businessObject.name};
    }""")
    page.mouse.click(box["x"], box["y"])
    expect(page.locator("#panel h3")).to_contain_text(box["name"])
    page.locator("#prop-sla").fill("5个工作日")
    page.mouse.click(box["x"], box["y"])                     # the same element again
    expect(page.locator("#panel h3")).to_contain_text(box["name"])
    page.wait_for_timeout(600)                               # past a double-click
    page.mouse.click(box["x"], box["y"])
    expect(page.locator("#panel h3")).to_contain_text(box["name"])
    expect(page.locator("#prop-sla")).to_be_visible()
    user.shot(page, "modeler-reselected")
    page.locator("#dmn-links summary").click()
    link = page.locator("#dmn-links a", has_text=".dmn").first
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true")
    expect(page.locator("#canvas")).to_contain_text("命中策略")
    user.shot(page, "dmn-editor")
