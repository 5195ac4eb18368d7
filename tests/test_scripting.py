"""The script guard: engine.scripting.check_snippet / evaluate / GuardedEnvironment, and scripts running
inside real workflows started through the API (deployed through the repository, stored in the database)."""
from __future__ import annotations

from tests.procedures import STARTER

import hashlib
import io

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import func, select

from engine.errors import ScriptError
from engine.models import AuditEvent, Deployment, DeploymentFile, ProcessDefinition, ProcessInstance
from engine.scripting import SAFE_BUILTINS, GuardedEnvironment, check_snippet, evaluate, make_script_engine
from engine.serialization import spec_to_json
from web.extensions import db

HANDLER = "guan_guanzhen_handler"

# Two escapes that ran `os.popen(...)` as root before the guard refused them. Neither has an underscore in an
# attribute or a string literal. The first walks generator frames up to a module whose globals hold the real
# builtins; the second reads dunder attributes through class patterns of `match`, reaching `object`
# through __reduce_ex__ and the os module through a subclass's __init__.__globals__.
def frame_escape(command: str = "id") -> str:
    return f'''u = "_" * 2
box = []
g = (b[0].gi_frame.f_back.f_back.f_globals for b in [box])
box.append(g)
gl = list(g)[0]
imp = gl[u + "builtins" + u][u + "import" + u]
leaked = imp("os").popen("{command}").read()
box = g = gl = imp = None
'''


def match_escape(command: str = "id") -> str:
    return f'''match datetime():
    case datetime(__reduce_ex__=r):
        pass
o = r(0)[1][1]
match o:
    case o(__subclasses__=subs):
        pass
w = [c for c in subs() if str(c).endswith("_wrap_close'&gt;")][0]
match w:
    case o(__init__=i):
        pass
match i:
    case o(__globals__=g):
        pass
leaked = g["popen"]("{command}").read()
r = o = subs = w = i = g = None
'''


FRAME_ESCAPE = frame_escape()
MATCH_ESCAPE = match_escape().replace("&gt;", ">")

# name: (snippet, mode, what the refusal names)
ESCAPES = {
    "import_call": ("__import__('os').system('id')", "exec", "__import__"),
    "import_stmt": ("import os", "exec", "Import"),
    "import_from": ("from os import system", "exec", "ImportFrom"),
    "subclasses": ("x = ().__class__.__base__.__subclasses__()", "exec", "__subclasses__"),
    "subclasses_expr": ("().__class__.__base__.__subclasses__()", "eval", "__subclasses__"),
    "open": ("data = open('/etc/passwd').read()", "exec", "open"),
    "open_expr": ("open('/etc/passwd')", "eval", "open"),
    "getattr": ("getattr(1, 'real')", "eval", "getattr"),
    "getattr_dunder": ("getattr((), '__class__')", "eval", "getattr"),
    "eval": ("eval('1 + 1')", "eval", "eval"),
    "exec": ("exec('x = 1')", "exec", "exec"),
    "compile": ("compile('1', 'f', 'eval')", "eval", "compile"),
    "globals": ("globals()", "eval", "globals"),
    "locals": ("locals()", "eval", "locals"),
    "vars": ("vars()", "eval", "vars"),
    "lambda": ("f = lambda: 1", "exec", "Lambda"),
    "lambda_expr": ("(lambda: 1)()", "eval", "Lambda"),
    "def": ("def f():\n    return 1", "exec", "FunctionDef"),
    "class": ("class A:\n    pass", "exec", "ClassDef"),
    "global": ("global x\nx = 1", "exec", "Global"),
    "try": ("try:\n    x = 1\nexcept Exception:\n    pass", "exec", "Try"),
    "try_star": ("try:\n    x = 1\nexcept* ValueError:\n    pass", "exec", "TryStar"),
    "with": ("with x:\n    pass", "exec", "With"),
    "type": ("type(1)", "eval", "type"),
    "dunder_name": ("__builtins__", "eval", "__builtins__"),
    "dunder_attr_on_data": ("x.__dict__", "eval", "__dict__"),
    "private_attr": ("x._secret", "eval", "_secret"),
    "format_dunder_literal": ('"{0.__class__}".format(1)', "eval", "format"),
    "format_dunder_in_script": ('s = "{0.__class__.__base__}".format(1)', "exec", "format"),
    "dunder_string": ("d['__class__']", "eval", "__class__"),
    "format_built_at_run_time": ('("{0._" + "_class_" + "_}").format(1)', "eval", "format"),
    "format_map": ('"{x}".format_map(d)', "eval", "format_map"),
    "mro": ("int.mro()", "eval", "mro"),
    "generator_frame": ("[g.gi_frame for g in [x]]", "eval", "gi_frame"),
    "frame_globals": ("frame.f_globals", "eval", "f_globals"),
    "frame_back": ("frame.f_back", "eval", "f_back"),
    "code_object": ("gen.gi_code.co_consts", "eval", "co_consts"),
    "frame_escape": (FRAME_ESCAPE, "exec", "f_globals"),
    "match_class_pattern": ("match x:\n    case int(__class__=c):\n        pass", "exec", "MatchClass"),
    "match_escape": (MATCH_ESCAPE, "exec", "MatchClass"),
}


