"""Process designers: who may design, validation with element-level errors, comments on deployments,
versions, diff, migration and downloads — through the pages and the API."""
from __future__ import annotations

import io
import re

from .test_pages import csrf, sign_in
from .test_versions import deploy, latest, model
from .procedures import Case

BAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
       'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="D" targetNamespace="x">'
       '<bpmn:process id="bad_model" name="错误模型" isExecutable="true"><bpmn:laneSet id="ls">'
       '<bpmn:lane id="lane_x" name="不存在的角色"><bpmn:flowNodeRef>t1</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>'
       '<bpmn:startEvent id="s" name="开始"/>'
       '<bpmn:userTask id="t1" name="填表"><bpmn:extensionElements><spiffworkflow:properties>'
       '<spiffworkflow:property name="formKey" value="no_such_form"/></spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>'
       '<bpmn:scriptTask id="evil" name="脚本"><bpmn:script>__import__("os").system("id")</bpmn:script></bpmn:scriptTask>'
       '<bpmn:endEvent id="e" name="结束"/>'
       '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t1"/><bpmn:sequenceFlow id="f2" sourceRef="t1" targetRef="evil"/>'
       '<bpmn:sequenceFlow id="dangling" sourceRef="evil" targetRef="nowhere"/>'
       '</bpmn:process></bpmn:definitions>')


def test_only_designers_design(ctx, token):
    pages = ctx.test_client()
    sign_in(pages, "guan_review")
    for path in ("/designer", "/designer/modeler", "/designer/major_decision_review/versions"):
        assert pages.get(path).status_code == 403, path
    client = ctx.test_client()                     # the API with a token, no session
    assert client.post("/api/designer/validate", headers=token("guan_review"), json={"xml": BAD}).status_code == 403
    assert client.get("/api/designer/meta", headers=token("guan_review")).status_code == 403
    resp = client.post("/api/deployments", headers=token("guan_review"), content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(model([("a", "甲")])), "x.bpmn")], "comment": "x"})
    assert resp.status_code == 403
    assert client.post("/api/designer/ver_demo/migrations", headers=token("guan_review"), json={}).status_code == 403
    assert client.get("/api/designer/meta", headers=token("designer")).status_code == 200


def test_validation_lists_four_errors_on_their_elements_and_deploy_refuses(client, token):
    resp = client.post("/api/designer/validate", headers=token("designer"), json={"filename": "bad.bpmn", "xml": BAD})
    body = resp.get_json()
    assert resp.status_code == 200 and body["ok"] is False
    by_element = {e["element_id"]: e["message"] for e in body["errors"]}
    assert set(by_element) == {"dangling", "lane_x", "t1", "evil"}
    assert "不存在的元素" in by_element["dangling"] and "角色" in by_element["lane_x"]
    assert "no_such_form" in by_element["t1"] and "__import__" in by_element["evil"]
    resp = client.post("/api/deployments", headers=token("designer"), content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(BAD.encode()), "bad.bpmn")], "comment": "试试"})
    assert resp.status_code == 422
    good = client.post("/api/designer/validate", headers=token("designer"),
                       json={"filename": "ok.bpmn", "xml": model([("a", "甲")]).decode()}).get_json()
    assert good == {"ok": True, "message": "未发现问题", "errors": [], "warnings": []}


def test_deploying_needs_a_comment_and_is_audited(client, token):
    resp = client.post("/api/deployments", headers=token("designer"), content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(model([("a", "甲"), ("q", "乙")])), "ver_demo.bpmn")]})
    assert resp.status_code == 422 and "comment" in resp.get_json()["fields"]
    deploy(client, token, model([("a", "甲"), ("q", "乙")]))
    from engine.models import AuditEvent
    from web.extensions import db
    from sqlalchemy import select
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "deployed")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.actor == "designer" and event.data["comment"] == "测试"


def test_versions_diff_migrate_and_download_pages(ctx, client, token):
    deploy(client, token, model([("a", "登记"), ("b", "审核")]))
    old = Case(client, token, "ver_demo", "guan_scjg_handler", {}, business_key="V-PAGE")
    second = deploy(client, token, model([("a", "登记"), ("c", "新增复核"), ("b", "审核")]))
    v1, v2 = old.state()["version"], (second["created"] or second["unchanged"])[0]["version"]
    assert v2 > v1
    pages = ctx.test_client()                     # the designer's browser session; `client` stays token-only
    sign_in(pages, "designer")
    page = pages.get("/designer/ver_demo/versions").get_data(as_text=True)
    assert f'data-version="{v2}"' in page and "测试" in page and "designer" in page
    diff = pages.get(f"/designer/ver_demo/diff?a={v1}&b={v2}").get_data(as_text=True)
    assert re.search(r'<ul id="added">.*新增复核', diff, re.S)
    migrate = pages.get(f"/designer/ver_demo/migrate?from={v1}")
    assert migrate.status_code == 200 and "V-PAGE" in migrate.get_data(as_text=True)
    resp = pages.post(f"/designer/ver_demo/migrate?from={v1}", data={"csrf_token": csrf(migrate), "instance": old.id})
    assert resp.status_code == 302
    assert old.state()["version"] == v2
    assert [h["action"] for h in old.state()["history"]].count("instance_migrated") == 1
    source = pages.get(f"/designer/definitions/{latest(v2).id}/ver_demo.bpmn")
    assert source.status_code == 200 and b"\xe6\x96\xb0\xe5\xa2\x9e\xe5\xa4\x8d\xe6\xa0\xb8" in source.data   # 新增复核
