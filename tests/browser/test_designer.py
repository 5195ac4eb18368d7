"""Process designers in the browser (issue 6): edit a procedure in the modeler through the properties panel,
validate, deploy with a comment, see the diff, and move a running case; validation marks faulty elements;
every procedure survives a round trip through the modeler unchanged in behaviour."""
from __future__ import annotations

import glob
import json
import os
import re

import pytest
from playwright.sync_api import expect

from engine.repository import Repository
from web.extensions import db

from ..procedures import Case
from ..test_designer import BAD
from ..test_major_decision_review import AGREE, CLOSE, HANDLER, HEAD, ISSUE, MAJOR, REVIEWER, UNIT, submit_and_accept

pytestmark = pytest.mark.realtime
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
MDR_FILE = os.path.join(ROOT, "workflows", "bpmn", "major_decision_review.bpmn")


def open_modeler(person, key: str | None = None):
    page = person.page
    page.goto(f"/designer/modeler?key={key}" if key else "/designer/modeler")
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true", timeout=30000)
    person.shot(page, f"modeler-{key or 'new'}")


def walk_to_issue(case: Case) -> None:
    submit_and_accept(case)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve"})
    case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, ISSUE)


@pytest.fixture
def restore_mdr(ctx):
    """Put the original legal-review model back as the latest version after the test changed it."""
    yield
    with open(MDR_FILE, "rb") as fh:
        from web.services import repository
        repository().deploy([("major_decision_review.bpmn", fh.read())], actor="tests", comment="恢复原模型")
        db.session.commit()


def test_designer_adds_a_step_deploys_and_moves_a_running_case(user, client, token, restore_mdr):
    before = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": "设计-旧"})
    to_move = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": "设计-迁移"})
    old_version = before.state()["version"]
    user.sign_in("designer")
    page = user.page
    open_modeler(user, "major_decision_review")
    # a new user task after issuing the decision, in the handler's lane
    page.evaluate("""() => {
      const m = window.modeler, reg = m.get('elementRegistry'), modeling = m.get('modeling');
      const issue = reg.get('issue_decision'), close = reg.get('close_case');
      modeling.removeConnection(reg.get('f45'));
      modeling.moveElements([close, reg.get('notify_closed'), reg.get('end_issued')], {x: 180, y: 0});
      const task = modeling.createShape({type: 'bpmn:UserTask'},
        {x: close.x - 100, y: close.y + close.height / 2}, reg.get('P_mdr'));
      modeling.updateProperties(task, {id: 'archive_case'});
      modeling.connect(issue, task);
      modeling.connect(task, close);
      m.get('selection').select(task);
    }""")
    panel = page.locator("#panel")
    panel.locator("#prop-name").fill("案卷归档")
    panel.locator("#prop-name").dispatch_event("change")
    panel.locator("#prop-unit").fill("case_unit")
    panel.locator("#prop-unit").dispatch_event("change")
    panel.locator("#prop-formKey").select_option("case_archive")
    panel.locator("#prop-sla").fill("5 working days")
    panel.locator("#prop-sla").dispatch_event("change")
    user.shot(page, "modeler-panel")
    lane = page.evaluate("() => window.modeler.get('elementRegistry').get('archive_case').businessObject.lanes"
                         ".map(l => l.name)")
    assert lane == ["承办人"]
    page.get_by_role("button", name="校验").click()
    expect(page.locator("#status")).to_have_text("未发现问题。")
    page.get_by_role("button", name="发布").click()
    expect(page.locator("#status")).to_have_text("请填写发布说明。")
    page.locator("#comment").fill("增加案卷归档环节")
    page.get_by_role("button", name="发布").click()
    expect(page.locator("#status")).to_contain_text("已发布：重大执法决定法制审核 第")
    new_version = json.loads(page.get_attribute("body", "data-deployed"))[0]["version"]
    expect(page.locator("#design-version")).to_have_text(f" · 第 {new_version} 版")   # the header follows (issue 10)
    assert new_version == Repository(db.session, None).latest("major_decision_review").version
    db.session.rollback()                   # end the read: the live server shares this SQLite database
    user.shot(page, "modeler-deployed")
    # the version list and the diff
    page.goto("/designer/major_decision_review/versions")
    expect(page.locator(f'tr[data-version="{new_version}"]')).to_contain_text("增加案卷归档环节")
    page.goto(f"/designer/major_decision_review/diff?a={old_version}&b={new_version}")
    expect(page.locator("#added")).to_contain_text("案卷归档")
    expect(page.locator("#diagram-b")).to_have_attribute("data-ready", "true", timeout=30000)
    assert page.locator("#diagram-b .djs-element.added").count() >= 1
    user.shot(page, "diff")
    # move one running case; the other stays on its version
    page.goto(f"/designer/major_decision_review/migrate?from={old_version}")
    row = page.locator(f'tr[data-instance="{to_move.id}"]')
    expect(row).to_contain_text("是")
    page.locator(f'tr[data-instance="{before.id}"] input[type=checkbox]').uncheck()
    user.shot(page, "migrate")
    page.get_by_role("button", name="迁移所选案件").click()
    expect(page.get_by_role("status")).to_contain_text(f"已迁移到第 {new_version} 版")
    assert (before.state()["version"], to_move.state()["version"]) == (old_version, new_version)
    # a new case takes the new path, the old one does not, the moved one does
    new = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": "设计-新"})
    for case in (new, before, to_move):
        walk_to_issue(case)
    for case in (new, to_move):
        case.expect("案卷归档", "handler", UNIT, HANDLER)
        case.do("案卷归档", "handler", UNIT, HANDLER, {"archive_number": "GA-2026-001"})
    for case in (new, before, to_move):
        case.do("登记执行完毕并结案", "handler", UNIT, HANDLER, CLOSE)
        assert case.status() == "completed"
    assert "案卷归档" not in str(before.state()["history"])