@pytest.mark.parametrize("source,mode,what", list(ESCAPES.values()), ids=list(ESCAPES))
def test_check_snippet_refuses_escapes(source, mode, what):
    with pytest.raises(ScriptError) as info:
        check_snippet(source, mode)
    assert info.value.status == 422
    assert info.value.params["what"] == what, info.value.message
    assert what in info.value.message


@pytest.mark.parametrize("source,mode,what", list(ESCAPES.values()), ids=list(ESCAPES))
def test_guarded_environment_refuses_escapes_before_running(source, mode, what):
    """The environment checks again before running: nothing from the refused snippet happens."""
    env = GuardedEnvironment()
    context = {"x": 1, "d": {}, "frame": None, "gen": None}
    with pytest.raises(ScriptError):
        if mode == "eval":
            env.evaluate(source, context)
        else:
            env.execute(source, context)
    assert "leaked" not in context and "data" not in context and "s" not in context


@pytest.mark.parametrize("make_script", [frame_escape, match_escape])
def test_the_escapes_are_real_without_the_ast_gate(make_script):
    """Reduced builtins alone do not stop these two: SpiffWorkflow's plain TaskDataEnvironment with the
    same globals as GuardedEnvironment runs them to a shell command. The AST gate is what refuses them."""
    unguarded = TaskDataEnvironment(dict(GuardedEnvironment().globals))
    context: dict = {}
    unguarded.execute(make_script("echo escaped").replace("&gt;", ">"), context)
    assert context["leaked"] == "escaped\n"


@pytest.mark.parametrize("source", [
    "x = ",                       # syntax error
    "if True\n    x = 1",
])
def test_syntax_errors_are_reported_with_their_line(source):
    with pytest.raises(ScriptError) as info:
        check_snippet(source, "exec")
    assert info.value.params["line"] in (1, 2)
    assert "Syntax error" in info.value.message


def test_unlisted_builtins_are_not_there_at_run_time():
    """A name that passes the AST gate but is not a safe builtin fails with NameError inside the
    environment, and evaluate() turns that into a ScriptError."""
    for name in ("next", "iter", "print", "repr", "chr", "ord", "hash", "issubclass", "format", "bytes"):
        assert name not in SAFE_BUILTINS
        with pytest.raises(ScriptError) as info:
            evaluate(f"{name}", {})
        assert "not defined" in info.value.params["detail"]
    assert isinstance(SAFE_BUILTINS, dict)
    assert not {"__import__", "open", "eval", "exec", "getattr", "globals", "type"} & set(SAFE_BUILTINS)


@pytest.mark.parametrize("expression,data,expected", [
    ("1 + 2 * 3", {}, 7),
    ("(a + b) / 2", {"a": 3, "b": 5}, 4.0),
    ("a // b, a % b", {"a": 7, "b": 2}, (3, 1)),
    ("2 ** 10", {}, 1024),
    ("a > 3 and b <= 5", {"a": 4, "b": 5}, True),
    ("not (a == 1 or a != a)", {"a": 2}, True),
    ("1 < a < 3", {"a": 2}, True),
    ("{'k': a, 'l': [1, 2, a]}", {"a": 9}, {"k": 9, "l": [1, 2, 9]}),
    ("len(items)", {"items": [1, 2, 3]}, 3),
    ("'x' in items", {"items": ["x", "y"]}, True),
    ("outcome in ('同意', '不同意')", {"outcome": "同意"}, True),
    ("'罚款' in title", {"title": "罚款决定"}, True),
    ("amount >= 10000 if kind == 'fine' else False", {"amount": 20000, "kind": "fine"}, True),
    ("sorted(xs)[-1]", {"xs": [3, 9, 1]}, 9),
    ("sum(x for x in xs if x > 1)", {"xs": [1, 2, 3]}, 5),
    ("[x * 2 for x in xs]", {"xs": [1, 2]}, [2, 4]),
    ("{k: v for k, v in d.items() if v}", {"d": {"a": 1, "b": 0}}, {"a": 1}),
    ("max(a, b) - min(a, b)", {"a": 4, "b": 9}, 5),
    ("str(a) + '号'", {"a": 12}, "12号"),
    ("round(a, 1)", {"a": 2.345}, 2.3),
    ("d.get('missing', 'default')", {"d": {}}, "default"),
    ("title.strip().upper()", {"title": " ab "}, "AB"),
    ("f'{n}件'", {"n": 3}, "3件"),
    ("isinstance(a, int)", {"a": 1}, True),
    ("datetime.fromisoformat(d).year", {"d": "2026-05-01T08:00:00+08:00"}, 2026),
    ("(datetime.date(2026, 5, 6) - datetime.date(2026, 5, 1)).days", {}, 5),
    ("timedelta(days=2).days", {}, 2),
])
def test_ordinary_expressions_work(expression, data, expected):
    check_snippet(expression, "eval")
    assert evaluate(expression, data) == expected


