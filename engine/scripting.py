"""The guarded script environment: every BPMN script, condition, expression and DMN cell runs here.

The same AST check (:func:`check_snippet`) runs at deploy time over every snippet and again before each
evaluation, so a snippet that slipped into stored state cannot escape either."""
from __future__ import annotations

import ast
import copy
import datetime as _dt
from typing import Any, Callable, Mapping

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from .errors import N_, ScriptError

FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "__import__", "input", "breakpoint", "help", "memoryview", "type", "object", "super", "classmethod",
    "staticmethod", "property", "exit", "quit", "dir", "id", "hasattr",
})

FORBIDDEN_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                   ast.ClassDef, ast.Global, ast.Nonlocal, ast.With, ast.AsyncWith, ast.Await, ast.Yield,
                   ast.YieldFrom, ast.Try, ast.Raise, ast.Delete,
                   # a class pattern (`case C(__class__=x)`) reads attributes named by bare identifiers
                   ast.MatchClass, *(getattr(ast, n) for n in ("TryStar",) if hasattr(ast, n)))

# Attributes without a leading underscore that still reach interpreter internals: the frames and code of
# generators/coroutines/tracebacks (``g.gi_frame.f_back.f_globals`` leads to the real builtins),
# str.format's own attribute lookup (``"{0._" + "_class_" + "_}".format(x)``) and the class hierarchy.
FORBIDDEN_ATTRIBUTES = frozenset({"format", "format_map", "mro"})
FORBIDDEN_ATTRIBUTE_PREFIXES = ("gi_", "cr_", "ag_", "tb_", "f_", "co_")

SAFE_BUILTINS: dict[str, Any] = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for name in ("abs", "all", "any", "bool", "dict", "enumerate", "filter", "float", "int", "isinstance",
                 "len", "list", "map", "max", "min", "range", "reversed", "round", "set", "sorted", "str",
                 "sum", "tuple", "zip", "True", "False", "None")
}


def check_snippet(source: str, mode: str = "exec") -> None:
    """Raise :class:`ScriptError` unless ``source`` is a harmless snippet.

    ``mode`` is "eval" for expressions (conditions, unit expressions), "exec" for scripts."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ScriptError(N_("Syntax error on line %(line)s: %(detail)s"), line=exc.lineno, detail=exc.msg) from None
    for node in ast.walk(tree):
        if isinstance(node, FORBIDDEN_NODES):
            raise ScriptError(N_("Statement not allowed in a script: %(what)s"), what=type(node).__name__)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ScriptError(N_("Access to an attribute starting with an underscore is not allowed: %(what)s"), what=node.attr)
        if isinstance(node, ast.Attribute) and (node.attr in FORBIDDEN_ATTRIBUTES
                                                or node.attr.startswith(FORBIDDEN_ATTRIBUTE_PREFIXES)):
            raise ScriptError(N_("Attribute not allowed in a script: %(what)s"), what=node.attr)
        if isinstance(node, ast.Name) and (node.id in FORBIDDEN_NAMES or node.id.startswith("__")):
            raise ScriptError(N_("Name not allowed in a script: %(what)s"), what=node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            raise ScriptError(N_("A string containing a double underscore is not allowed: %(what)s"),
                              what=node.value[:40])


def expression_mode(source: str) -> str:
    """Conditions and expressions are single Python expressions; scripts may hold statements."""
    try:
        ast.parse(source, mode="eval")
        return "eval"
    except SyntaxError:
        return "exec"


class GuardedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment behind the AST gate and with reduced builtins."""

    def __init__(self, helpers: Mapping[str, Callable] | None = None):
        env = {"__builtins__": SAFE_BUILTINS, "datetime": _SafeDatetime, "timedelta": _dt.timedelta}
        env.update(helpers or {})
        super().__init__(env)

    def evaluate(self, expression, context, external_context=None):
        check_snippet(expression, "eval")
        return super().evaluate(expression, context, external_context)

    def execute(self, script, context, external_context=None):
        check_snippet(script, "exec")
        return super().execute(script, context, external_context)


class _SafeDatetime:
    """What scripts may use of datetime: building dates and parsing ISO strings."""

    date = _dt.date
    fromisoformat = staticmethod(_dt.datetime.fromisoformat)


def make_script_engine(helpers: Mapping[str, Callable] | None = None) -> PythonScriptEngine:
    return PythonScriptEngine(environment=GuardedEnvironment(helpers))


def evaluate(expression: str, data: Mapping[str, Any], helpers: Mapping[str, Callable] | None = None) -> Any:
    """Evaluate an expression outside a workflow (e.g. a task's unit expression) in the same guard."""
    env = GuardedEnvironment(helpers)
    try:
        return env.evaluate(expression, copy.deepcopy(dict(data)))
    except ScriptError:
        raise
    except Exception as exc:  # the expression itself failed: report it, do not hide it
        raise ScriptError(N_("Expression %(expr)s failed: %(detail)s"), expr=expression, detail=str(exc)) from exc
