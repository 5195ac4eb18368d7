"""Which (role, unit) can each step of the deployed procedures be routed to — and does an active user hold the
role there? (`flask org check`, the designers' organisation check page.) Run before go-live and after every
change of the organisation or of a procedure: a gap found here is a task nobody could take (it would wait in
the 待分派 queue of the justice bureau above).

How the targets are found — evaluation over representative case data, not a static reading of helper names:

1. Where cases start. A procedure started by people starts at the unit of every active user holding one of
   its ``starterRoles``: that unit is ``case_unit`` (and ``initiator_unit``). A procedure started by a message
   gets the message's payload as the thrower computes it (below); one started from outside (e.g. the 12345
   hotline clue) names a case's unit: any unit of a kind that handles cases (a kind where someone holds 承办人).
   A called procedure sees its callers' data.
2. What forms let people choose. Each unit field of the procedure's forms ranges over the units it accepts
   (``unit_kinds``; ``unit_scope: supervised`` = within the area of the units the cases start at).
3. What scripts compute. Top-level assignments ``name = expression`` in script tasks whose calls are all
   routing helpers (``legal_review_unit``, ``common_superior`` …) are evaluated — with the real helpers over
   the real organisation — for every combination of the values they read; so are the items of
   multi-instance loops and the payloads of thrown messages. Procedures feed each other (calls, messages)
   until nothing new appears.
4. Every user task's unit expression (``case_unit`` when it has none) is evaluated the same way; each
   resulting unit must have an active holder of the lane's role.

Gateways are not followed: every step counts as reachable, so the check may name a step a particular case
would not reach, but it never misses a unit a step can be routed to with the values forms and starts allow.
An expression that fails for some values is reported (a case would stop there with an error); one that reads
values the check cannot derive is reported as not checked."""
from __future__ import annotations

import ast
import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import N_, EngineError
from .models import OrgUnit, ProcessDefinition, RoleAssignment, User
from .org import Directory
from .repository import NS, Repository, parse_file
from .scripting import SAFE_BUILTINS, evaluate

CASE_ROLE = "handler"             # a unit "handles cases" when somebody may hold this role there
MAX_COMBINATIONS = 50_000         # an expression reading more combinations than this is not checked
MAX_ROUNDS = 10                   # procedures feeding each other (calls, messages) settle well before this


@dataclass(frozen=True)
class UnitField:
    """A unit field of a form: its name and which units it accepts."""
    name: str
    kinds: tuple[str, ...] = ()
    scope: str | None = None


@dataclass
class Step:
    process_key: str
    process_name: str
    element_id: str
    name: str
    role_code: str | None
    lane: str | None
    expression: str


@dataclass
class Finding:
    """``gap``: nobody active holds the role at the unit; ``no_role``: the step's lane names no role;
    ``error``: the expression (or a script it depends on) fails for some values; ``unchecked``: it reads
    values the check cannot derive."""
    kind: str
    process_key: str
    process_name: str
    element_id: str
    step: str
    role_code: str | None = None
    unit: OrgUnit | None = None
    example: str | None = None             # code of a unit whose case leads there
    msgid: str | None = None
    params: dict = field(default_factory=dict)


@dataclass
class Report:
    procedures: int = 0
    steps: int = 0
    routes: int = 0                         # (step, unit) pairs checked
    findings: list[Finding] = field(default_factory=list)

    @property
    def gaps(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in ("gap", "no_role")]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "error"]

    @property
    def unchecked(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "unchecked"]

    @property
    def gap_count(self) -> int:
        """Distinct (role, unit) pairs without a holder, plus steps whose lane names no role."""
        return len({(f.role_code, f.unit.code) for f in self.gaps if f.kind == "gap"}) + \
            len({(f.process_key, f.element_id) for f in self.gaps if f.kind == "no_role"})

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.errors

    def gap_groups(self) -> list[dict]:
        """Gaps by (role, tier, kind of unit): the units without a holder, the steps routed there and, per
        unit, an example of a case unit leading there."""
        groups: dict[tuple, dict] = {}
        for f in self.findings:
            if f.kind != "gap":
                continue                                  # steps without a role are listed on their own
            unit = f.unit
            key = (f.role_code, unit.tier, unit.kind)
            group = groups.setdefault(key, {"role_code": f.role_code, "tier": unit.tier, "kind": unit.kind,
                                            "units": {}, "steps": {}, "examples": {}})
            group["units"][unit.code] = unit
            if f.example:
                group["examples"].setdefault(unit.code, f.example)
            group["steps"][(f.process_key, f.element_id)] = (f.process_name, f.step)
        out = []
        for key in sorted(groups):
            g = groups[key]
            out.append({**g, "units": [g["units"][c] for c in sorted(g["units"])],
                        "steps": [g["steps"][s] for s in sorted(g["steps"])]})
        return out


