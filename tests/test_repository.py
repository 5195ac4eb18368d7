"""Deployment through POST /api/deployments and `flask deploy`: every refused upload answers 4xx with errors
that say where (file / element id / line) and deploys nothing; versions, idempotence, instances keeping
their version and call activities resolved against earlier deployments."""
from __future__ import annotations

from tests.procedures import STARTER

import io
import re
import time

import pytest
from sqlalchemy import func, select

from engine.errors import DeploymentError
from engine.models import Deployment, DeploymentFile, ProcessDefinition
from web.extensions import db

DESIGNER = "designer"
HANDLER = "guan_guanzhen_handler"


# -- building small models -------------------------------------------------------------------------------

def definitions(*parts: str, ns_id: str = "Defs") -> bytes:
    return ("""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="%s" targetNamespace="http://bpmn.io/schema/bpmn">
""" % ns_id + "\n".join(parts) + "\n</bpmn:definitions>\n").encode("utf-8")


def process(key: str, *steps: str, name: str = "测试流程", lane: str | None = "handler", extra: str = "") -> str:
    """start → steps (XML elements, each with an id) → end, with the sequence flows, all in one lane."""
    ids = [f"{key}_start"] + [re.search(r'\bid="([^"]+)"', s).group(1) for s in steps] + [f"{key}_end"]
    flows = "\n".join(f'    <bpmn:sequenceFlow id="{key}_f{i}" sourceRef="{a}" targetRef="{b}" />'
                      for i, (a, b) in enumerate(zip(ids, ids[1:]), 1))
    lanes = ""
    if lane is not None:
        refs = "".join(f"<bpmn:flowNodeRef>{i}</bpmn:flowNodeRef>" for i in ids)
        lanes = (f'    <bpmn:laneSet id="{key}_ls"><bpmn:lane id="{key}_lane" name="{lane}">{refs}</bpmn:lane>'
                 '</bpmn:laneSet>\n')
    body = "\n".join("    " + s for s in steps)
    return f"""  <bpmn:process id="{key}" name="{name}" isExecutable="true">
{lanes}    <bpmn:startEvent id="{key}_start">{STARTER}</bpmn:startEvent>
{body}
    <bpmn:endEvent id="{key}_end" />
{flows}
{extra}  </bpmn:process>"""


def user_task(task_id: str, name: str = "办理") -> str:
    return f'<bpmn:userTask id="{task_id}" name="{name}" />'


def script_task(task_id: str, script: str) -> str:
    return f'<bpmn:scriptTask id="{task_id}" name="脚本"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>'


def call(task_id: str, called: str) -> str:
    return f'<bpmn:callActivity id="{task_id}" name="调用" calledElement="{called}" />'


def one_task(key: str, *steps: str, **kw) -> bytes:
    return definitions(process(key, *steps, **kw), ns_id=f"Defs_{key}")


def line_of(content: bytes, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for number, text in enumerate(content.decode("utf-8").splitlines(), 1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in the model")


# -- calling the API ------------------------------------------------------------------------------------

def upload(client, headers, files: list[tuple[str, bytes]], comment: str = "test", lang: str | None = "en"):
    """Messages are asserted in English (``?lang=en``); the default language is Simplified Chinese."""
    return client.post("/api/deployments" + (f"?lang={lang}" if lang else ""), headers=headers,
                       data={"files": [(io.BytesIO(content), name) for name, content in files], "comment": comment},
                       content_type="multipart/form-data")


def deploy(client, token, files, comment="test"):
    return upload(client, token(DESIGNER), files, comment)


def snapshot(client, token) -> tuple:
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(ProcessDefinition)),
            db.session.scalar(select(func.count()).select_from(Deployment)),
            db.session.scalar(select(func.count()).select_from(DeploymentFile)),
            client.get("/api/processes", headers=token(DESIGNER)).get_json()["processes"])


