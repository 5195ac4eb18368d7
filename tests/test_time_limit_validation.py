"""Issue 10 §5: the designer's 校验 refuses a time limit the engine cannot parse (the same parser as the runtime,
engine.sla.parse_limit), with a translated message on the element; valid forms pass."""
from __future__ import annotations

import pytest

from engine.errors import InvalidInput
from engine.sla import parse_limit


def diagram(prop: str, value: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="D" targetNamespace="x">'
            '<bpmn:process id="limit_demo" name="时限" isExecutable="true">'
            '<bpmn:startEvent id="s" name="开始"/>'
            '<bpmn:userTask id="review" name="审查"><bpmn:extensionElements><spiffworkflow:properties>'
            f'<spiffworkflow:property name="{prop}" value="{value}"/></spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>'
            '<bpmn:endEvent id="e" name="结束"/>'
            '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/><bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="e"/>'
            '</bpmn:process></bpmn:definitions>')


def validate(client, token, xml: str) -> dict:
    resp = client.post("/api/designer/validate", headers=token("designer"), json={"filename": "limit_demo.bpmn", "xml": xml})
    assert resp.status_code == 200
    return resp.get_json()


@pytest.mark.parametrize("prop", ["sla", "reminder"])
@pytest.mark.parametrize("value", ["abc", "十个工作日", "7 weeks", "五天", "-3 days"])
def test_what_the_engine_cannot_parse_is_refused(client, token, prop, value):
    with pytest.raises(InvalidInput):
        parse_limit(value)                                    # the runtime would fail on it
    body = validate(client, token, diagram(prop, value))
    assert body["ok"] is False
    [error] = body["errors"]
    assert error["element_id"] == "review"
    assert "无法识别" in error["message"] and value in error["message"] and "7个工作日" in error["message"]


@pytest.mark.parametrize("value", ["7 working days", "7个工作日", "7 工作日", "24 hours", "24小时", "30 days", "30日",
                                   "15天", "P5D", "PT24H"])
def test_valid_time_limits_pass(client, token, value):
    parse_limit(value)
    body = validate(client, token, diagram("sla", value))
    assert body["ok"] is True, body


def test_deploy_refuses_it_too(client, token):
    import io
    resp = client.post("/api/deployments", headers=token("designer"), content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(diagram("sla", "十个工作日").encode()), "limit_demo.bpmn")],
                             "comment": "试试"})
    assert resp.status_code == 422
    assert any(e["element_id"] == "review" for e in resp.get_json()["errors"])