# -- reading the models ---------------------------------------------------------------------------------

@dataclass
class _Process:
    key: str
    name: str
    messages: dict[str, str]                            # message id → name, in its file
    starter_roles: set[str] = field(default_factory=set)
    start_messages: set[str] = field(default_factory=set)
    forms: set[str] = field(default_factory=set)
    scripts: list[tuple[str, str, str]] = field(default_factory=list)      # (element id, name, source)
    loops: list[tuple[str, str]] = field(default_factory=list)             # (collection, item)
    calls: set[str] = field(default_factory=set)
    throws: list[tuple[str, str, str, str]] = field(default_factory=list)  # (message, payload, element, name)
    steps: list[Step] = field(default_factory=list)
    on_cases: bool = False      # started by the platform on an existing case (startedOn = case), e.g. a finding


def _xp(node, expr: str) -> list:
    return node.xpath(expr, namespaces=NS)


def _props(node) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in
            _xp(node, "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property")}


def _read_process(key: str, element, messages: dict[str, str], directory: Directory) -> _Process:
    proc = _Process(key=key, name=element.get("name") or key, messages=messages)
    lanes = {ref.text.strip(): lane.get("name") for lane in _xp(element, ".//bpmn:lane")
             for ref in _xp(lane, "./bpmn:flowNodeRef") if ref.text}
    for start in _xp(element, "./bpmn:startEvent"):
        props = _props(start)
        proc.starter_roles |= {r.strip() for r in (props.get("starterRoles") or "").split(",") if r.strip()}
        # platformStartRoles: nobody starts it by hand; the platform starts it at the unit of a person holding one
        # of these roles who acted on another page (e.g. a public list submitted for approval)
        proc.starter_roles |= {r.strip() for r in (props.get("platformStartRoles") or "").split(",") if r.strip()}
        if props.get("formKey"):
            proc.forms.add(props["formKey"])
        proc.on_cases = proc.on_cases or props.get("startedOn") == "case"
        for ref in _xp(start, "./bpmn:messageEventDefinition/@messageRef"):
            proc.start_messages.add(messages.get(ref, ref))
    for node in element.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        if local in ("userTask", "manualTask"):
            props = _props(node)
            if props.get("formKey"):
                proc.forms.add(props["formKey"])
            if props.get("assignee") and not props.get("unit"):
                continue        # for one named person (e.g. an expert), who is checked when chosen, not a unit
            # its own lane, else — inside a sub-process without lanes of its own — the sub-process's lane
            lane = next((lanes[n.get("id")] for n in itertools.chain([node], node.iterancestors())
                         if n.get("id") in lanes), None)
            proc.steps.append(Step(key, proc.name, node.get("id"), node.get("name") or node.get("id"),
                                   directory.role_code(lane), lane, (props.get("unit") or "").strip() or "case_unit"))
        elif local == "scriptTask":
            for script in _xp(node, "./bpmn:script"):
                proc.scripts.append((node.get("id"), node.get("name") or node.get("id"), script.text or ""))
        elif local == "callActivity" and node.get("calledElement"):
            proc.calls.add(node.get("calledElement"))
        elif local == "multiInstanceLoopCharacteristics":
            collection = _xp(node, "./bpmn:loopDataInputRef")
            item = _xp(node, "./bpmn:inputDataItem")
            if collection and item and collection[0].text:
                proc.loops.append((collection[0].text.strip(), item[0].get("name") or item[0].get("id")))
        elif local == "messageEventDefinition" and etree.QName(node.getparent()).localname in (
                "intermediateThrowEvent", "endEvent"):
            payload = _xp(node, "./bpmn:extensionElements/spiffworkflow:messagePayload")
            thrower = node.getparent()
            proc.throws.append((messages.get(node.get("messageRef"), node.get("messageRef")),
                                payload[0].text if payload and payload[0].text else "",
                                thrower.get("id"), thrower.get("name") or thrower.get("id")))
    for script in _xp(element, ".//spiffworkflow:preScript | .//spiffworkflow:postScript"):
        owner = script.getparent().getparent()
        proc.scripts.append((owner.get("id"), owner.get("name") or owner.get("id"), script.text or ""))
    return proc