def refused(client, token, files, status=422, headers=None, lang="en") -> dict:
    """Upload, expect ``status``, check that nothing was deployed; return the JSON body."""
    before = snapshot(client, token)
    resp = upload(client, headers if headers is not None else token(DESIGNER), files, lang=lang)
    assert resp.status_code == status, resp.get_json()
    assert snapshot(client, token) == before
    body = resp.get_json()
    assert body["message"]
    return body


def only_error(body: dict) -> dict:
    assert len(body["errors"]) == 1, body["errors"]
    return body["errors"][0]


def start(client, token, key, business_key="R-1", user=HANDLER):
    resp = client.post("/api/instances", headers=token(user),
                       json={"process_key": key, "business_key": business_key, "data": {"title": "测试"}})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


# -- refused: not XML, not safe XML, not BPMN -------------------------------------------------------------

def test_malformed_xml_reports_file_and_line(client, token):
    good = definitions(process("malformed", user_task("t1")))
    content = good.replace(user_task("t1").encode(), user_task("t1").replace(" />", ">").encode())
    assert content != good
    body = refused(client, token, [("malformed.bpmn", content)])
    error = only_error(body)
    assert error["file"] == "malformed.bpmn"
    # the unclosed userTask is detected where its parent closes
    assert error["line"] == line_of(content, "</bpmn:process>")
    assert "Malformed XML" in error["message"]


def test_truncated_file_is_malformed(client, token):
    content = one_task("truncated", user_task("t1"))[:-40]
    error = only_error(refused(client, token, [("truncated.bpmn", content)]))
    assert error["file"] == "truncated.bpmn" and isinstance(error["line"], int) and error["line"] > 1


XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE bpmn:definitions [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs_xxe"
                  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="xxe" name="&xxe;" isExecutable="true">
    <bpmn:startEvent id="start" />
  </bpmn:process>
</bpmn:definitions>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs_lol"
                  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="lolz" name="&lol9;" isExecutable="true"><bpmn:startEvent id="start" /></bpmn:process>
</bpmn:definitions>
"""


def in_encoding(content: bytes, encoding: str) -> bytes:
    """The same document in another encoding: a DOCTYPE a raw-bytes scan for `<!DOCTYPE` cannot see."""
    if encoding == "utf-8":
        return content
    head, rest = content.split(b"?>", 1)
    return (b'<?xml version="1.0" encoding="%s"?>' % encoding.encode() + rest).decode("utf-8").encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("where", ["attribute", "text"])
def test_doctype_with_external_entity_is_refused(client, token, encoding, where):
    content = XXE
    if where == "text":
        content = content.replace(b'name="&xxe;"', b'').replace(
            b'<bpmn:startEvent id="start" />', b'<bpmn:documentation>&xxe;</bpmn:documentation>'
                                               b'<bpmn:startEvent id="start" />')
    body = refused(client, token, [("xxe.bpmn", in_encoding(content, encoding))])
    error = only_error(body)
    assert error["file"] == "xxe.bpmn"
    if encoding == "utf-8" or where == "text":
        assert "DOCTYPE" in error["message"]
    else:  # the parser itself refuses an external entity in an attribute, before the DOCTYPE check
        assert "external entity" in error["message"]
    assert "root:" not in str(body)  # nothing of /etc/passwd came back


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_is_refused(client, token, encoding):
    started = time.monotonic()
    error = only_error(refused(client, token, [("lolz.bpmn", in_encoding(BILLION_LAUGHS, encoding))]))
    assert time.monotonic() - started < 5
    assert error["file"] == "lolz.bpmn"
    if encoding == "utf-8":
        assert "DOCTYPE" in error["message"]
    else:  # libxml2's amplification guard stops the parse before the DOCTYPE check
        assert "DOCTYPE" in error["message"] or "entity" in error["message"]


def test_file_that_is_neither_bpmn_nor_dmn_is_refused(client, token):
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'
    error = only_error(refused(client, token, [("picture.bpmn", svg)]))
    assert error["file"] == "picture.bpmn"
    assert "http://www.w3.org/2000/svg" in error["message"]
    error = only_error(refused(client, token, [("notes.txt", "这不是流程".encode())]))
    assert error["file"] == "notes.txt" and "Malformed XML" in error["message"]


def test_invalid_bpmn_element_is_located(client, token):
    content = one_task("xsd_bad", user_task("t1"), '<bpmn:bogusTask id="bogus1" />')
    error = only_error(refused(client, token, [("xsd_bad.bpmn", content)]))
    assert error["file"] == "xsd_bad.bpmn"
    assert error["element_id"] == "bogus1"
    assert error["line"] == line_of(content, "bogusTask")
    assert "Not valid BPMN" in error["message"]


def test_empty_upload_is_refused(client, token):
    body = refused(client, token, [])
    assert body["errors"] == []
    assert "No files" in body["message"]


def test_only_designers_may_deploy(client, token):
    content = one_task("not_allowed", user_task("t1"))
    refused(client, token, [("not_allowed.bpmn", content)], status=403, headers=token("guan_review"))
    refused(client, token, [("not_allowed.bpmn", content)], status=403, headers=token(HANDLER))
    refused(client, token, [("not_allowed.bpmn", content)], status=401, headers={})
    refused(client, token, [("not_allowed.bpmn", content)], status=401, headers={"Authorization": "Bearer nope"})


# -- refused: scripts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("script", [
    "__import__('os').system('id')",
    "x = ().__class__.__base__.__subclasses__()",
    "x = open('/etc/passwd').read()",
], ids=["import", "subclasses", "open"])
def test_escaping_script_task_is_refused_and_named(client, token, script):
    content = one_task("script_escape", user_task("before"), script_task("evil_script", script))
    error = only_error(refused(client, token, [("script_escape.bpmn", content)]))
    assert error["file"] == "script_escape.bpmn"
    assert error["element_id"] == "evil_script"
    assert error["line"] == line_of(content, "<bpmn:script>")
    assert "not allowed" in error["message"]


def test_every_bad_snippet_is_reported_not_just_the_first(client, token):
    content = one_task("many_bad", script_task("s1", "import os"), script_task("s2", "x = eval('1')"),
                       extra='    <bpmn:sequenceFlow id="cond_flow" sourceRef="s1" targetRef="many_bad_end">'
                             '<bpmn:conditionExpression>getattr(x, "y")</bpmn:conditionExpression>'
                             '</bpmn:sequenceFlow>\n')
    body = refused(client, token, [("many_bad.bpmn", content)])
    assert sorted(e["element_id"] for e in body["errors"]) == ["cond_flow", "s1", "s2"]


def test_script_syntax_error_is_caught_at_deploy(client, token):
    content = one_task("script_syntax", script_task("broken", "x = = 1"))
    error = only_error(refused(client, token, [("script_syntax.bpmn", content)]))
    assert error["element_id"] == "broken" and "Syntax error" in error["message"]


def test_bad_unit_expression_is_refused(client, token):
    task = ('<bpmn:userTask id="routed" name="办理"><bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="unit" value="__import__(\'os\')" />'
            '</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')
    error = only_error(refused(client, token, [("unit_expr.bpmn", one_task("unit_expr", task))]))
    assert error["element_id"] == "routed"


# -- refused: references ----------------------------------------------------------------------------------

def test_sequence_flow_to_missing_element(client, token):
    content = one_task("dangling", user_task("t1"),
                       extra='    <bpmn:sequenceFlow id="to_nowhere" sourceRef="t1" targetRef="ghost" />\n')
    error = only_error(refused(client, token, [("dangling.bpmn", content)]))
    assert (error["file"], error["element_id"]) == ("dangling.bpmn", "to_nowhere")
    assert error["line"] == line_of(content, 'id="to_nowhere"')
    assert "ghost" in error["message"]


def test_sequence_flow_into_another_process(client, token):
    """The target exists in the file, but in another process: still a dangling flow."""
    content = definitions(
        process("flow_a", user_task("a1"),
                extra='    <bpmn:sequenceFlow id="cross" sourceRef="a1" targetRef="b1" />\n'),
        process("flow_b", user_task("b1")), ns_id="Defs_cross")
    body = refused(client, token, [("cross.bpmn", content)])
    assert [e["element_id"] for e in body["errors"]] == ["cross"]


def test_call_activity_to_unknown_process(client, token):
    content = one_task("caller_unknown", call("call_ghost", "no_such_process"))
    error = only_error(refused(client, token, [("caller_unknown.bpmn", content)]))
    assert (error["file"], error["element_id"]) == ("caller_unknown.bpmn", "call_ghost")
    assert error["line"] == line_of(content, 'id="call_ghost"')
    assert "no_such_process" in error["message"]


def test_message_event_naming_undefined_message(client, token):
    """SpiffWorkflow's parser crashes with a TypeError on this; the deploy check answers cleanly first."""
    catch = ('<bpmn:intermediateCatchEvent id="wait_msg" name="等待">'
             '<bpmn:messageEventDefinition messageRef="msg_missing" /></bpmn:intermediateCatchEvent>')
    content = one_task("undefined_msg", catch)
    error = only_error(refused(client, token, [("undefined_msg.bpmn", content)]))
    assert (error["file"], error["element_id"]) == ("undefined_msg.bpmn", "wait_msg")
    assert error["line"] == line_of(content, 'messageRef="msg_missing"')
    assert "msg_missing" in error["message"]


def test_process_calling_itself(client, token):
    content = one_task("self_caller", user_task("t1"), call("call_me", "self_caller"))
    error = only_error(refused(client, token, [("self_caller.bpmn", content)]))
    assert error["element_id"] == "self_caller"
    assert "cycle" in error["message"] and "self_caller → self_caller" in error["message"]


def test_two_processes_calling_each_other(client, token):
    ping = one_task("cycle_ping", call("call_pong", "cycle_pong"))
    pong = one_task("cycle_pong", call("call_ping", "cycle_ping"))
    error = only_error(refused(client, token, [("ping.bpmn", ping), ("pong.bpmn", pong)]))
    assert error["element_id"] in ("cycle_ping", "cycle_pong")
    assert "cycle" in error["message"]
    assert "cycle_ping" in error["message"] and "cycle_pong" in error["message"]


def test_cycle_through_an_earlier_deployment(client, token):
    """A calls B (deployed earlier); a new B that calls A closes a cycle across deployments."""
    assert deploy(client, token, [("cyc_b.bpmn", one_task("cyc_b", user_task("b1")))]).status_code == 201
    assert deploy(client, token, [("cyc_a.bpmn", one_task("cyc_a", call("call_b", "cyc_b")))]).status_code == 201
    error = only_error(refused(client, token, [("cyc_b.bpmn", one_task("cyc_b", call("call_a", "cyc_a")))]))
    assert "cycle" in error["message"] and "cyc_a" in error["message"] and "cyc_b" in error["message"]


def test_lane_naming_unknown_role(client, token):
    content = one_task("bad_lane", user_task("t1"), lane="no_such_role")
    error = only_error(refused(client, token, [("bad_lane.bpmn", content)]))
    assert (error["file"], error["element_id"]) == ("bad_lane.bpmn", "bad_lane_lane")
    assert error["line"] == line_of(content, "no_such_role")
    assert "no_such_role" in error["message"]


def test_lane_may_name_a_role_by_its_chinese_name(client, token):
    resp = deploy(client, token, [("cn_lane.bpmn", one_task("cn_lane", user_task("t1"), lane="承办人"))])
    assert resp.status_code == 201, resp.get_json()


def test_one_bad_file_refuses_the_whole_deployment(client, token):
    good = one_task("good_neighbour", user_task("t1"))
    bad = one_task("bad_neighbour", user_task("t1"), lane="no_such_role")
    body = refused(client, token, [("good.bpmn", good), ("bad.bpmn", bad)])
    assert [e["file"] for e in body["errors"]] == ["bad.bpmn"]
    assert client.post("/api/instances", headers=token(HANDLER),
                       json={"process_key": "good_neighbour"}).status_code == 404


def test_errors_from_several_files_are_all_listed(client, token):
    body = refused(client, token, [("m.bpmn", b"<bpmn:definitions"), ("x.bpmn", XXE),
                                   ("s.bpmn", b"<a/>")])
    assert sorted(e["file"] for e in body["errors"]) == ["m.bpmn", "s.bpmn", "x.bpmn"]


def test_refusal_is_translated_by_default(client, token):
    """Without ?lang=en the answer is in Simplified Chinese; the location fields are the same."""
    body = refused(client, token, [("xxe.bpmn", XXE)], lang=None)
    assert body["message"] == "发布被拒绝"
    assert only_error(body)["file"] == "xxe.bpmn" and "DOCTYPE" in only_error(body)["message"]


# -- accepted: versions ------------------------------------------------------------------------------------

def test_same_content_twice_is_unchanged_and_new_content_is_the_next_version(client, token):
    v1 = one_task("versioned", user_task("t1"))
    first = deploy(client, token, [("versioned.bpmn", v1)], comment="first")
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["created"] == [{"key": "versioned", "version": 1}]
    listed = {p["key"]: p for p in client.get("/api/processes", headers=token(DESIGNER)).get_json()["processes"]}
    assert listed["versioned"]["version"] == 1 and listed["versioned"]["deployed_by"] == DESIGNER

    before = snapshot(client, token)
    again = deploy(client, token, [("versioned.bpmn", v1)], comment="again")
    assert again.status_code == 200, again.get_json()
    body = again.get_json()
    assert [w["element_id"] for w in body.pop("warnings")] == ["t1"]        # no time limit: warned every time
    assert body == {"deployment_id": None, "created": [], "unchanged": [{"key": "versioned", "version": 1}]}
    assert snapshot(client, token) == before

    v2 = one_task("versioned", user_task("t1"), user_task("t2", "复核"))
    second = deploy(client, token, [("versioned.bpmn", v2)], comment="second")
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["created"] == [{"key": "versioned", "version": 2}]
    assert second.get_json()["deployment_id"] != first.get_json()["deployment_id"]
    listed = {p["key"]: p for p in client.get("/api/processes", headers=token(DESIGNER)).get_json()["processes"]}
    assert listed["versioned"]["version"] == 2
    stored = db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == "versioned")
                                .order_by(ProcessDefinition.version)).all()
    assert [(d.version, d.deployment.comment) for d in stored] == [(1, "first"), (2, "second")]

    third = deploy(client, token, [("versioned.bpmn", v1)])
    assert third.status_code == 201 and third.get_json()["created"] == [{"key": "versioned", "version": 3}]


