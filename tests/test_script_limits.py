"""Scripts and expressions run under budgets (issue "Hardening" point 2): huge powers and repetitions, endless
loops, padding widths and pathological source fail with a clean, translated error naming the step, the
case stays where it was, and the server keeps answering other users meanwhile."""
from __future__ import annotations

import io
import threading
import time

import pytest
import json
import urllib.error
import urllib.request
from sqlalchemy import func, select
from werkzeug.serving import make_server

from engine.errors import ScriptError
from engine.models import AuditEvent, ProcessInstance
from engine.scripting import (GuardedEnvironment, ScriptLimitExceeded, ScriptLimits, check_snippet, evaluate,
                              step_budget)
from web.extensions import db

from .test_scripting import HANDLER, _deploy, _script_process, _start

HOSTILE_EXPRESSIONS = [
    "10 ** 10 ** 10",
    "'a' * 10 ** 9",
    "[0] * 10 ** 9",
    "10 ** 5000 * 10 ** 40000",
    "1 << 10 ** 9",
    "len(list(range(10 ** 9)))",
    "len([x for x in range(10 ** 9)])",
    "'%0999999999d' % 1",
    "'%*d' % (10 ** 9, 1)",
    "'x'.rjust(10 ** 9)",
    "'x'.center(10 ** 9)",
    "'x'.zfill(10 ** 9)",
    "('\\t' * 1000).expandtabs(10 ** 6)",
    "('a' * 10 ** 6).replace('a', 'bbbbbbbbbb')",
    "'ab'.join(['x' * 1000] * 10 ** 6)",
    "(1).to_bytes(10 ** 9, 'big')",
    "round(1, -10 ** 9)",
    "sum(1 for a in range(10 ** 6) for b in range(10 ** 6))",
]

HOSTILE_SCRIPTS = [
    "while True:\n    pass",
    "x = 'a'\nwhile True:\n    x = x + x",
    "x = [0]\nwhile True:\n    x *= 2",
    "n = 2\nfor i in range(100):\n    n **= 2",
    "rows = []\nfor i in range(10 ** 6):\n    rows.append('x' * 100)\n    rows = rows + rows",
]


@pytest.mark.nodb
@pytest.mark.parametrize("source", HOSTILE_EXPRESSIONS)
def test_hostile_expressions_stop_at_a_budget(source):
    started = time.monotonic()
    with pytest.raises(ScriptLimitExceeded) as info:
        evaluate(source, {})
    assert time.monotonic() - started < 4
    assert info.value.msgid and "%(" in info.value.msgid        # a message id with its limit, translated later


@pytest.mark.nodb
@pytest.mark.parametrize("source", HOSTILE_SCRIPTS)
def test_hostile_scripts_stop_at_a_budget(source):
    env = GuardedEnvironment(limits=ScriptLimits(seconds=2))
    started = time.monotonic()
    with pytest.raises(ScriptLimitExceeded):
        env.execute(source, {})
    assert time.monotonic() - started < 4


@pytest.mark.nodb
def test_one_step_shares_one_budget():
    """Many small snippets of one engine step add up: the step's budget, not each snippet's, runs out."""
    env = GuardedEnvironment()
    with step_budget(ScriptLimits(operations=1000)):
        for _ in range(9):
            env.execute("for i in range(100):\n    pass", {})
        with pytest.raises(ScriptLimitExceeded):
            env.execute("for i in range(200):\n    pass", {})
    env.execute("for i in range(900):\n    pass", {})      # a new step has its own budget


@pytest.mark.nodb
@pytest.mark.parametrize("source", [
    "-" * 100_000 + "1",
    "(" * 100_000 + "1" + ")" * 100_000,
    "[" * 1_000 + "]" * 1_000,
    "a" + " + a" * 30_000,
    "f'{x:>{width}}'",
    "f'{x:>999999999}'",
    "x\0",
])
def test_pathological_source_is_refused_not_crashing(source):
    with pytest.raises(ScriptError):
        check_snippet(source, "eval")


