"""Versions: the diff of two versions and moving running cases to a newer version."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from engine.errors import Conflict
from engine.models import ProcessDefinition, ProcessInstance
from engine.runtime import Runtime
from engine import versions
from web.extensions import db

from .procedures import STARTER, Case

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="D" targetNamespace="x">'
        '<bpmn:process id="ver_demo" name="版本演示" isExecutable="true"><bpmn:laneSet id="ls"><bpmn:lane id="l" name="承办人">'
        '{refs}</bpmn:lane></bpmn:laneSet><bpmn:startEvent id="s" name="开始">' + STARTER + '</bpmn:startEvent>{tasks}<bpmn:endEvent id="e" name="结束"/>{flows}'
        '</bpmn:process></bpmn:definitions>')


def model(steps: list[tuple[str, str]]) -> bytes:
    ids = ["s"] + [i for i, _ in steps] + ["e"]
    tasks = "".join(f'<bpmn:userTask id="{i}" name="{n}"><bpmn:extensionElements><spiffworkflow:properties>'
                    f'<spiffworkflow:property name="unit" value="case_unit"/><spiffworkflow:property name="sla" '
                    f'value="5 working days"/></spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>'
                    for i, n in steps)
    flows = "".join(f'<bpmn:sequenceFlow id="f_{a}_{b}" sourceRef="{a}" targetRef="{b}"/>' for a, b in zip(ids, ids[1:]))
    refs = "".join(f"<bpmn:flowNodeRef>{i}</bpmn:flowNodeRef>" for i in ids)
    return HEAD.format(refs=refs, tasks=tasks, flows=flows).encode("utf-8")


def deploy(client, token, content: bytes):
    resp = client.post("/api/deployments", headers=token("designer"), content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(content), "ver_demo.bpmn")], "comment": "测试"})
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()


def latest(version: int) -> ProcessDefinition:
    return db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == "ver_demo",
                                                              ProcessDefinition.version == version)).one()


@pytest.fixture
def two_versions(client, token):
    first = deploy(client, token, model([("a", "登记"), ("b", "审核")]))
    v1 = first["created"][0]["version"] if first["created"] else first["unchanged"][0]["version"]
    old = Case(client, token, "ver_demo", "guan_scjg_handler", {}, business_key="V-OLD")
    second = deploy(client, token, model([("a", "登记"), ("c", "新增复核"), ("b", "审核（修改）")]))
    v2 = second["created"][0]["version"]
    return old, latest(v1), latest(v2)


def test_diff_lists_added_removed_and_changed(two_versions):
    _, v1, v2 = two_versions
    result = versions.diff(v1, v2)
    assert [e["name"] for e in result["added"] if e["type"] == "userTask"] == ["新增复核"]
    assert [e["id"] for e in result["removed"]] == ["f_a_b"]
    assert {c["id"]: c["changes"][0]["after"] for c in result["changed"] if c["type"] == "userTask"} == {"b": "审核（修改）"}


def test_old_cases_stay_new_cases_follow_and_a_migrated_case_continues(ctx, client, token, two_versions):
    old, v1, v2 = two_versions
    stays = Case(client, token, "ver_demo", "guan_scjg_handler", {}, business_key="V-STAYS")
    assert stays.state()["version"] == v2.version
    assert old.state()["version"] == v1.version
    task = old.expect("登记", "handler", "lf.guan.scjg", "guan_scjg_handler")
    assert client.post(f"/api/tasks/{task['id']}/claim", headers=token("guan_scjg_handler")).status_code == 200
    runtime = Runtime(db.session, ctx.extensions["clock"])
    instance = db.session.get(ProcessInstance, old.id)
    check = versions.preview(runtime, instance, v2)
    assert check["can_migrate"] and check["waiting"] == ["登记"]
    versions.migrate(runtime, instance, v2, actor="designer")
    db.session.commit()
    assert old.state()["version"] == v2.version
    assert old.expect("登记", "handler", "lf.guan.scjg", "guan_scjg_handler")["claimed_by"] == "guan_scjg_handler"
    old.do("登记", "handler", "lf.guan.scjg", "guan_scjg_handler")
    assert old.names() == ["新增复核"]                                   # the new path
    assert [h["data"]["to_version"] for h in old.history("instance_migrated")] == [v2.version]


def test_a_case_waiting_at_a_removed_step_cannot_move(ctx, client, token, two_versions):
    old, v1, v2 = two_versions
    third = deploy(client, token, model([("z", "全新步骤")]))
    v3 = latest(third["created"][0]["version"])
    runtime = Runtime(db.session, ctx.extensions["clock"])
    instance = db.session.get(ProcessInstance, old.id)
    check = versions.preview(runtime, instance, v3)
    assert not check["can_migrate"] and check["blocked"] == ["登记"]
    with pytest.raises(Conflict):
        versions.migrate(runtime, instance, v3, actor="designer")
    db.session.rollback()
    assert old.state()["version"] == v1.version
