"""The guarded script environment: every BPMN script, condition, expression and DMN cell runs here.

Two gates. The AST check (:func:`check_snippet`) runs at deploy time over every snippet and again before each
evaluation, so a snippet that slipped into stored state cannot escape. And every snippet runs under budgets
(:class:`ScriptLimits`): the checked tree is rewritten so that each loop iteration and call counts against an
operation budget and a wall-time deadline, and each operation that can build a huge value at C speed
(``**``, ``*``, ``<<``, ``%`` formatting, ``+``, ``range``, padding and joining methods) checks the size of
its result before computing it. A snippet over a budget fails with a :class:`ScriptLimitExceeded`; the case
stays where it was and the interpreter is free again within the deadline."""
from __future__ import annotations

import ast
import contextlib
import contextvars
import copy
import datetime as _dt
import functools
import math
import operator
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy.exc import SQLAlchemyError
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from .errors import N_, EngineError, ScriptError
from .limits import MAX_DATA_DEPTH

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

_BUILTINS = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
SAFE_BUILTINS: dict[str, Any] = {
    name: _BUILTINS[name]
    for name in ("abs", "all", "any", "bool", "dict", "enumerate", "filter", "float", "int", "isinstance",
                 "len", "list", "map", "max", "min", "range", "reversed", "round", "set", "sorted", "str",
                 "sum", "tuple", "zip", "True", "False", "None")
}

MAX_SOURCE_CHARS = 20_000      # a snippet longer than this is not a snippet
MAX_AST_NODES = 5_000
MAX_FORMAT_WIDTH = 1_000       # widths and precisions in f-strings and %-formatting


@dataclass(frozen=True)
class ScriptLimits:
    """Budgets of one engine step (one user action or timer firing), shared by every snippet it runs."""

    seconds: float = 3.0             # wall time
    operations: int = 1_000_000      # loop iterations and calls
    max_length: int = 1_000_000      # items of one string, list, tuple, dict, set or range
    max_int_bits: int = 100_000      # about 30,000 decimal digits
    allocation: int = 10_000_000     # items built in all, over the step


class ScriptLimitExceeded(ScriptError):
    """A snippet ran over one of its budgets."""


# -- the static gate -------------------------------------------------------------------------------------

def _parse(source: str, mode: str) -> ast.AST:
    if not isinstance(source, str):
        raise ScriptError(N_("A script or expression must be text"))
    if len(source) > MAX_SOURCE_CHARS:
        raise ScriptError(N_("A script or expression can have at most %(count)s characters"), count=MAX_SOURCE_CHARS)
    try:
        return ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ScriptError(N_("Syntax error on line %(line)s: %(detail)s"), line=exc.lineno, detail=exc.msg) from None
    except (MemoryError, RecursionError, ValueError):   # pathological nesting; NUL bytes
        raise ScriptError(N_("The script or expression is nested too deeply")) from None


def _check_tree(tree: ast.AST) -> None:
    for count, node in enumerate(ast.walk(tree)):
        if count > MAX_AST_NODES:
            raise ScriptError(N_("The script or expression is too long"))
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
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            _check_format_spec(node.format_spec)


def _check_format_spec(spec: ast.AST) -> None:
    """An f-string's format spec (``f"{x:>10}"``) must be written out; its widths are bounded."""
    parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
    for part in parts:
        if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
            raise ScriptError(N_("A format width must be written as a number"))
        if any(int(n) > MAX_FORMAT_WIDTH for n in re.findall(r"\d+", part.value)):
            raise ScriptError(N_("A format width can be at most %(count)s"), count=MAX_FORMAT_WIDTH)


def check_snippet(source: str, mode: str = "exec") -> None:
    """Raise :class:`ScriptError` unless ``source`` is a harmless snippet.

    ``mode`` is "eval" for expressions (conditions, unit expressions), "exec" for scripts."""
    _compiled(source, mode)


def expression_mode(source: str) -> str:
    """Conditions and expressions are single Python expressions; scripts may hold statements."""
    try:
        _parse(source, "eval")
        return "eval"
    except ScriptError:
        return "exec"


# -- the rewrite: every loop, call and size-amplifying operation goes through a guard ---------------------

_GUARDED_OPS = {ast.Pow: "pow", ast.Mult: "mul", ast.LShift: "lshift", ast.Mod: "mod", ast.Add: "add"}
_TICK, _CALL, _BINOP, _INPLACE = "__guard_tick", "__guard_call", "__guard_binop", "__guard_inplace"