@pytest.mark.nodb
@pytest.mark.parametrize("expression,data,expected", [
    ("2 ** 64", {}, 18446744073709551616),
    ("'-' * 20", {}, "-" * 20),
    ("[0] * 3", {}, [0, 0, 0]),
    ("'%05d号' % n", {"n": 42}, "00042号"),
    ("f'{amount:,.2f}元'", {"amount": 50000}, "50,000.00元"),
    ("'、'.join(names)", {"names": ["甲", "乙"]}, "甲、乙"),
    ("sum(range(1000))", {}, 499500),
    ("str(n).zfill(6)", {"n": 12}, "000012"),
    ("round(a, 2)", {"a": 1.005}, 1.0),
])
def test_ordinary_uses_of_the_guarded_operations_still_work(expression, data, expected):
    assert evaluate(expression, data) == expected


@pytest.mark.nodb
def test_augmented_assignment_keeps_its_meaning():
    env = GuardedEnvironment()
    context = {"items": [1], "d": {"n": 1}, "s": "a"}
    env.execute("alias = items\nitems += [2]\nd['n'] *= 5\ns += 'b'\ns *= 2", context)
    assert context["alias"] == [1, 2] and context["items"] == [1, 2]      # lists still extend in place
    assert context["d"] == {"n": 5} and context["s"] == "abab"


@pytest.mark.nodb
@pytest.mark.parametrize("source,fragment", [
    ("x = {}[1]", "no field 1"),
    ("x = 1 / 0", "ZeroDivisionError"),
    ("x = int('a')", "ValueError"),
])
def test_ordinary_script_failures_are_script_errors(source, fragment):
    with pytest.raises(ScriptError) as info:
        GuardedEnvironment().execute(source, {})
    assert fragment in info.value.message


# -- inside a real workflow, through the API -------------------------------------------------------------

def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("name,script", [
    ("power", "x = 10 ** 10 ** 10"),
    ("repeat", "x = 'a' * 10 ** 9"),
    ("loop", "while True:\n    pass"),
    ("missing_key", "x = {}[1]"),
    ("a_set", "x = {1, 2}\nbig = False\ntarget_unit = case_unit"),
])
def test_a_hostile_script_fails_its_start_cleanly(client, token, name, script):
    key = f"limits_{name}"
    assert _deploy(client, token, key, _script_process(key, script)).status_code == 201
    instances, audit = _count(ProcessInstance), _count(AuditEvent)
    started = time.monotonic()
    resp = _start(client, token, key, {"amount": 1})
    assert time.monotonic() - started < 5
    assert resp.status_code == 422, resp.get_json()
    message = resp.get_json()["message"]
    assert "计算" in message                            # names the step by its name
    assert "Error" not in message.split("：")[0]
    db.session.expire_all()
    assert (_count(ProcessInstance), _count(AuditEvent)) == (instances, audit)


def test_a_hostile_script_in_a_running_case_leaves_the_case_where_it_was(client, token):
    """The script runs after a user task: completing it fails with 422, the task stays open and can be
    completed again once the data no longer drives the script into its limit."""
    key = "limits_after_task"
    content = _script_process(key, "x = 'a' * n\nbig = False").replace(
        b'</bpmn:startEvent>', b'</bpmn:startEvent><bpmn:userTask id="first" name="\xe5\xa1\xab\xe5\x86\x99" />', 1
    ).replace(b'sourceRef="start" targetRef="calc"', b'sourceRef="start" targetRef="first" /><bpmn:sequenceFlow '
              b'id="f0" sourceRef="first" targetRef="calc"')
    content = content.replace(b'<bpmn:flowNodeRef>small</bpmn:flowNodeRef>',
                              b'<bpmn:flowNodeRef>first</bpmn:flowNodeRef><bpmn:flowNodeRef>small</bpmn:flowNodeRef>')
    resp = _deploy(client, token, key, content)
    assert resp.status_code == 201, resp.get_json()
    body = _start(client, token, key, {"target_unit": "lf.guan.guanzhen.zfd"}).get_json()
    task = body["open_tasks"][0]
    assert task["element_id"] == "first"
    bad = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={"data": {"n": 10 ** 9}})
    assert bad.status_code == 422, bad.get_json()
    again = client.get(f"/api/instances/{body['id']}", headers=token(HANDLER)).get_json()
    assert [t["element_id"] for t in again["open_tasks"]] == ["first"]
    good = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={"data": {"n": 3}})
    assert good.status_code == 200, good.get_json()


