"""The procedures in workflows/bpmn/ follow the modelling conventions: every element named (in Chinese),
lanes name existing roles, every user task names its unit, its form and its time limit, and every model
has a diagram bpmn-js can draw."""
from __future__ import annotations

import glob
import os

import pytest
from lxml import etree

from forms import default_registry

ROOT = os.path.dirname(os.path.dirname(__file__))
MODELS = sorted(glob.glob(os.path.join(ROOT, "workflows", "bpmn", "*.bpmn")))
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
ROLES = {"承办人", "法制审核人员", "机关负责人", "执法监督科", "回访人员", "行政执法监督员", "流程设计员", "管理员",
         "纪检监察人员", "行政执法监督专家"}
NODES = ("startEvent", "endEvent", "userTask", "scriptTask", "businessRuleTask", "exclusiveGateway",
         "parallelGateway", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "callActivity",
         "subProcess")


def has_chinese(text: str | None) -> bool:
    return bool(text) and any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.nodb
@pytest.mark.parametrize("path", MODELS, ids=[os.path.basename(m) for m in MODELS])
def test_conventions(path):
    tree = etree.parse(path)
    for tag in NODES + ("process", "lane", "participant"):
        for el in tree.xpath(f"//bpmn:{tag}", namespaces=NS):
            assert has_chinese(el.get("name")), (tag, el.get("id"))
    for lane in tree.xpath("//bpmn:lane", namespaces=NS):
        assert lane.get("name") in ROLES, lane.get("name")
    forms = default_registry().keys()
    for task in tree.xpath("//bpmn:userTask", namespaces=NS):
        props = {p.get("name"): p.get("value") for p in task.xpath(".//spiffworkflow:property", namespaces=NS)}
        assert props.get("unit") or props.get("assignee"), task.get("id")     # a unit, or one named person
        assert props.get("formKey") in forms, task.get("id")
        assert props.get("sla") or props.get("dueDate"), task.get("id")
    shapes = {s.get("bpmnElement") for s in tree.xpath("//bpmndi:BPMNShape", namespaces=NS)}
    for tag in NODES:
        for el in tree.xpath(f"//bpmn:{tag}", namespaces=NS):
            assert el.get("id") in shapes, ("no diagram shape", el.get("id"))