class _Instrument(ast.NodeTransformer):
    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        name = _GUARDED_OPS.get(type(node.op))
        if name is None:
            return node
        return ast.copy_location(ast.Call(ast.Name(_BINOP, ast.Load()), [ast.Constant(name), node.left, node.right],
                                          []), node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        name = _GUARDED_OPS.get(type(node.op))
        if name is None:
            return node
        load = copy.deepcopy(node.target)
        for sub in ast.walk(load):
            if hasattr(sub, "ctx"):
                sub.ctx = ast.Load()
        value = ast.Call(ast.Name(_INPLACE, ast.Load()), [ast.Constant(name), load, node.value], [])
        return ast.copy_location(ast.Assign([node.target], value), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(ast.Call(ast.Name(_CALL, ast.Load()), [node.func, *node.args], node.keywords), node)

    def _tick_loop(self, node):
        self.generic_visit(node)
        node.body.insert(0, ast.Expr(ast.Call(ast.Name(_TICK, ast.Load()), [], [])))
        return node

    visit_While = visit_For = _tick_loop

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs.insert(0, ast.Call(ast.Name(_TICK, ast.Load()), [], []))
        return node


@functools.lru_cache(maxsize=4096)
def _compiled(source: str, mode: str):
    """Check ``source`` and compile its instrumented tree (cached: models run the same snippets again)."""
    tree = _parse(source, mode)
    _check_tree(tree)
    tree = ast.fix_missing_locations(_Instrument().visit(tree))
    try:
        return compile(tree, "<script>", mode)
    except (MemoryError, RecursionError, ValueError, SyntaxError):
        raise ScriptError(N_("The script or expression is nested too deeply")) from None


# -- budgets ----------------------------------------------------------------------------------------------

class _Budget:
    __slots__ = ("limits", "deadline", "operations", "allocation")

    def __init__(self, limits: ScriptLimits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.operations = limits.operations
        self.allocation = limits.allocation

    def tick(self) -> None:
        self.operations -= 1
        if self.operations < 0:
            raise ScriptLimitExceeded(N_("The script repeats too often (more than %(count)s steps)"),
                                      count=self.limits.operations)
        if time.monotonic() > self.deadline:
            raise ScriptLimitExceeded(N_("The script took too long (more than %(seconds)s seconds)"),
                                      seconds=self.limits.seconds)

    def size(self, length: int) -> None:
        """A value of ``length`` items is about to be built."""
        if length > self.limits.max_length:
            raise ScriptLimitExceeded(N_("The script would build a value that is too large (more than %(count)s items)"),
                                      count=self.limits.max_length)
        self.allocation -= length
        if self.allocation < 0:
            raise ScriptLimitExceeded(N_("The script builds too much data (more than %(count)s items in all)"),
                                      count=self.limits.allocation)

    def bits(self, bits: int) -> None:
        if bits > self.limits.max_int_bits:
            raise ScriptLimitExceeded(N_("The script would compute a number that is too large (more than %(count)s digits)"),
                                      count=int(self.limits.max_int_bits * 0.30103))
        self.size(bits // 64)


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("script_budget", default=None)


def _current() -> _Budget:
    """The running step's budget (a lazily consumed generator may outlive it: it then gets a fresh one)."""
    return _BUDGET.get() or _Budget(ScriptLimits())


@contextlib.contextmanager
def step_budget(limits: ScriptLimits | None = None) -> Iterator[None]:
    """Every snippet run inside shares one budget (one engine step); an enclosing budget is kept."""
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget(limits or ScriptLimits()))
    try:
        yield
    finally:
        _BUDGET.reset(token)


_SEQUENCES = (str, bytes, list, tuple)
_PRINTF = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _int_like(value) -> bool:
    return isinstance(value, int)


def _check_binop(budget: _Budget, name: str, a, b) -> None:
    if name == "pow":
        if _int_like(a) and _int_like(b) and b > 0 and abs(a) > 1:
            budget.bits(a.bit_length() * b if b < 1 << 40 else 1 << 62)
    elif name == "mul":
        if isinstance(a, _SEQUENCES) and _int_like(b):
            budget.size(len(a) * max(b, 0))
        elif isinstance(b, _SEQUENCES) and _int_like(a):
            budget.size(len(b) * max(a, 0))
        elif _int_like(a) and _int_like(b):
            budget.bits(a.bit_length() + b.bit_length())
    elif name == "lshift":
        if _int_like(a) and _int_like(b) and a:
            budget.bits(a.bit_length() + max(b, 0) if b < 1 << 40 else 1 << 62)
    elif name == "mod":
        if isinstance(a, (str, bytes)):
            text = a.decode("latin-1") if isinstance(a, bytes) else a
            for width, precision in _PRINTF.findall(text):
                for n in (width, precision):
                    if n == "*" or (n and int(n) > MAX_FORMAT_WIDTH):
                        raise ScriptLimitExceeded(N_("A format width can be at most %(count)s"), count=MAX_FORMAT_WIDTH)
            budget.size(len(text))
    elif name == "add":
        if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
            budget.size(len(a) + len(b))


def _size_of_call(budget: _Budget, func, args: tuple, kwargs: dict) -> tuple:
    """Check what a call of a padding/joining/replacing method would build; returns the args to use
    (an iterator given to ``join`` is read once, here)."""
    owner = getattr(func, "__self__", None)
    name = getattr(func, "__name__", "")
    if isinstance(owner, (str, bytes)):
        if name in ("ljust", "rjust", "center", "zfill") and args and _int_like(args[0]):
            budget.size(args[0])
        elif name == "expandtabs":
            tab = args[0] if args and _int_like(args[0]) else kwargs.get("tabsize", 8)
            if _int_like(tab):
                budget.size(len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * max(tab, 0))
        elif name == "replace" and len(args) >= 2 and isinstance(args[0], type(owner)) and isinstance(args[1], type(owner)):
            hits = owner.count(args[0]) if args[0] else len(owner) + 1
            budget.size(len(owner) + hits * max(len(args[1]) - len(args[0]), 0))
        elif name == "join" and args:
            items = list(args[0])
            budget.size(len(items))
            budget.size(sum(len(i) for i in items if isinstance(i, (str, bytes))) + len(owner) * len(items))
            args = (items,) + tuple(args[1:])
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, (str, bytes))), default=1)
            budget.size(len(owner) * longest)
    elif isinstance(owner, int) and name == "to_bytes" and args and _int_like(args[0]):
        budget.size(args[0])
    elif func is round and len(args) > 1 and _int_like(args[1]) and abs(args[1]) > MAX_FORMAT_WIDTH:
        raise ScriptLimitExceeded(N_("The script would compute a number that is too large (more than %(count)s digits)"),
                                  count=MAX_FORMAT_WIDTH)
    return args