def test_validation_marks_the_four_faulty_elements(user, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("layout", os.path.join(ROOT, "workflows", "layout.py"))
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    drawn = tmp_path / "bad.bpmn"
    drawn.write_text(BAD, encoding="utf-8")
    layout.layout(str(drawn))                   # give the broken model a diagram so the modeler can show it
    user.sign_in("designer")
    page = user.page
    open_modeler(user)
    page.evaluate("xml => window.modeler.importXML(xml)", drawn.read_text(encoding="utf-8"))
    page.get_by_role("button", name="校验").click()
    expect(page.locator("#status")).to_have_text("发现问题，相关元素已用红色标出。")
    problems = page.locator("#problems li")
    expect(problems).to_have_count(4)
    assert sorted(problems.evaluate_all("els => els.map(e => e.dataset.element)")) == ["dangling", "evil", "lane_x", "t1"]
    marked = page.evaluate("() => window.modeler.get('elementRegistry').filter(e => "
                           "window.modeler.get('canvas').hasMarker(e, 'invalid')).map(e => e.id)")
    assert set(marked) >= {"evil", "lane_x", "t1"}          # the dangling flow has no shape to mark
    page.locator("#comment").fill("试试")
    page.get_by_role("button", name="发布").click()
    expect(page.locator("#status")).to_contain_text("未发布")
    user.shot(page, "validation-errors")


def test_a_step_without_a_time_limit_is_marked_as_a_warning(user):
    user.sign_in("designer")
    page = user.page
    open_modeler(user, "major_decision_review")
    page.evaluate("() => window.modeler.get('selection').select("
                  "window.modeler.get('elementRegistry').get('submit_package'))")
    panel = page.locator("#panel")
    panel.locator("#prop-sla").fill("")
    panel.locator("#prop-sla").dispatch_event("change")
    page.get_by_role("button", name="校验").click()
    expect(page.locator("#status")).to_have_text("没有错误；请查看警告（以橙色标出）。")
    warning = page.locator("#problems li.warning")
    expect(warning).to_have_count(1)
    expect(warning).to_contain_text("警告：")
    expect(warning).to_contain_text("提交法制审核材料")
    assert page.evaluate("() => window.modeler.get('canvas').hasMarker("
                         "window.modeler.get('elementRegistry').get('submit_package'), 'warning')")
    user.shot(page, "validation-warning")


def test_people_without_the_designer_role_cannot_open_the_modeler(user):
    user.sign_in("guan_review")
    resp = user.page.goto("/designer/modeler?key=major_decision_review")
    assert resp.status == 403
    expect(user.page.get_by_role("heading", name="无权访问")).to_be_visible()


def _behaviour(spec_json: str) -> dict:
    """The executable content of a spec: drop what only concerns the drawing (positions)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("position", "file")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(json.loads(spec_json))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "workflows", "bpmn", "*.bpmn"))),
                         ids=lambda p: os.path.basename(p))
def test_every_procedure_round_trips_through_the_modeler(user, ctx, path):
    from engine.serialization import spec_to_json
    from web.services import repository
    key = os.path.basename(path)[:-len(".bpmn")]             # each file is named after its main process
    user.sign_in("designer")
    open_modeler(user, key)
    saved = user.page.evaluate("() => window.modeler.saveXML({format: true}).then(r => r.xml)")
    with open(path, "rb") as fh:
        original = fh.read()
    name = os.path.basename(path)
    parser_a, files_a = repository().check([(name, original)])
    parser_b, files_b = repository().check([(name, saved.encode("utf-8"))])
    db.session.rollback()
    processes = re.findall(r'<bpmn:process id="([^"]+)"', original.decode("utf-8"))
    assert processes
    for pid in processes:
        a = spec_to_json(parser_a.get_spec(pid), parser_a.get_subprocess_specs(pid))
        b = spec_to_json(parser_b.get_spec(pid), parser_b.get_subprocess_specs(pid))
        assert _behaviour(a) == _behaviour(b), pid


def test_decision_tables_open_in_dmn_js_and_validate(user, ctx):
    from sqlalchemy import select
    from engine.models import DeploymentFile
    file_id = db.session.scalars(select(DeploymentFile.id).where(DeploymentFile.filename == "major_decision.dmn")
                                 .order_by(DeploymentFile.id.desc())).first()
    db.session.rollback()                   # end the read: the live server shares this SQLite database
    user.sign_in("designer")
    page = user.page
    page.goto(f"/designer/dmn?file={file_id}")
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true", timeout=30000)
    expect(page.locator("#canvas")).to_contain_text("是否属于重大执法决定")
    user.shot(page, "dmn")
    page.get_by_role("button", name="校验").click()
    expect(page.locator("body")).to_have_attribute("data-validated", "ok")
    page.locator("#comment").fill("核对决策表")
    page.get_by_role("button", name="发布").click()
    expect(page.locator("body")).to_have_attribute("data-deployed", "200")    # nothing the engine runs changed
    expect(page.locator("#status")).to_contain_text("内容未变化")
