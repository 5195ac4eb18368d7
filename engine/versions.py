"""Versions of a procedure: what changed between two (by element, for people), and moving running
instances to a newer version (SpiffWorkflow's spec diff and migrate), one transaction each."""
from __future__ import annotations

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from . import history
from .errors import N_, Conflict, InvalidInput
from .models import HumanTask, ProcessDefinition, ProcessInstance
from .repository import NS, SPIFF_NS, make_parser
from .runtime import Runtime
from .serialization import _spec_serializer

_KINDS = ("startEvent", "endEvent", "userTask", "scriptTask", "businessRuleTask", "serviceTask", "task",
          "manualTask", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
          "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "callActivity", "subProcess",
          "sequenceFlow", "lane")


def source_of(definition: ProcessDefinition) -> bytes:
    for f in definition.deployment.files:
        if f.filename.endswith(".bpmn") and f'id="{definition.key}"' in f.content:
            return f.content.encode("utf-8")
    raise InvalidInput(N_("The source of %(key)s version %(version)s is missing"), key=definition.key,
                       version=definition.version)


def _elements(xml: bytes) -> dict[str, dict]:
    tree = etree.fromstring(xml, make_parser())
    out = {}
    for kind in _KINDS:
        for el in tree.iter(f"{{{NS['bpmn']}}}{kind}"):
            props = {p.get("name"): p.get("value") for p in el.iter(f"{{{SPIFF_NS}}}property")} if kind != "lane" else {}
            details = {f"property {k}": v for k, v in props.items()}
            for child in ("script", "conditionExpression", "timeDate", "timeDuration", "timeCycle"):
                for node in el.iter(f"{{{NS['bpmn']}}}{child}"):
                    details[child] = (node.text or "").strip()
            if kind == "sequenceFlow":
                details["from"], details["to"] = el.get("sourceRef"), el.get("targetRef")
            if kind == "boundaryEvent":
                details["attached to"] = el.get("attachedToRef")
            out[el.get("id")] = {"id": el.get("id"), "type": kind, "name": el.get("name") or "", "details": details}
    return out


def diff(old: ProcessDefinition, new: ProcessDefinition) -> dict:
    """Elements added, removed and changed (name, properties, scripts, conditions, timers, flows)."""
    a, b = _elements(source_of(old)), _elements(source_of(new))
    changed = []
    for el_id in sorted(set(a) & set(b)):
        before, after = a[el_id], b[el_id]
        what = []
        if before["name"] != after["name"]:
            what.append({"what": "name", "before": before["name"], "after": after["name"]})
        for key in sorted(set(before["details"]) | set(after["details"])):
            if before["details"].get(key) != after["details"].get(key):
                what.append({"what": key, "before": before["details"].get(key), "after": after["details"].get(key)})
        if what:
            changed.append({**after, "changes": what})
    return {"added": [b[i] for i in sorted(set(b) - set(a))], "removed": [a[i] for i in sorted(set(a) - set(b))],
            "changed": changed}


def instance_counts(session: Session, key: str) -> dict[int, dict[str, int]]:
    rows = session.execute(select(ProcessInstance.definition_id, ProcessInstance.status, func.count())
                           .where(ProcessInstance.process_key == key)
                           .group_by(ProcessInstance.definition_id, ProcessInstance.status)).all()
    out: dict[int, dict[str, int]] = {}
    for definition_id, status, count in rows:
        out.setdefault(definition_id, {})[status] = count
    return out


_WAITING = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def preview(runtime: Runtime, instance: ProcessInstance, target: ProcessDefinition) -> dict:
    """Whether the instance can move to ``target``: not if a step it waits at no longer exists."""
    workflow = runtime.load(instance)
    spec, subprocess_specs = runtime.repository.load_spec(target)
    top, sub_diffs = diff_workflow(_spec_serializer.registry, workflow, spec, subprocess_specs)
    blocked = [t for t in top.removed if t.has_state(_WAITING)]
    for sp_id, sub in sub_diffs.items():
        if sub is None:
            blocked += [t for t in workflow.subprocesses[sp_id].get_tasks(state=_WAITING)]
        else:
            blocked += [t for t in sub.removed if t.has_state(_WAITING)]
    waiting = [t for t in workflow.get_tasks(state=_WAITING) if getattr(t.task_spec, "bpmn_id", None)]
    changed = [t for t in top.changed if t.has_state(_WAITING)]
    name = lambda t: t.task_spec.bpmn_name or t.task_spec.bpmn_id  # noqa: E731
    return {"instance_id": instance.id, "business_key": instance.business_key, "can_migrate": not blocked,
            "waiting": sorted({name(t) for t in waiting}), "blocked": sorted({name(t) for t in blocked}),
            "changed": sorted({name(t) for t in changed})}


def migrate(runtime: Runtime, instance: ProcessInstance, target: ProcessDefinition, *, actor: str) -> None:
    """Move one running instance to ``target`` (caller's transaction). Waiting steps are offered anew, to
    the same people who had claimed them."""
    if instance.status != "running":
        raise Conflict(N_("Only running cases can be moved to another version"))
    if target.key != instance.process_key or target.id == instance.definition_id:
        raise InvalidInput(N_("Choose another version of the same procedure"))
    check = preview(runtime, instance, target)
    if not check["can_migrate"]:
        raise Conflict(N_("This case waits at steps the new version no longer has: %(steps)s"),
                       steps="、".join(check["blocked"]))
    claims = {t.element_id: t.claimed_by_id for t in runtime.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == "open", HumanTask.claimed_by_id.is_not(None)))}
    workflow = runtime.load(instance)
    spec, subprocess_specs = runtime.repository.load_spec(target)
    top, sub_diffs = diff_workflow(_spec_serializer.registry, workflow, spec, subprocess_specs)
    migrate_workflow(top, workflow, spec)
    for sp_id, sub in sub_diffs.items():
        migrate_workflow(sub, workflow.subprocesses[sp_id], subprocess_specs[workflow.subprocesses[sp_id].spec.name])
    workflow.subprocess_specs = dict(subprocess_specs)
    old_version = instance.definition.version
    instance.definition_id, instance.definition = target.id, target
    history.record(runtime.session, runtime.clock.now(), "instance_migrated", actor=actor, instance_id=instance.id,
                   data={"from_version": old_version, "to_version": target.version})
    runtime.advance(instance, workflow, actor=actor)
    # the waiting steps were offered anew: whoever had claimed one keeps it
    for task in runtime.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                                 HumanTask.status == "open")):
        if task.claimed_by_id is None and claims.get(task.element_id):
            task.claimed_by_id = claims[task.element_id]
    runtime.session.flush()