# The functions the instrumented code calls (under names a snippet cannot write); they charge the budget.

def _guard_range(*args):
    result = range(*args)
    _current().size(len(result))
    return result


def _guard_tick() -> bool:
    _current().tick()
    return True          # also the first condition of every comprehension


def _guard_call(func, *args, **kwargs):
    budget = _current()
    budget.tick()
    args = _size_of_call(budget, func, args, kwargs)
    result = func(*args, **kwargs)
    if isinstance(result, (str, bytes, list, tuple, dict, set, frozenset)):
        budget.size(len(result))
    return result


def _guard_binop(name: str, a, b):
    _check_binop(_current(), name, a, b)
    return _BINARY[name](a, b)


def _guard_inplace(name: str, a, b):
    _check_binop(_current(), name, a, b)
    return _INPLACE_OPS[name](a, b)


_BINARY = {"pow": operator.pow, "mul": operator.mul, "lshift": operator.lshift, "mod": operator.mod,
           "add": operator.add}
_INPLACE_OPS = {"pow": operator.ipow, "mul": operator.imul, "lshift": operator.ilshift, "mod": operator.imod,
                "add": operator.iadd}


def _script_failure(exc: Exception) -> ScriptError:
    """A snippet's own failure (KeyError, division by zero, …) as a ScriptError naming what went wrong."""
    if isinstance(exc, ScriptError):
        return exc
    if isinstance(exc, EngineError):          # a helper's own message (e.g. the calendar's), in the user's words
        return ScriptError(exc.msgid, **exc.params)
    if isinstance(exc, MemoryError):
        return ScriptLimitExceeded(N_("The script would build a value that is too large (more than %(count)s items)"),
                                   count=ScriptLimits().max_length)
    if isinstance(exc, RecursionError):
        return ScriptError(N_("The script or expression is nested too deeply"))
    if isinstance(exc, KeyError):
        return ScriptError(N_("The case data has no field %(name)s"), name=str(exc.args[0])[:80] if exc.args else "?")
    detail = f"{type(exc).__name__}: {exc}"
    return ScriptError(N_("The script failed: %(detail)s"), detail=detail[:300])