def test_instance_keeps_its_version_after_a_new_one_is_deployed(client, token):
    v1 = one_task("keeps_version", user_task("only", "唯一步骤"))
    assert deploy(client, token, [("keeps_version.bpmn", v1)]).status_code == 201
    old = start(client, token, "keeps_version", "KV-1")
    assert old["version"] == 1

    v2 = one_task("keeps_version", user_task("only", "唯一步骤"), user_task("extra", "新增步骤"))
    resp = deploy(client, token, [("keeps_version.bpmn", v2)])
    assert resp.get_json()["created"] == [{"key": "keeps_version", "version": 2}]

    new = start(client, token, "keeps_version", "KV-2")
    assert new["version"] == 2
    assert client.get(f"/api/instances/{old['id']}", headers=token(HANDLER)).get_json()["version"] == 1

    # the old instance also runs on v1: finishing its only task ends it (v2 would open "extra")
    task = old["open_tasks"][0]
    assert client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={}).status_code == 200
    done = client.get(f"/api/instances/{old['id']}", headers=token(HANDLER)).get_json()
    assert (done["status"], done["version"], done["open_tasks"]) == ("completed", 1, [])
    task = new["open_tasks"][0]
    assert client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={}).status_code == 200
    after = client.get(f"/api/instances/{new['id']}", headers=token(HANDLER)).get_json()
    assert after["status"] == "running" and [t["element_id"] for t in after["open_tasks"]] == ["extra"]