def _latest_processes(session: Session, directory: Directory, keys: set[str] | None) -> dict[str, _Process]:
    """Every process of the latest deployed versions (``keys``: only these, with the ones they call)."""
    repo = Repository(session, clock=None)
    latest = {d.key: d for d in repo.list_latest()}
    trees: dict[int, list] = {}

    def files_of(definition: ProcessDefinition) -> list:
        if definition.deployment_id not in trees:
            trees[definition.deployment_id] = [parse_file(f.filename, f.content.encode("utf-8"))
                                               for f in definition.deployment.files if f.filename.endswith(".bpmn")]
        return trees[definition.deployment_id]

    procs: dict[str, _Process] = {}
    for key, definition in sorted(latest.items()):
        for src in files_of(definition):
            messages = {m.get("id"): m.get("name") or m.get("id") for m in _xp(src.tree, ".//bpmn:message")}
            for element in _xp(src.tree, f".//bpmn:process[@id='{key}']"):
                procs[key] = _read_process(key, element, messages, directory)
    if keys is None:
        return procs
    wanted, pending = set(), [k for k in keys if k in procs]
    while pending:
        key = pending.pop()
        if key not in wanted:
            wanted.add(key)
            pending += [c for c in procs[key].calls if c in procs]
    return {k: procs[k] for k in sorted(wanted)}


# -- evaluating over sets of values ------------------------------------------------------------------------

Values = dict            # value → origin (code of a unit whose case leads to it, or None)


def _merge(env: dict[str, Values], name: str, values: Values) -> None:
    """Add values to a variable (a value keeps the first origin seen)."""
    slot = env.setdefault(name, {})
    for value, origin in values.items():
        slot.setdefault(value, origin)


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return None                          # not a value routing works with
    return value


class _Evaluator:
    def __init__(self, helpers: dict[str, Callable]):
        self.helpers = helpers
        self.cache: dict[tuple, tuple[bool, object]] = {}
        self.known_calls = set(helpers) | set(SAFE_BUILTINS)

    def names(self, source: str) -> tuple[set[str], bool] | None:
        """(the free names an expression reads, whether it only calls routing helpers and builtins), or None
        when it is not Python."""
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError:
            return None
        loads, stores, calls_ok = set(), set(), True
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
            elif isinstance(node, ast.Call) and not isinstance(node.func, ast.Attribute):   # str.strip … are fine
                calls_ok &= isinstance(node.func, ast.Name) and node.func.id in self.known_calls
        return loads - stores - set(self.helpers) - set(SAFE_BUILTINS), calls_ok

    def run(self, source: str, env: dict[str, Values]) -> "_Outcome | None":
        """Evaluate ``source`` for every combination of the values it reads; None when it calls something
        that is not a routing helper (or is not Python)."""
        found = self.names(source)
        if found is None or not found[1]:
            return None
        free = found[0]
        missing = {n for n in free if not env.get(n)}
        if missing:
            return _Outcome(missing=missing)
        order = sorted(free, key=lambda n: (n != "case_unit", n))
        pools = [list(env[n].items()) for n in order]
        if math.prod(len(pool) for pool in pools) > MAX_COMBINATIONS:
            return _Outcome(too_many=True)
        outcome = _Outcome()
        for combo in itertools.product(*pools):
            data = {n: (list(v) if isinstance(v, tuple) else v) for n, (v, _o) in zip(order, combo)}
            origin = next((o for _v, o in combo if o is not None), None)
            key = (source, tuple(v for v, _o in combo))
            if key not in self.cache:
                try:
                    self.cache[key] = (True, evaluate(source, data, self.helpers))
                except EngineError as exc:
                    cause = exc.__cause__ if isinstance(exc.__cause__, EngineError) else exc
                    self.cache[key] = (False, cause)
            ok, value = self.cache[key]
            if not ok:
                outcome.failures.append((origin, value))
                continue
            value = _hashable(value)
            if value is not None:
                outcome.results.setdefault(value, origin)
        return outcome


