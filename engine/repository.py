"""Deployment of BPMN/DMN files: hardened parsing, XSD and reference checks, script guard, versioning.

A deployment is one or several files; every executable process in them becomes a new version of its key
unless its content is identical to the latest version. Instances keep the version they started on."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from . import history
from .errors import N_, DeploymentError, InvalidInput, NotFound, ScriptError, problem
from .models import Deployment, DeploymentFile, ProcessDefinition
from .scripting import check_snippet, expression_mode
from .serialization import spec_from_json, spec_to_json
from .sla import parse_limit

LIMIT_PROPERTIES = ("sla", "reminder")      # time limits the runtime parses (engine.sla.parse_limit)

MAX_FILE_BYTES = 2 * 1024 * 1024
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DMN_NAMESPACES = ("https://www.omg.org/spec/DMN/20191111/MODEL/", "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
                  "https://www.omg.org/spec/DMN/20230324/MODEL/", "http://www.omg.org/spec/DMN/20180521/MODEL/")
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

# Elements whose text is Python that the engine runs, and how to read it.
_BPMN_SNIPPETS = [
    (".//bpmn:script", "exec"),
    (".//bpmn:conditionExpression", "eval"),
    (".//spiffworkflow:preScript", "exec"),
    (".//spiffworkflow:postScript", "exec"),
    (".//spiffworkflow:messagePayload", "eval"),
    (".//spiffworkflow:processVariableCorrelation/spiffworkflow:expression", "eval"),
    (".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression", "eval"),
    (".//bpmn:timerEventDefinition/*", "eval"),
    (".//bpmn:loopCardinality", "eval"),
    (".//bpmn:completionCondition", "eval"),
    (".//bpmn:conditionalEventDefinition/bpmn:condition", "eval"),
]
# Extension properties holding expressions (the unit a task is routed to).
EXPRESSION_PROPERTIES = ("unit", "dueDate", "remindDate", "subject", "starterUnits", "startCondition", "assignee")


def make_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=False)


@dataclass
class SourceFile:
    filename: str
    content: bytes
    tree: object = None
    kind: str = ""        # bpmn / dmn


@dataclass
class DeployResult:
    deployment_id: int | None
    created: list[ProcessDefinition] = field(default_factory=list)
    unchanged: list[ProcessDefinition] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)     # problems that do not stop a deployment


def _element_id(node) -> str | None:
    while node is not None:
        if node.get("id"):
            return node.get("id")
        node = node.getparent()
    return None


def parse_file(filename: str, content: bytes) -> SourceFile:
    """Parse one upload safely, or raise DeploymentError."""
    if len(content) > MAX_FILE_BYTES:
        raise DeploymentError(N_("File %(file)s is larger than %(limit)s bytes"), file=filename, limit=MAX_FILE_BYTES,
                              errors=[problem(N_("File is too large"), file=filename)])
    if _DOCTYPE.search(content):
        raise DeploymentError(N_("File %(file)s declares a DOCTYPE or entities, which is not allowed"), file=filename,
                              errors=[problem(N_("DOCTYPE and entity declarations are not allowed"), file=filename)])
    try:
        tree = etree.fromstring(content, make_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if hasattr(exc, "lineno") else None
        raise DeploymentError(N_("File %(file)s is not well-formed XML"), file=filename,
                              errors=[problem(N_("Malformed XML: %(detail)s"), file=filename, line=line,
                                              detail=str(exc))]) from None
    if tree.docinfo.doctype:
        raise DeploymentError(N_("File %(file)s declares a DOCTYPE or entities, which is not allowed"), file=filename,
                              errors=[problem(N_("DOCTYPE and entity declarations are not allowed"), file=filename)])
    ns = etree.QName(tree.getroot()).namespace
    if ns == BPMN_NS:
        kind = "bpmn"
    elif ns in DMN_NAMESPACES:
        kind = "dmn"
    else:
        raise DeploymentError(N_("File %(file)s is neither BPMN nor DMN"), file=filename,
                              errors=[problem(N_("Unknown document type %(ns)s"), file=filename, ns=ns or "-")])
    return SourceFile(filename, content, tree, kind)


def _node_at(tree, path: str | None):
    """The element an XSD error points at. libxml2 writes the path with the document's own prefixes
    (``/bpmn:definitions/bpmn:process[1]/...``), which XPath only resolves when they are passed in."""
    if not path:
        return None
    try:
        found = tree.xpath(path, namespaces={k: v for k, v in tree.getroot().nsmap.items() if k})
    except etree.XPathError:
        return None
    return found[0] if found else None


def _check_bpmn(src: SourceFile) -> list[dict]:
    """XSD, references and scripts of one BPMN file; returns problems (empty when clean)."""
    errors: list[dict] = []
    tree = src.tree
    schema = VALIDATOR.validator
    VALIDATOR.preprocess(tree)
    if not schema.validate(tree):
        for entry in schema.error_log:
            node = _node_at(tree, entry.path)
            errors.append(problem(N_("Not valid BPMN: %(detail)s"), file=src.filename, line=entry.line,
                                  element_id=_element_id(node), detail=entry.message))
        # go on: the checks below read the tree as it is, so one upload reports all its problems
    xp = lambda expr, node=tree: node.xpath(expr, namespaces=NS)  # noqa: E731
    messages = {m.get("id") for m in xp(".//bpmn:message")}
    for node in xp(".//*[@messageRef]"):
        if node.get("messageRef") not in messages:
            errors.append(problem(N_("Message %(ref)s is not defined"), file=src.filename, line=node.sourceline,
                                  element_id=_element_id(node), ref=node.get("messageRef")))
    for process in xp(".//bpmn:process"):
        ids = {n.get("id") for n in process.iter() if isinstance(n.tag, str) and n.get("id")}
        for flow in xp(".//bpmn:sequenceFlow", process):
            for attr in ("sourceRef", "targetRef"):
                if flow.get(attr) not in ids:
                    errors.append(problem(N_("Sequence flow %(flow)s points to a missing element %(ref)s"),
                                          file=src.filename, line=flow.sourceline, element_id=flow.get("id"),
                                          flow=flow.get("id"), ref=flow.get(attr)))
    for expr, mode in _BPMN_SNIPPETS:
        for node in xp(expr):
            _check_text(errors, src, node, node.text, mode)
    for prop in xp(".//spiffworkflow:property"):
        if prop.get("name") in EXPRESSION_PROPERTIES and prop.get("value"):
            _check_text(errors, src, prop, prop.get("value"), "eval")
    for prop in xp(".//spiffworkflow:property"):        # time limits: what the runtime's parser understands
        if prop.get("name") in LIMIT_PROPERTIES and prop.get("value") is not None:
            try:
                parse_limit(prop.get("value"))
            except InvalidInput:
                errors.append(problem(N_("Time limit “%(value)s” cannot be understood: write a number and a unit, "
                                         "e.g. 7个工作日, 7 working days, 24小时, 30日 or P5D"),
                                      file=src.filename, line=prop.sourceline, element_id=_element_id(prop),
                                      value=prop.get("value")))
    for param in xp(".//spiffworkflow:parameter"):       # service-task parameters are expressions too
        _check_text(errors, src, param, param.get("value"), "eval")
    for task in xp(".//bpmn:serviceTask"):
        errors.append(problem(N_("Service tasks cannot run on this platform (it calls no outside services from "
                                 "a model); use a user task, a script task or a message"),
                              file=src.filename, line=task.sourceline, element_id=task.get("id")))
    return errors


_WAITING_TASKS = ("userTask", "manualTask", "receiveTask")
_LIMIT_PROPERTIES = ("sla", "dueDate")


def _has_timer(node) -> bool:
    return bool(node.xpath("./bpmn:timerEventDefinition", namespaces=NS))


def waiting_without_limit(src: SourceFile) -> list[dict]:
    """Warnings (not refusals) for every step that waits — a user, manual or receive task, a message catch
    event — with no time limit: neither an ``sla``/``dueDate`` property, nor a timer on its boundary (or on
    the boundary of a sub-process holding it), nor a timer racing it behind an event-based gateway. Such a
    step can wait forever without anybody being reminded or the supervising bureau being told."""
    if src.kind != "bpmn":
        return []
    xp = lambda expr, node: node.xpath(expr, namespaces=NS)  # noqa: E731
    warnings = []
    for process in xp(".//bpmn:process", src.tree):
        timed = {b.get("attachedToRef") for b in xp(".//bpmn:boundaryEvent", process) if _has_timer(b)}
        raced: set[str] = set()
        by_id = {n.get("id"): n for n in process.iter() if isinstance(n.tag, str) and n.get("id")}
        for gateway in xp(".//bpmn:eventBasedGateway", process):
            targets = [by_id.get(f.get("targetRef")) for f in xp(f".//bpmn:sequenceFlow[@sourceRef='{gateway.get('id')}']",
                                                                  process)]
            if any(t is not None and etree.QName(t).localname == "intermediateCatchEvent" and _has_timer(t)
                   for t in targets):
                raced |= {t.get("id") for t in targets if t is not None}
        waiting = [n for n in process.iter() if isinstance(n.tag, str) and (
            etree.QName(n).localname in _WAITING_TASKS
            or etree.QName(n).localname == "intermediateCatchEvent"
            and xp("./bpmn:messageEventDefinition", n))]
        for node in waiting:
            if xp("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
                  f"[{' or '.join(f'@name={name!r}' for name in _LIMIT_PROPERTIES)}][@value!='']", node):
                continue
            enclosing = {a.get("id") for a in node.iterancestors() if a.get("id")}
            if node.get("id") in timed | raced or enclosing & timed:
                continue
            warnings.append(problem(
                N_("Step “%(step)s” waits without a time limit: give it an sla or dueDate property, or a timer "
                   "(on its boundary, or racing it behind an event-based gateway)"),
                file=src.filename, line=node.sourceline, element_id=node.get("id"),
                step=node.get("name") or node.get("id")))
    return warnings


def _check_dmn(src: SourceFile) -> list[dict]:
    errors: list[dict] = []
    for node in src.tree.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        if local == "text" and node.text and node.text.strip() and node.text.strip() != "-":
            parent = etree.QName(node.getparent()).localname
            text = node.text.strip()
            if parent == "inputEntry":
                text = re.sub(r"\?", "dmninputexpr", text)
                if expression_mode(text) == "exec":
                    text = f"dmninputexpr {text}"
            _check_text(errors, src, node, text, "eval")
    return errors


def _check_text(errors: list, src: SourceFile, node, text: str | None, mode: str) -> None:
    if not text or not text.strip():
        return
    text = text.strip()
    if mode == "eval" and expression_mode(text) == "exec":
        mode = "exec"
    try:
        check_snippet(text, mode)
    except ScriptError as exc:
        entry = problem(exc.msgid, file=src.filename, line=node.sourceline, element_id=_element_id(node))
        entry.update(params=exc.params, message=exc.message)     # the guard's own message, translated on display
        errors.append(entry)


def _call_graph(files: list[SourceFile]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src in files:
        if src.kind != "bpmn":
            continue
        for process in src.tree.xpath(".//bpmn:process", namespaces=NS):
            calls = graph.setdefault(process.get("id"), set())
            for call in process.xpath(".//bpmn:callActivity", namespaces=NS):
                if call.get("calledElement"):
                    calls.add(call.get("calledElement"))
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if state.get(nxt) is None and nxt in graph:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if state.get(start) is None:
            found = visit(start, [])
            if found:
                return found
    return None


def _element_line(files: list[SourceFile], file_name: str | None, element_id: str | None) -> int | None:
    for src in files:
        if (file_name is None or src.filename == file_name) and element_id:
            found = src.tree.xpath("//*[@id=$i]", i=element_id)
            if found:
                return found[0].sourceline
    return None


class Repository:
    def __init__(self, session: Session, clock, known_roles: set[str] | None = None,
                 known_forms: set[str] | None = None, after_deploy=None):
        self.session = session
        self.clock = clock
        self.known_roles = known_roles
        self.known_forms = known_forms
        self.after_deploy = after_deploy      # called with the new definitions (e.g. park timer starts)

    # -- checks ---------------------------------------------------------------------------------------
    def check(self, uploads: list[tuple[str, bytes]]) -> tuple[SpiffBpmnParser, list[SourceFile]]:
        """Run every deploy-time check; return the filled parser, or raise DeploymentError with all
        problems found."""
        if not uploads:
            raise DeploymentError(N_("No files to deploy"))
        files, errors = [], []
        for name, content in uploads:
            try:
                files.append(parse_file(name, content))
            except DeploymentError as exc:
                errors.extend(exc.errors)
        if errors:
            raise DeploymentError(N_("The deployment was refused"), errors=errors)
        for src in files:
            errors.extend(_check_bpmn(src) if src.kind == "bpmn" else _check_dmn(src))
        errors.extend(self._check_extensions(files))
        graph = _call_graph(files)
        context = self._context_files(files, graph, errors)
        cycle = _find_cycle({**_call_graph(context), **graph})
        if cycle:
            errors.append(problem(N_("Call activities call each other in a cycle: %(path)s"),
                                  element_id=cycle[-2], path=" → ".join(cycle)))
        if errors:
            raise DeploymentError(N_("The deployment was refused"), errors=errors)
        parser = SpiffBpmnParser()
        try:
            for src in context + files:
                if src.kind == "bpmn":
                    parser.add_bpmn_xml(src.tree, src.filename)
                else:
                    parser.add_dmn_xml(src.tree.getroot(), src.filename)
            for key in self._process_ids(files):
                parser.get_spec(key)
                parser.get_subprocess_specs(key)
        except ValidationException as exc:
            raise DeploymentError(N_("The deployment was refused"), errors=[problem(
                N_("Invalid model: %(detail)s"), file=exc.file_name, element_id=exc.id,
                line=_element_line(files, exc.file_name, exc.id), detail=str(exc).split("\n")[0])]) from None
        except Exception as exc:  # SpiffWorkflow raises assorted errors on models it cannot build
            raise DeploymentError(N_("The deployment was refused"), errors=[problem(
                N_("Invalid model: %(detail)s"), detail=str(exc))]) from None
        return parser, files

    def _check_extensions(self, files: list[SourceFile]) -> list[dict]:
        errors = []
        for src in files:
            if src.kind != "bpmn":
                continue
            if self.known_roles is not None:
                for lane in src.tree.xpath(".//bpmn:lane", namespaces=NS):
                    if lane.get("name") and lane.get("name").strip() not in self.known_roles:
                        errors.append(problem(N_("Lane %(lane)s names an unknown role"), file=src.filename,
                                              line=lane.sourceline, element_id=lane.get("id"), lane=lane.get("name")))
            if self.known_forms is not None:
                for prop in src.tree.xpath(".//spiffworkflow:property[@name='formKey']", namespaces=NS):
                    if prop.get("value") not in self.known_forms:
                        errors.append(problem(N_("Form %(form)s does not exist"), file=src.filename,
                                              line=prop.sourceline, element_id=_element_id(prop),
                                              form=prop.get("value")))
        return errors

    def _context_files(self, files: list[SourceFile], graph: dict[str, set[str]], errors: list) -> list[SourceFile]:
        """Already deployed files defining processes this deployment calls but does not contain."""
        defined = set(graph)
        context: list[SourceFile] = []
        pending = sorted({c for calls in graph.values() for c in calls} - defined)
        while pending:
            key = pending.pop()
            if key in defined:  # came with a file of an earlier deployment already taken
                continue
            latest = self.latest(key, missing_ok=True)
            if latest is None:
                for src in files:
                    for call in src.tree.xpath(".//bpmn:callActivity[@calledElement=$k]", namespaces=NS, k=key):
                        errors.append(problem(N_("Call activity calls an unknown process %(key)s"),
                                              file=src.filename, line=call.sourceline, element_id=call.get("id"),
                                              key=key))
                continue
            for f in latest.deployment.files:
                src = parse_file(f.filename, f.content.encode("utf-8"))
                # SpiffWorkflow refuses a process id seen twice: leave out processes defined already and
                # those whose latest version is in another deployment (taken from there if called)
                for proc in src.tree.xpath(".//bpmn:process", namespaces=NS):
                    newest = self.latest(proc.get("id"), missing_ok=True)
                    if proc.get("id") in defined or (newest is not None
                                                     and newest.deployment_id != latest.deployment_id):
                        proc.getparent().remove(proc)
                context.append(src)
                sub = _call_graph([src])
                defined |= set(sub)
                pending.extend(sorted({c for calls in sub.values() for c in calls} - defined - set(pending)))
        return context + self._decision_files(files + context, errors)

    def _decision_files(self, files: list[SourceFile], errors: list) -> list[SourceFile]:
        """The newest deployed DMN file for each decision a business rule task calls but no given file has."""
        have = {d.get("id") for src in files if src.kind == "dmn" for d in src.tree.iter() if isinstance(d.tag, str)
                and etree.QName(d).localname == "decision"}
        extra: list[SourceFile] = []
        for src in [f for f in files if f.kind == "bpmn"]:
            for ref in src.tree.xpath(".//spiffworkflow:calledDecisionId", namespaces=NS):
                decision = (ref.text or "").strip()
                if not decision or decision in have:
                    continue
                row = self.session.scalars(select(DeploymentFile).where(
                    DeploymentFile.filename.like("%.dmn"), DeploymentFile.content.contains(f'id="{decision}"'))
                    .order_by(DeploymentFile.id.desc()).limit(1)).first()
                if row is None:
                    errors.append(problem(N_("Business rule task calls an unknown decision %(key)s"),
                                          file=src.filename, line=ref.sourceline, element_id=_element_id(ref),
                                          key=decision))
                    continue
                extra.append(parse_file(row.filename, row.content.encode("utf-8")))
                have.add(decision)
        return extra

    @staticmethod
    def _process_ids(files: list[SourceFile]) -> list[str]:
        ids = []
        for src in files:
            if src.kind == "bpmn":
                ids += [p.get("id") for p in src.tree.xpath(".//bpmn:process[@isExecutable='true']", namespaces=NS)]
        return ids

    # -- deploy ---------------------------------------------------------------------------------------
    def with_users_of_decisions(self, uploads: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """A changed decision table takes effect in the processes that call it: their latest BPMN files
        join the deployment (a spec holds its decision tables), so they get new versions too."""
        decisions = set()
        for name, content in uploads:
            if name.lower().endswith(".dmn"):
                decisions |= set(re.findall(rb'<(?:\w+:)?decision\b[^>]*\bid="([^"]+)"', content))
        if not decisions:
            return uploads
        names = {name for name, _ in uploads}
        extra = []
        for definition in self.list_latest():
            for f in definition.deployment.files:
                if f.filename.endswith(".bpmn") and f.filename not in names and any(
                        f"<spiffworkflow:calledDecisionId>{d.decode()}</spiffworkflow:calledDecisionId>" in f.content
                        for d in decisions):
                    extra.append((f.filename, f.content.encode("utf-8")))
                    names.add(f.filename)
        return uploads + extra

    def deploy(self, uploads: list[tuple[str, bytes]], *, actor: str | None = None,
               comment: str | None = None) -> DeployResult:
        uploads = self.with_users_of_decisions(uploads)
        parser, files = self.check(uploads)
        warnings = [w for src in files for w in waiting_without_limit(src)]
        now = self.clock.now()
        deployment = Deployment(sha256=hashlib.sha256(b"".join(sorted(f.content for f in files))).hexdigest(),
                                deployed_at=now, deployed_by=actor, comment=comment,
                                files=[DeploymentFile(filename=f.filename, content=f.content.decode("utf-8"),
                                                      sha256=hashlib.sha256(f.content).hexdigest()) for f in files])
        result = DeployResult(deployment_id=None, warnings=warnings)
        pending = []
        for src in files:
            if src.kind != "bpmn":
                continue
            for proc in src.tree.xpath(".//bpmn:process[@isExecutable='true']", namespaces=NS):
                key = proc.get("id")
                spec_json = spec_to_json(parser.get_spec(key), parser.get_subprocess_specs(key))
                sha = hashlib.sha256(spec_json.encode() + b"\0" + src.content).hexdigest()
                latest = self.latest(key, missing_ok=True)
                if latest is not None and latest.sha256 == sha:
                    result.unchanged.append(latest)
                    continue
                starts = [m for m in proc.xpath("./bpmn:startEvent/bpmn:messageEventDefinition/@messageRef",
                                                namespaces=NS)]
                names = {m.get("id"): m.get("name") for m in src.tree.xpath(".//bpmn:message", namespaces=NS)}
                pending.append(ProcessDefinition(
                    key=key, version=(latest.version + 1) if latest else 1, name=proc.get("name"), sha256=sha,
                    spec_json=spec_json, start_messages=[names.get(m, m) for m in starts], created_at=now,
                    timer_start=bool(proc.xpath("./bpmn:startEvent/bpmn:timerEventDefinition", namespaces=NS))))
        if not pending:
            return result
        self.session.add(deployment)
        self.session.flush()
        for definition in pending:
            definition.deployment_id = deployment.id
            self.session.add(definition)
        self.session.flush()
        result.deployment_id = deployment.id
        result.created = pending
        history.record(self.session, now, "deployed", actor=actor, data={
            "deployment_id": deployment.id, "comment": comment, "files": [f.filename for f in files],
            "versions": {d.key: d.version for d in pending}})
        if self.after_deploy is not None:
            self.after_deploy(pending)
        return result

    # -- queries --------------------------------------------------------------------------------------
    def latest(self, key: str, missing_ok: bool = False) -> ProcessDefinition | None:
        definition = self.session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == key)
                                         .order_by(ProcessDefinition.version.desc()).limit(1))
        if definition is None and not missing_ok:
            raise NotFound(N_("No process %(key)s is deployed"), key=key)
        return definition

    def get(self, definition_id: int) -> ProcessDefinition:
        definition = self.session.get(ProcessDefinition, definition_id)
        if definition is None:
            raise NotFound(N_("No process definition %(id)s"), id=definition_id)
        return definition

    def list_latest(self) -> list[ProcessDefinition]:
        return self.latest_and([])[0]

    def latest_and(self, ids) -> tuple[list[ProcessDefinition], list[ProcessDefinition]]:
        """(the latest version of each process, by key; the versions ``ids`` that are not the latest) in one
        statement — for a list whose rows run older versions too."""
        latest, others = [], []
        for definition, latest_one in self.session.execute(_latest_and(), {"ids": list(ids)}):
            (latest if latest_one else others).append(definition)
        return latest, others

    @staticmethod
    def load_spec(definition: ProcessDefinition):
        return spec_from_json(definition.id, definition.sha256, lambda: definition.spec_json)


@lru_cache(maxsize=1)
def _latest_and():
    """``Repository.latest_and``'s statement (built once): every definition, whether it is its key's latest
    version, where it is or its id is among :ids."""
    newest = (select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("v"))
              .group_by(ProcessDefinition.key).subquery())
    is_latest = newest.c.v.is_not(None)
    return (select(ProcessDefinition, is_latest)
            .outerjoin(newest, (ProcessDefinition.key == newest.c.key) & (ProcessDefinition.version == newest.c.v))
            .where(or_(is_latest, ProcessDefinition.id.in_(bindparam("ids", expanding=True))))
            .order_by(ProcessDefinition.key))


def deploy_paths(repo: Repository, paths: list[str], **kwargs) -> DeployResult:
    uploads = []
    for path in paths:
        with open(path, "rb") as fh:
            uploads.append((path.rsplit("/", 1)[-1], fh.read()))
    return repo.deploy(uploads, **kwargs)