def test_call_activity_resolves_a_process_from_an_earlier_deployment(client, token):
    callee = one_task("earlier_callee", user_task("callee_task", "被调用步骤"))
    assert deploy(client, token, [("earlier_callee.bpmn", callee)]).status_code == 201
    caller = one_task("later_caller", call("call_earlier", "earlier_callee"))
    resp = deploy(client, token, [("later_caller.bpmn", caller)])
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["created"] == [{"key": "later_caller", "version": 1}]
    instance = start(client, token, "later_caller", "CALL-1")
    assert [t["element_id"] for t in instance["open_tasks"]] == ["callee_task"]
    task = instance["open_tasks"][0]
    assert client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={}).status_code == 200
    assert client.get(f"/api/instances/{instance['id']}", headers=token(HANDLER)).get_json()["status"] == "completed"


def test_changed_caller_alone_after_deploying_it_with_its_callee(client, token):
    """Caller and callee went out together; later only the caller changes. The callee comes from the
    earlier deployment, whose copy of the old caller must not clash with the new one."""
    callee = one_task("pair_callee", user_task("pc_task"))
    caller_v1 = one_task("pair_caller", call("call_pair", "pair_callee"))
    resp = deploy(client, token, [("pair_caller.bpmn", caller_v1), ("pair_callee.bpmn", callee)])
    assert resp.status_code == 201, resp.get_json()
    caller_v2 = one_task("pair_caller", user_task("intro", "受理"), call("call_pair", "pair_callee"))
    resp = deploy(client, token, [("pair_caller.bpmn", caller_v2)])
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["created"] == [{"key": "pair_caller", "version": 2}]
    instance = start(client, token, "pair_caller", "PAIR-1")
    assert instance["version"] == 2 and [t["element_id"] for t in instance["open_tasks"]] == ["intro"]