_STORABLE_SCALARS = (str, int, float, bool, type(None), _dt.date, _dt.datetime, _dt.timedelta)


def _check_storable(name: str, value, depth: int = 0) -> None:
    """What a script leaves in the case data must be storable as JSON (a set or a generator is not)."""
    if depth > MAX_DATA_DEPTH:
        raise ScriptError(N_("The script stored %(name)s nested too deeply"), name=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise ScriptError(N_("The script stored %(name)s, which is not a finite number"), name=name)
    if isinstance(value, _STORABLE_SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_storable(name, item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ScriptError(N_("The script stored %(name)s with a key that is not text"), name=name)
            _check_storable(name, item, depth + 1)
        return
    raise ScriptError(N_("The script stored %(name)s as a %(type)s, which the case data cannot keep; use text, "
                         "numbers, true/false, lists or objects"), name=name, type=type(value).__name__)


class GuardedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment behind the AST gate, with reduced builtins, under budgets."""

    def __init__(self, helpers: Mapping[str, Callable] | None = None, limits: ScriptLimits | None = None):
        self.limits = limits or ScriptLimits()
        builtins = {**SAFE_BUILTINS, "range": _guard_range}
        env = {"__builtins__": builtins, "datetime": _SafeDatetime, "timedelta": _dt.timedelta,
               _TICK: _guard_tick, _CALL: _guard_call, _BINOP: _guard_binop, _INPLACE: _guard_inplace}
        env.update(helpers or {})
        super().__init__(env)

    def evaluate(self, expression, context, external_context=None):
        code = _compiled(expression, "eval")
        my_globals = copy.copy(self.globals)
        my_globals.update(external_context or {})
        my_globals.update(context)
        with step_budget(self.limits):       # a budget of its own unless a step's runs
            try:
                return eval(code, my_globals)
            except SQLAlchemyError:
                raise                  # a helper's database failed: an outage, not the script's fault
            except Exception as exc:
                raise _script_failure(exc) from exc

    def execute(self, script, context, external_context=None):
        code = _compiled(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        context.update(self.globals)
        context.update(external_context or {})
        with step_budget(self.limits):       # a budget of its own unless a step's runs
            try:
                exec(code, context)
            except SQLAlchemyError:
                raise
            except Exception as exc:
                raise _script_failure(exc) from exc
            finally:
                self._remove_globals_and_functions_from_context(context, external_context)
        for name, value in context.items():
            _check_storable(name, value)
        return True


class _GuardedScriptEngine(PythonScriptEngine):
    def validate(self, expression):
        """SpiffWorkflow's syntax probe (DMN cells): parsed by the guard, so pathological text cannot crash it."""
        try:
            _parse(expression, "exec")
        except ScriptError as exc:
            raise SyntaxError(exc.message) from None


class _SafeDatetime:
    """What scripts may use of datetime: building dates and parsing ISO strings."""

    date = _dt.date
    fromisoformat = staticmethod(_dt.datetime.fromisoformat)


def make_script_engine(helpers: Mapping[str, Callable] | None = None,
                       limits: ScriptLimits | None = None) -> PythonScriptEngine:
    return _GuardedScriptEngine(environment=GuardedEnvironment(helpers, limits))


def evaluate(expression: str, data: Mapping[str, Any], helpers: Mapping[str, Callable] | None = None) -> Any:
    """Evaluate an expression outside a workflow (e.g. a task's unit expression) in the same guard."""
    env = GuardedEnvironment(helpers)
    try:
        return env.evaluate(expression, copy.deepcopy(dict(data)))
    except ScriptLimitExceeded as exc:
        raise exc.at(N_("Expression %(expr)s: "), expr=str(expression)[:200])
    except ScriptError as exc:
        if exc.__cause__ is None:     # refused by the gate
            raise
        if isinstance(exc.__cause__, EngineError):   # a helper's own message says what is wrong
            raise exc
        raise ScriptError(N_("Expression %(expr)s failed: %(detail)s"), expr=expression,
                          detail=str(exc.__cause__)[:300]) from exc.__cause__
    except RecursionError:            # the data itself is nested too deeply to copy
        raise ScriptError(N_("The case data is nested too deeply")) from None
