"""`flask org check` and the designers' organisation check page (issue 9): every (role × unit) a step of the
deployed procedures can be routed to where no active user holds the role."""
from __future__ import annotations

import re

import lxml.html
import yaml
from flask_migrate import upgrade
from lxml import etree
from sqlalchemy import delete, select

from engine.models import RoleAssignment, User
from engine.route_check import check_routes
from web import create_app
from web.extensions import db
from web.services import unit_fields

from .conftest import PROCEDURES
from .test_dashboard import signed_in
from .test_routing import inactive

AWAY, AWAY_UNIT = "guan_yjgl_handler", "lf.guan.yjgl"          # the only handler of 固安县应急管理局


def procedure_keys() -> list[str]:
    """The processes of workflows/bpmn (the test database also holds the tests' own models)."""
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    return sorted(p.get("id") for path in PROCEDURES if path.endswith(".bpmn")
                  for p in etree.parse(path).findall(".//bpmn:process", ns))


def gaps_of(report) -> set[tuple[str, str]]:
    return {(f.role_code, f.unit.code) for f in report.gaps}


def test_the_demo_has_no_gap_and_a_removed_role_is_exactly_one(ctx):
    report = check_routes(db.session, unit_fields, ctx.config["EXTERNAL_MESSAGES"], procedure_keys())
    assert report.ok and report.gaps == [] and report.errors == [] and report.unchecked == []
    assert report.steps >= 40 and report.routes > 1000
    user = db.session.scalar(select(User).where(User.username == AWAY))
    db.session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user.id))
    db.session.flush()
    report = check_routes(db.session, unit_fields, ctx.config["EXTERNAL_MESSAGES"], procedure_keys())
    assert gaps_of(report) == {("handler", AWAY_UNIT)} and not report.ok
    [group] = report.gap_groups()
    assert (group["role_code"], group["tier"], group["kind"]) == ("handler", "county", "enforcement_dept")
    assert [u.code for u in group["units"]] == [AWAY_UNIT]
    steps = {step for _procedure, step in group["steps"]}
    assert {"审查移送案件并答复", "整改并书面回复", "整改回访发现的问题"} <= steps   # referral, notice, revisit
    db.session.rollback()


def test_routing_that_fails_and_routing_it_cannot_follow_are_reported(ctx):
    """A script computing a unit that fails for some case (as the same-township referral did before the fix)
    is an error with an example; a unit expression reading a value nobody provides is "not checked"."""
    from tests.procedures import STARTER
    from web.services import repository
    model = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Defs_rc" targetNamespace="x">
  <bpmn:process id="route_probe" name="路由检查" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="lane" name="handler"><bpmn:flowNodeRef>t1</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>t2</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s">{STARTER}</bpmn:startEvent>
    <bpmn:scriptTask id="init" name="确定单位"><bpmn:script>office = unit_of_kind(case_unit, "no_such_kind")</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="t1" name="办理一"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="unit" value="office"/><spiffworkflow:property name="sla" value="1 days"/>
    </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:userTask id="t2" name="办理二"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="unit" value="somewhere_else"/><spiffworkflow:property name="sla" value="1 days"/>
    </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="init"/><bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="t1"/>
    <bpmn:sequenceFlow id="f3" sourceRef="t1" targetRef="t2"/><bpmn:sequenceFlow id="f4" sourceRef="t2" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""
    repository().deploy([("route_probe.bpmn", model.encode())], actor="tests")
    report = check_routes(db.session, unit_fields, ctx.config["EXTERNAL_MESSAGES"], ["route_probe"])
    [error] = report.errors
    assert (error.element_id, error.msgid) == ("init", "%(unit)s has no unit of kind %(kind)s") and error.example
    unchecked = {f.element_id: f.params["names"] for f in report.unchecked}
    assert unchecked == {"t1": "office", "t2": "somewhere_else"}            # t1: its unit never computed
    assert not report.ok
    db.session.rollback()


def test_the_cli_on_the_demo_and_with_one_role_removed(tmp_path):
    """What an operator runs: a fresh database with the demo (`flask demo load`), then the same organisation
    file with one user's role taken away (`flask org load`)."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'demo.db'}")
    with app.app_context():
        upgrade()
        runner = app.test_cli_runner()
        result = runner.invoke(args=["demo", "load"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["org", "check"])
        assert result.exit_code == 0, result.output
        assert "0 gaps, 0 routing errors, 0 steps not checked" in result.output and "GAP" not in result.output

        with open(app.config["DEMO_ORG_FILE"], encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        [user] = [u for u in doc["users"] if u["username"] == AWAY]
        user["roles"] = []
        changed = tmp_path / "org.yaml"
        changed.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        assert runner.invoke(args=["org", "load", str(changed)]).exit_code == 0
        result = runner.invoke(args=["org", "check"])
        assert result.exit_code == 1, result.output
        gap_lines = [line for line in result.output.splitlines() if line.startswith("GAP")]
        assert gap_lines == ["GAP handler (承办人) at county enforcement_dept: 1 unit(s)"]
        assert f"    {AWAY_UNIT} 固安县应急管理局" in result.output
        assert "1 gaps, 0 routing errors" in result.output
        db.session.remove()


def test_the_page_names_units_roles_and_steps_in_chinese(ctx):
    web = signed_in(ctx, "designer")
    page = web.get("/designer")
    assert "/designer/org-check" in page.get_data(as_text=True)
    only = "?" + "&".join(f"process={k}" for k in procedure_keys())      # not the tests' own models
    with inactive(AWAY):
        page = web.get("/designer/org-check" + only)
        assert page.status_code == 200
        doc = lxml.html.fromstring(page.get_data(as_text=True))
        verdict = doc.get_element_by_id("org-check-verdict").text_content()
        assert "发现 1 个缺口" in verdict
        table = doc.get_element_by_id("org-check-gaps")
        text = table.text_content()
        assert "承办人" in text and "县级" in text and "行政执法部门" in text and "固安县应急管理局" in text
        assert "案件移送（接收单位） · 审查移送案件并答复" in text
        assert not re.search(r"\b(handler|lf\.guan|enforcement_dept|county|review_referral)\b", text)
    page = web.get("/designer/org-check" + only)
    assert "未发现缺口" in page.get_data(as_text=True)
    assert signed_in(ctx, "guan_sup").get("/designer/org-check").status_code == 403