def test_calling_two_processes_deployed_together_earlier(client, token):
    both = definitions(process("dual_one", user_task("one_task")),
                       process("dual_two", user_task("two_task")), ns_id="Defs_dual")
    assert deploy(client, token, [("dual.bpmn", both)]).status_code == 201
    caller = one_task("dual_caller", call("c1", "dual_one"), call("c2", "dual_two"))
    resp = deploy(client, token, [("dual_caller.bpmn", caller)])
    assert resp.status_code == 201, resp.get_json()
    instance = start(client, token, "dual_caller", "DUAL-1")
    assert [t["element_id"] for t in instance["open_tasks"]] == ["one_task"]


def test_call_activity_uses_the_latest_callee_version(client, token):
    """Two callees deployed together; one of them gets a new version on its own. A caller of both runs the
    first from the shared deployment and the newer version of the second."""
    pair = definitions(process("stale_b", user_task("b_v1")),
                       process("stale_c", user_task("c_v1")), ns_id="Defs_stale")
    assert deploy(client, token, [("stale.bpmn", pair)]).status_code == 201
    resp = deploy(client, token, [("stale_c.bpmn", one_task("stale_c", user_task("c_v2")))])
    assert resp.get_json()["created"] == [{"key": "stale_c", "version": 2}]
    resp = deploy(client, token, [("stale_caller.bpmn",
                                   one_task("stale_caller", call("cb", "stale_b"), call("cc", "stale_c")))])
    assert resp.status_code == 201, resp.get_json()
    instance = start(client, token, "stale_caller", "STALE-1")
    task = instance["open_tasks"][0]
    assert task["element_id"] == "b_v1"
    assert client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={}).status_code == 200
    after = client.get(f"/api/instances/{instance['id']}", headers=token(HANDLER)).get_json()
    assert [t["element_id"] for t in after["open_tasks"]] == ["c_v2"]


# -- flask deploy ------------------------------------------------------------------------------------------