def test_evaluate_does_not_change_the_callers_data():
    data = {"items": [1, 2]}
    assert evaluate("items.append(3) or items", data) == [1, 2, 3]
    assert data == {"items": [1, 2]}


def test_evaluate_reports_a_failing_expression():
    with pytest.raises(ScriptError) as info:
        evaluate("a / b", {"a": 1, "b": 0})
    assert info.value.params["expr"] == "a / b"
    assert "division" in info.value.params["detail"]
    with pytest.raises(ScriptError):
        evaluate("missing + 1", {})


def test_helpers_are_callable_but_cannot_be_inspected():
    helpers = {"double": lambda n: n * 2}
    assert evaluate("double(a)", {"a": 21}, helpers) == 42
    for source in ("double.__globals__", "double.__code__", "double.__closure__"):
        with pytest.raises(ScriptError):
            evaluate(source, {}, helpers)


def test_execute_sets_data_and_keeps_helpers_out_of_it():
    env = GuardedEnvironment({"double": lambda n: n * 2})
    context = {"amount": 5}
    assert env.execute("total = double(amount)\nlabel = '共' + str(total) + '元'\nbig = total > 9", context)
    assert context == {"amount": 5, "total": 10, "label": "共10元", "big": True}
    assert "__builtins__" not in context and "double" not in context


def test_match_with_value_patterns_still_works():
    env = GuardedEnvironment()
    context = {"outcome": "同意", "point": [1, 2]}
    env.execute("match outcome:\n    case '同意' | '基本同意':\n        r = 1\n    case _:\n        r = 2\n"
                "match point:\n    case [a, b]:\n        s = a + b", context)
    assert (context["r"], context["s"]) == (1, 3)


def test_script_engine_runs_through_the_guard():
    engine = make_script_engine()
    assert isinstance(engine.environment, GuardedEnvironment)
    with pytest.raises(ScriptError):
        engine.environment.execute("import os", {})


# -- inside a real workflow -------------------------------------------------------------------------------

def _script_process(key: str, script: str) -> bytes:
    """start → scriptTask `calc` → exclusive gateway on `big` → one of two user tasks (in the handler lane),
    routed to the unit the script computed → end."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="Defs_{key}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{key}" name="脚本测试" isExecutable="true">
    <bpmn:laneSet id="ls_{key}">
      <bpmn:lane id="lane_{key}" name="handler">
        <bpmn:flowNodeRef>small</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>large</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start">{STARTER}</bpmn:startEvent>
    <bpmn:scriptTask id="calc" name="计算">
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="to_small" />
    <bpmn:userTask id="small" name="一般案件">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="unit" value="target_unit" />
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:userTask id="large" name="重大案件">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="unit" value="target_unit" />
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calc" />
    <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="gw" />
    <bpmn:sequenceFlow id="to_large" sourceRef="gw" targetRef="large">
      <bpmn:conditionExpression>big</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_small" sourceRef="gw" targetRef="small" />
    <bpmn:sequenceFlow id="f3" sourceRef="small" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="large" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""".encode()


GOOD_SCRIPT = ("total = amount\nbig = total &gt;= 10000\n"
               "target_unit = justice_bureau_above(case_unit) if big else case_unit\n"
               "note = '合计' + str(total)")


def _deploy(client, token, key, content):
    return client.post("/api/deployments", headers=token("designer"),
                       data={"files": [(io.BytesIO(content), f"{key}.bpmn")], "comment": "scripting test"},
                       content_type="multipart/form-data")


