"""The Content-Security-Policy (script-src 'self', no inline code) in a real browser: the pages with scripts —
the bell, the case diagram, the dashboard charts, the BPMN modeler, the DMN editor and the version diff —
work, and the browser reports no policy violation."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.models import DeploymentFile, ProcessDefinition
from web.extensions import db

from ..procedures import Case
from ..test_major_decision_review import HANDLER, MAJOR

pytestmark = pytest.mark.realtime

WATCH = """() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
}"""


def watched(person):
    page = person.page
    problems: list[str] = []
    page.add_init_script(f"({WATCH})()")
    page.on("pageerror", lambda err: problems.append(f"pageerror: {err}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    return page, problems


def no_violations(page, problems):
    assert page.evaluate("window.__violations") == []
    assert problems == []


def test_pages_with_scripts_work_under_the_policy(user, client, token, shot):
    case = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": "CSP-1"})
    version = db.session.scalar(select(ProcessDefinition.version).where(
        ProcessDefinition.key == "major_decision_review").order_by(ProcessDefinition.version.desc()))
    dmn_id = db.session.scalars(select(DeploymentFile.id).where(DeploymentFile.filename == "major_decision.dmn")
                                .order_by(DeploymentFile.id.desc())).first()
    db.session.rollback()                   # end the read: the live server shares this SQLite database
    page, problems = watched(user)

    user.sign_in(HANDLER)
    resp = page.goto(f"/cases/{case.id}")
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    expect(page.locator("#diagram")).to_have_attribute("data-ready", "true", timeout=30000)
    page.locator("details.bell summary").click()                     # the bell loads its menu by script
    expect(page.locator("#bell-menu")).not_to_have_text("加载中……")
    shot(page, "case")
    no_violations(page, problems)
    user.sign_out()

    user.sign_in("city_sup")
    page.goto("/dashboard")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-units') && Chart.getChart('chart-procedures')")
    assert page.evaluate("Chart.getChart('chart-units').options.plugins.title.text") == "各单位任务情况"
    shot(page, "dashboard")
    no_violations(page, problems)
    user.sign_out()

    user.sign_in("designer")
    page.goto("/designer/modeler?key=major_decision_review")
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true", timeout=30000)
    no_violations(page, problems)
    page.goto(f"/designer/dmn?file={dmn_id}")
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true", timeout=30000)
    expect(page.locator("#canvas")).to_contain_text("是否属于重大执法决定")
    page.get_by_role("button", name="校验").click()
    expect(page.locator("body")).to_have_attribute("data-validated", "ok")
    no_violations(page, problems)
    page.goto(f"/designer/major_decision_review/diff?a={version}&b={version}")
    expect(page.locator("#diagram-a")).to_have_attribute("data-ready", "true", timeout=30000)
    expect(page.locator("#diagram-b")).to_have_attribute("data-ready", "true", timeout=30000)
    shot(page, "diff")
    no_violations(page, problems)


def test_the_api_documentation_page_works_under_the_policy(user, shot):
    """/api/docs: Swagger UI (served by the app) renders every tag of the document, without violations."""
    page, problems = watched(user)
    page.goto("/api/docs")
    expect(page.locator(".opblock-tag-section").first).to_be_visible(timeout=30000)
    tags = page.locator(".opblock-tag").all_inner_texts()
    assert {"cases", "tasks", "session", "calendar"} <= {t.strip().split("\n")[0] for t in tags}
    shot(page, "api-docs")
    no_violations(page, problems)