def test_cli_deploy_refuses_a_bad_file_with_exit_code_1(ctx, client, token, tmp_path):
    path = tmp_path / "cli_bad.bpmn"
    path.write_bytes(one_task("cli_bad", user_task("t1"), script_task("cli_script", "import os")))
    before = snapshot(client, token)
    result = ctx.test_cli_runner().invoke(args=["deploy", str(path)])
    assert result.exit_code == 1, result.output
    assert "cli_bad.bpmn" in result.output and "[cli_script]" in result.output
    assert "Import" in result.output  # what was refused
    assert snapshot(client, token) == before

    path = tmp_path / "cli_xxe.bpmn"
    path.write_bytes(XXE)
    result = ctx.test_cli_runner().invoke(args=["deploy", str(path)])
    assert result.exit_code == 1 and "cli_xxe.bpmn" in result.output
    assert snapshot(client, token) == before


def test_cli_deploy_of_a_good_file_and_again(ctx, client, token, tmp_path):
    path = tmp_path / "cli_good.bpmn"
    path.write_bytes(one_task("cli_good", user_task("t1")))
    result = ctx.test_cli_runner().invoke(args=["deploy", str(path), "--comment", "from the cli"])
    assert result.exit_code == 0, result.output
    assert "deployed cli_good v1" in result.output
    assert "warning: cli_good.bpmn" in result.output and "[t1]" in result.output     # no time limit: deployed anyway
    result = ctx.test_cli_runner().invoke(args=["deploy", str(path)])
    assert result.exit_code == 0 and "unchanged cli_good v1" in result.output
    db.session.expire_all()
    definition = db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == "cli_good")).one()
    assert (definition.deployment.deployed_by, definition.deployment.comment) == ("cli", "from the cli")


def test_a_form_the_model_names_must_exist(ctx, client, token):
    task = ('<bpmn:userTask id="needs_form" name="填表"><bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="formKey" value="no_such_form" /></spiffworkflow:properties>'
            '</bpmn:extensionElements></bpmn:userTask>')
    content = one_task("missing_form", task)
    before = snapshot(client, token)
    resp = deploy(client, token, [("missing_form.bpmn", content)])
    assert resp.status_code == 422, resp.get_json()
    [error] = resp.get_json()["errors"]
    assert error["element_id"] == "needs_form" and "no_such_form" in error["message"]
    assert snapshot(client, token) == before


def test_a_model_alone_finds_its_decision_table_deployed_earlier(ctx):
    """A designer redeploys the legal-review model by itself: the DMN deployed with it before is found."""
    import os
    from web.services import repository
    path = os.path.join(os.path.dirname(__file__), "..", "workflows", "bpmn", "major_decision_review.bpmn")
    with open(path, "rb") as fh:
        content = fh.read().replace("提出法制审核申请".encode(), "提出法制审核申请（单独发布）".encode())
    result = repository().deploy([("major_decision_review.bpmn", content)], actor="tests", comment="单独发布")
    db.session.rollback()                 # leave the shared database as it was
    assert [d.key for d in result.created] == ["major_decision_review"]
    unknown = content.replace(b"<spiffworkflow:calledDecisionId>major_decision<",
                              b"<spiffworkflow:calledDecisionId>no_such_decision<")
    with pytest.raises(DeploymentError) as err:
        repository().check([("major_decision_review.bpmn", unknown)])
    assert err.value.errors[0]["element_id"] == "decide_major"


def test_a_changed_decision_table_gives_its_processes_new_versions(ctx):
    import os
    from web.services import repository
    path = os.path.join(os.path.dirname(__file__), "..", "workflows", "bpmn", "major_decision.dmn")
    with open(path, "rb") as fh:
        content = fh.read().replace(b"&gt;= 100000", b"&gt;= 50000")
    before = repository().latest("major_decision_review").version
    result = repository().deploy([("major_decision.dmn", content)], actor="tests", comment="门槛调整为5万元")
    try:
        assert [(d.key, d.version) for d in result.created] == [("major_decision_review", before + 1)]
        assert ">= 50000" in result.created[0].spec_json
    finally:
        db.session.rollback()