@dataclass
class _Outcome:
    results: Values = field(default_factory=dict)
    failures: list[tuple[str | None, EngineError]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)          # values it reads that nothing provides
    too_many: bool = False                                   # more combinations than MAX_COMBINATIONS


# -- the check ---------------------------------------------------------------------------------------------

class RouteCheck:
    def __init__(self, session: Session, form_fields: Callable[[str], list[UnitField]],
                 external_messages: Iterable[str] = (), directory: Directory | None = None):
        self.session = session
        # a legal reviewer counts only when qualified (the directory's reviewer rule)
        self.directory = directory or Directory(session, remember_holders=True)
        self.form_fields = form_fields
        self.external_messages = set(external_messages)
        helpers = self.directory.helpers()
        helpers["units_with_role"] = self.directory.units_with_role
        from .registers.contact_points import possible_survey_points
        helpers["survey_points"] = lambda: possible_survey_points(session)
        self.evaluator = _Evaluator(helpers)
        self.units = {u.code: u for u in session.scalars(select(OrgUnit))}
        self.errors: dict[tuple, Finding] = {}

    # domains
    def _holder_units(self, roles: set[str]) -> Values:
        rows = self.session.execute(select(OrgUnit.code).join(RoleAssignment, RoleAssignment.unit_id == OrgUnit.id)
                                    .join(User, User.id == RoleAssignment.user_id)
                                    .where(RoleAssignment.role_code.in_(roles), User.active.is_(True)).distinct())
        return {code: code for (code,) in rows}

    def _case_handling_units(self) -> Values:
        kinds = {self.units[c].kind for c in self._holder_units({CASE_ROLE})}
        return {u.code: u.code for u in self.units.values() if u.kind in kinds}

    def _field_values(self, spec: UnitField, starts: Values) -> Values:
        units = [u for u in self.units.values() if not spec.kinds or u.kind in spec.kinds]
        if spec.scope == "supervised" and starts:
            area: set[int] = set()
            for code in starts:
                area |= self.directory.descendant_ids(self.directory.county_or_city(code))
            units = [u for u in units if u.id in area]
        return {u.code: None for u in units}

    # one procedure
    def _entry(self, proc: _Process, procs: dict[str, _Process], envs: dict[str, dict]) -> dict[str, Values]:
        env: dict[str, Values] = {}
        add = lambda name, values: _merge(env, name, values)  # noqa: E731
        starts: Values = {}
        if proc.starter_roles:
            starts = self._holder_units(proc.starter_roles)
            add("case_unit", starts)
            add("initiator_unit", starts)
        if proc.on_cases:                       # on a case of any unit that handles cases
            add("case_unit", self._case_handling_units())
        for name in proc.start_messages:
            if name in self.external_messages:
                add("case_unit", self._case_handling_units())
            for other in procs.values():
                for message, payload, element_id, element_name in other.throws:
                    if message == name and payload:
                        for var, values in self._payload(other, payload, element_id, element_name,
                                                         envs[other.key]).items():
                            add(var, values)
        for caller in procs.values():
            if proc.key in caller.calls:
                for var, values in envs[caller.key].items():
                    add(var, values)
        for form_key in sorted(proc.forms):
            for spec in self.form_fields(form_key):
                add(spec.name, self._field_values(spec, starts or env.get("case_unit", {})))
        return env

    def _payload(self, proc: _Process, payload: str, element_id: str, element_name: str,
                 env: dict[str, Values]) -> dict[str, Values]:
        try:
            tree = ast.parse(payload.strip(), mode="eval")
        except SyntaxError:
            return {}
        if not isinstance(tree.body, ast.Dict):
            return {}
        out = {}
        for key_node, value_node in zip(tree.body.keys, tree.body.values):
            if isinstance(key_node, ast.Constant) and isinstance(key_node.value, str):
                source = ast.get_source_segment(payload.strip(), value_node) or ast.unparse(value_node)
                result = self._run(proc, element_id, element_name, source, env)
                if result:
                    out[key_node.value] = result
        return out

    def _run(self, proc: _Process, element_id: str, element_name: str, source: str,
             env: dict[str, Values]) -> Values:
        """Values of an expression a script or message computes; its failures are reported on its element."""
        outcome = self.evaluator.run(source, env)
        if outcome is None:
            return {}
        for origin, exc in outcome.failures:
            self._error(proc, element_id, element_name, origin, exc)
        return outcome.results

    def _error(self, proc: _Process, element_id: str, element_name: str, origin: str | None,
               exc: EngineError) -> None:
        key = (proc.key, element_id, exc.msgid)          # one per element and kind of failure, with an example
        if key not in self.errors:
            self.errors[key] = Finding("error", proc.key, proc.name, element_id, element_name, example=origin,
                                       msgid=exc.msgid, params=dict(exc.params))

    def _local(self, proc: _Process, env: dict[str, Values]) -> None:
        for _round in range(2):                       # an assignment may read one made further down
            for element_id, element_name, script in proc.scripts:
                try:
                    tree = ast.parse(script.strip())
                except SyntaxError:
                    continue
                for statement in tree.body:
                    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                            and isinstance(statement.targets[0], ast.Name):
                        source = ast.get_source_segment(script.strip(), statement.value) or ast.unparse(statement.value)
                        _merge(env, statement.targets[0].id,
                               self._run(proc, element_id, element_name, source, env))
            for collection, item in proc.loops:
                _merge(env, item, {element: origin if origin is not None else element
                                   for value, origin in env.get(collection, {}).items()
                                   for element in (value if isinstance(value, tuple) else ())})

    # the whole check
    def run(self, keys: Iterable[str] | None = None) -> Report:
        procs = _latest_processes(self.session, self.directory, set(keys) if keys is not None else None)
        envs: dict[str, dict[str, Values]] = {k: {} for k in procs}
        for _round in range(MAX_ROUNDS):
            changed = False
            for key, proc in procs.items():
                env = self._entry(proc, procs, envs)
                self._local(proc, env)
                if env != envs[key]:
                    envs[key], changed = env, True
            if not changed:
                break
        report = Report(procedures=len(procs))
        for key, proc in procs.items():
            for step in proc.steps:
                report.steps += 1
                report.findings += self._check_step(proc, step, envs[key], report)
        report.findings += list(self.errors.values())
        return report

    def _check_step(self, proc: _Process, step: Step, env: dict[str, Values], report: Report) -> list[Finding]:
        def finding(kind: str, **kw) -> Finding:
            return Finding(kind, proc.key, proc.name, step.element_id, step.name, role_code=step.role_code, **kw)

        if step.role_code is None:
            return [finding("no_role", msgid=N_("The lane %(lane)s names no role"), params={"lane": step.lane or "—"})]
        outcome = self.evaluator.run(step.expression, env)
        if outcome is None:
            return [finding("unchecked", msgid=N_("The unit expression %(expr)s calls more than the routing helpers"),
                            params={"expr": step.expression})]
        out = []
        for origin, exc in outcome.failures:
            self._error(proc, step.element_id, step.name, origin, exc)
        if outcome.missing:
            out.append(finding("unchecked", msgid=N_("The unit expression %(expr)s reads values the check cannot "
                                                     "derive: %(names)s"),
                               params={"expr": step.expression, "names": ", ".join(sorted(outcome.missing))}))
        if outcome.too_many:
            out.append(finding("unchecked", msgid=N_("The unit expression %(expr)s combines too many values to "
                                                     "check"), params={"expr": step.expression}))
        for code, origin in sorted(outcome.results.items(), key=lambda item: str(item[0])):
            unit = self.units.get(code) if isinstance(code, str) else None
            if unit is None:
                continue                                   # not a unit: the runtime reports it when it happens
            report.routes += 1
            if not self.directory.has_holder(step.role_code, unit.id):
                out.append(finding("gap", unit=unit, example=origin))
        return out


def check_routes(session: Session, form_fields: Callable[[str], list[UnitField]],
                 external_messages: Iterable[str] = (), keys: Iterable[str] | None = None,
                 directory: Directory | None = None) -> Report:
    return RouteCheck(session, form_fields, external_messages, directory).run(keys)