def _start(client, token, key, data):
    return client.post("/api/instances", headers=token(HANDLER),
                       json={"process_key": key, "business_key": f"{key}-1", "data": data})


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_script_in_a_workflow_sets_data_that_routes_the_case(client, token):
    from web import services
    resp = _deploy(client, token, "script_ok", _script_process("script_ok", GOOD_SCRIPT))
    assert resp.status_code == 201, resp.get_json()

    big = _start(client, token, "script_ok", {"amount": 11000})
    assert big.status_code == 201, big.get_json()
    body = big.get_json()
    assert [(t["element_id"], t["unit"]["code"]) for t in body["open_tasks"]] == [("large", "lf.guan.sfj")]
    data = services.runtime().data_of(db.session.get(ProcessInstance, body["id"]))
    assert (data["total"], data["big"], data["note"]) == (11000, True, "合计11000")

    small = _start(client, token, "script_ok", {"amount": 100}).get_json()
    assert [(t["element_id"], t["unit"]["code"]) for t in small["open_tasks"]] == [("small", "lf.guan.guanzhen.zfd")]


DEPLOY_ESCAPES = {
    "import": "__import__('os').system('id')",
    "subclasses": "x = ().__class__.__base__.__subclasses__()",
    "open": "x = open('/etc/passwd').read()",
    "frame": frame_escape(),
    "match": match_escape(),
    "format": 'x = ("{0._" + "_class_" + "_}").format(1)',
}


@pytest.mark.parametrize("name", list(DEPLOY_ESCAPES))
def test_escaping_script_is_refused_at_deploy(client, token, name):
    key = f"script_bad_{name}"
    script = DEPLOY_ESCAPES[name]
    before = _count(ProcessDefinition)
    resp = _deploy(client, token, key, _script_process(key, script))
    assert resp.status_code == 422, resp.get_json()
    errors = resp.get_json()["errors"]
    assert any(e["element_id"] == "calc" and e["file"] == f"{key}.bpmn" and e["line"] for e in errors), errors
    assert _count(ProcessDefinition) == before
    assert _start(client, token, key, {}).status_code == 404


def _store_unchecked(key: str, script: str) -> ProcessDefinition:
    """A definition whose script never went through the deploy gate (as if it slipped into stored state):
    built with SpiffWorkflow's own parser and written straight to the tables."""
    parser = SpiffBpmnParser()
    content = _script_process(key, script)
    parser.add_bpmn_xml(etree.fromstring(content).getroottree(), f"{key}.bpmn")
    spec_json = spec_to_json(parser.get_spec(key), parser.get_subprocess_specs(key))
    sha = hashlib.sha256(spec_json.encode()).hexdigest()
    from web import services
    now = services.clock().now()
    deployment = Deployment(sha256=sha, deployed_at=now, deployed_by="tests", comment="unchecked",
                            files=[DeploymentFile(filename=f"{key}.bpmn", content=content.decode(), sha256=sha)])
    db.session.add(deployment)
    db.session.flush()
    definition = ProcessDefinition(key=key, version=1, name=key, sha256=sha, spec_json=spec_json,
                                   start_messages=[], created_at=now, deployment_id=deployment.id)
    db.session.add(definition)
    db.session.commit()
    return definition


RUNTIME_SCRIPTS = {
    "import": lambda cmd: f"x = __import__('os').popen('{cmd}').read()",
    "subclasses": lambda cmd: "x = len(().__class__.__base__.__subclasses__())",
    "open": lambda cmd: "x = open('/etc/passwd').read()",
    "frame": frame_escape,
    "match": match_escape,
    "not_a_safe_builtin": lambda cmd: "x = next(iter([1]))",
}


@pytest.mark.parametrize("name", list(RUNTIME_SCRIPTS))
def test_refused_script_at_run_time_fails_the_start_and_leaves_no_instance(client, token, tmp_path, name):
    key = f"script_unchecked_{name}"
    marker = tmp_path / "escaped"
    definition = _store_unchecked(key, RUNTIME_SCRIPTS[name](f"touch {marker}"))
    try:
        instances, audit = _count(ProcessInstance), _count(AuditEvent)
        resp = _start(client, token, key, {"amount": 1})
        assert resp.status_code == 422, resp.get_json()
        message = resp.get_json()["message"]
        assert message.startswith("步骤“计算”")  # names the script task by its name
        assert ("NameError" if name == "not_a_safe_builtin" else "不允许") in message
        db.session.expire_all()
        assert (_count(ProcessInstance), _count(AuditEvent)) == (instances, audit)
        assert not marker.exists()
    finally:
        db.session.rollback()
        deployment = db.session.get(Deployment, definition.deployment_id)
        db.session.delete(db.session.get(ProcessDefinition, definition.id))
        db.session.delete(deployment)
        db.session.commit()