# -- steps that wait without a time limit: a warning, never a refusal (issue 9) -------------------------------

def test_a_step_waiting_without_a_time_limit_is_a_deploy_warning(client, token):
    limited = ('<bpmn:userTask id="w_limited" name="有期限"><bpmn:extensionElements><spiffworkflow:properties>'
               '<spiffworkflow:property name="sla" value="5 working days"/></spiffworkflow:properties>'
               '</bpmn:extensionElements></bpmn:userTask>')
    timed = ('<bpmn:boundaryEvent id="w_timer" attachedToRef="w_timed"><bpmn:timerEventDefinition>'
             '<bpmn:timeDate>working_days(5)</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:boundaryEvent>')
    content = one_task("waits", user_task("w_open", "无期限"), limited, user_task("w_timed", "有定时"),
                       extra=timed + "\n")
    resp = deploy(client, token, [("waits.bpmn", content)])
    assert resp.status_code == 201, resp.get_json()
    [warning] = resp.get_json()["warnings"]
    assert (warning["element_id"], warning["file"], warning["line"]) == ("w_open", "waits.bpmn",
                                                                        line_of(content, 'id="w_open"'))
    assert "无期限" in warning["message"] and "time limit" in warning["message"]
    # the designer's check says the same, without deploying; in Chinese by default
    resp = client.post("/api/designer/validate?lang=zh", headers=token(DESIGNER),
                       json={"filename": "waits.bpmn", "xml": content.decode()})
    body = resp.get_json()
    assert body["ok"] is True and [w["element_id"] for w in body["warnings"]] == ["w_open"]
    assert "时限" in body["warnings"][0]["message"]


def test_a_message_wait_raced_by_a_timer_needs_no_limit_of_its_own(client, token):
    key = "raced"
    content = definitions(f'''<bpmn:message id="m_answer" name="raced_answer"/>
  <bpmn:process id="{key}" name="等待答复" isExecutable="true">
    <bpmn:laneSet id="{key}_ls"><bpmn:lane id="{key}_lane" name="handler"><bpmn:flowNodeRef>{key}_start</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="{key}_start">{STARTER}</bpmn:startEvent>
    <bpmn:eventBasedGateway id="{key}_gw"/>
    <bpmn:intermediateCatchEvent id="{key}_answer" name="等待答复"><bpmn:messageEventDefinition messageRef="m_answer"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="{key}_late" name="期满"><bpmn:timerEventDefinition>
      <bpmn:timeDate>working_days(5)</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="{key}_bare" name="无期限等待"><bpmn:messageEventDefinition messageRef="m_answer"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="{key}_end"/>
    <bpmn:sequenceFlow id="{key}_1" sourceRef="{key}_start" targetRef="{key}_gw"/>
    <bpmn:sequenceFlow id="{key}_2" sourceRef="{key}_gw" targetRef="{key}_answer"/>
    <bpmn:sequenceFlow id="{key}_3" sourceRef="{key}_gw" targetRef="{key}_late"/>
    <bpmn:sequenceFlow id="{key}_4" sourceRef="{key}_answer" targetRef="{key}_bare"/>
    <bpmn:sequenceFlow id="{key}_5" sourceRef="{key}_bare" targetRef="{key}_end"/>
    <bpmn:sequenceFlow id="{key}_6" sourceRef="{key}_late" targetRef="{key}_end"/>
  </bpmn:process>''', ns_id="Defs_raced")
    resp = deploy(client, token, [("raced.bpmn", content)])
    assert resp.status_code == 201, resp.get_json()
    assert [w["element_id"] for w in resp.get_json()["warnings"]] == ["raced_bare"]


def test_the_procedures_have_a_time_limit_on_every_waiting_step(ctx):
    from engine.repository import parse_file, waiting_without_limit
    from tests.conftest import PROCEDURES
    for path in PROCEDURES:
        with open(path, "rb") as fh:
            assert waiting_without_limit(parse_file(path.rsplit("/", 1)[-1], fh.read())) == [], path