@pytest.mark.realtime
def test_the_server_answers_others_while_a_hostile_start_runs(app, client, token):
    """One client starts a case whose script computes 10 ** 10 ** 10 (and one with an endless loop); another
    client's /api/health is answered within a second meanwhile, and each start answers 4xx within 5 s."""
    for key, script in (("limits_live_power", "x = 10 ** 10 ** 10"), ("limits_live_loop", "while True:\n    pass")):
        assert _deploy(client, token, key, _script_process(key, script)).status_code in (200, 201)
    headers = token(HANDLER)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        for key in ("limits_live_power", "limits_live_loop"):
            result = {}

            def start():
                t0 = time.monotonic()
                body = json.dumps({"process_key": key, "business_key": key, "data": {"amount": 1}}).encode()
                request = urllib.request.Request(f"{base}/api/instances", data=body, method="POST",
                                                 headers={**headers, "Content-Type": "application/json"})
                try:
                    status = urllib.request.urlopen(request, timeout=30).status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                result.update(status=status, seconds=time.monotonic() - t0)

            starter = threading.Thread(target=start)
            starter.start()
            time.sleep(0.2)
            t0 = time.monotonic()
            health = urllib.request.urlopen(f"{base}/api/health", timeout=5)
            health_seconds = time.monotonic() - t0
            starter.join(10)
            assert health.status == 200 and health_seconds < 1, (key, health_seconds)
            assert result["status"] == 422 and result["seconds"] < 5, (key, result)
    finally:
        server.shutdown()


# -- deploy-time checks ----------------------------------------------------------------------------------

def _with_condition(key: str, condition: str) -> bytes:
    from xml.sax.saxutils import escape
    return _script_process(key, "big = True\ntarget_unit = case_unit").replace(
        b"<bpmn:conditionExpression>big</bpmn:conditionExpression>",
        f"<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>".encode())


def _with_element(key: str, element: str) -> bytes:
    """The script process with one more element between the script and the gateway."""
    return _script_process(key, "big = True\ntarget_unit = case_unit").replace(
        b'<bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="gw" />',
        b'<bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="extra" />'
        b'<bpmn:sequenceFlow id="f2b" sourceRef="extra" targetRef="gw" />' + element.encode())


@pytest.mark.parametrize("name,content,element", [
    ("minus", lambda k: _with_condition(k, "-" * 100_000 + "1"), "to_large"),
    ("parens", lambda k: _with_condition(k, "(" * 50_000 + "big" + ")" * 50_000), "to_large"),
    ("width", lambda k: _with_condition(k, "f'{big:>999999999}' != ''"), "to_large"),
    ("service_task", lambda k: _with_element(k, '<bpmn:serviceTask id="extra" name="调用" />'), "extra"),
    ("service_param", lambda k: _with_element(
        k, '<bpmn:serviceTask id="extra"><bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="http">'
           '<spiffworkflow:parameters><spiffworkflow:parameter id="url" type="str" '
           'value="__import__(\'os\').system(\'id\')" /></spiffworkflow:parameters>'
           '</spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>'), "extra"),
    ("conditional_event", lambda k: _with_element(
        k, '<bpmn:intermediateCatchEvent id="extra"><bpmn:conditionalEventDefinition id="c1">'
           '<bpmn:condition xsi:type="bpmn:tFormalExpression" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">().__class__</bpmn:condition>'
           '</bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>'), "c1"),
])
def test_pathological_or_unrunnable_models_are_refused_at_deploy(client, token, name, content, element):
    key = f"limits_deploy_{name}"
    resp = _deploy(client, token, key, content(key))
    assert resp.status_code == 422, (resp.status_code, resp.get_data(as_text=True)[:300])
    errors = resp.get_json()["errors"]
    assert any(e["element_id"] == element or (e["element_id"] or "").startswith(element) for e in errors), errors
    assert all(e["message"] for e in errors)
