"""SpiffWorkflow state <-> JSON. The spec is stored once per deployed version; an instance's state holds
only its tasks and data. Restored specs are cached in-process by (definition id, sha256)."""
from __future__ import annotations

import json
from collections import OrderedDict
from copy import deepcopy
from typing import Any, Callable

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .errors import N_, ScriptError

MAX_STATE_CHARS = 8 * 1024 * 1024     # an instance's stored state; case data is a form's worth, not a database


class _StateOnlyConverter(BpmnWorkflowConverter):
    """Like SpiffWorkflow's converter but leaves the spec out; on restore the caller supplies the (cached)
    spec objects in ``dct['spec']``/``dct['subprocess_specs']``, which the registry passes through as-is."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


_config = deepcopy(SPIFF_CONFIG)
_config[BpmnWorkflow] = _StateOnlyConverter
_state_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_config))
_spec_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
_VERSION = _state_serializer.VERSION

_spec_cache: "OrderedDict[tuple[int, str], tuple[Any, dict]]" = OrderedDict()
_SPEC_CACHE_SIZE = 256


def spec_to_json(spec, subprocess_specs: dict) -> str:
    reg = _spec_serializer.registry
    return json.dumps({"spec": reg.convert(spec),
                       "subprocess_specs": {k: reg.convert(v) for k, v in subprocess_specs.items()}},
                      ensure_ascii=False, sort_keys=True)


def spec_from_json(definition_id: int, sha256: str, text: "str | Callable[[], str]"):
    """The restored (spec, subprocess specs) of a deployed version. ``text`` may be a function giving the
    stored JSON: it is called only when the cache does not hold the version (a deployed version never
    changes, so the JSON is not read again on a hit)."""
    key = (definition_id, sha256)
    hit = _spec_cache.get(key)
    if hit is not None:
        _spec_cache.move_to_end(key)
        return hit
    dct = json.loads(text() if callable(text) else text)
    reg = _spec_serializer.registry
    result = (reg.restore(dct["spec"]), {k: reg.restore(v) for k, v in dct["subprocess_specs"].items()})
    _spec_cache[key] = result
    if len(_spec_cache) > _SPEC_CACHE_SIZE:
        _spec_cache.popitem(last=False)
    return result


def spec_traits(spec, subprocess_specs: dict) -> tuple[bool, bool]:
    """(has timers, has message events) anywhere in the process or the processes it calls; computed once
    per spec object (restored specs are cached, so once per deployed version and process)."""
    traits = getattr(spec, "_engine_traits", None)
    if traits is None:
        from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
        timers = messages = False
        for one in [spec, *subprocess_specs.values()]:
            for task_spec in one.task_specs.values():
                definition = getattr(task_spec, "event_definition", None)
                if definition is None:
                    continue
                inner = getattr(definition, "event_definitions", None) or [definition]   # a multiple event
                for d in inner:
                    if isinstance(d, TimerEventDefinition):
                        timers = True
                    elif "Message" in type(d).__name__:
                        messages = True
        traits = (timers, messages)
        spec._engine_traits = traits
    return traits


_PRUNED_KEY = "pruned_done"      # our own key in the stored state: element ids done in pruned iterations


def prune_finished(workflow: BpmnWorkflow) -> int:
    """Drop finished loop iterations from the task tree so an instance's stored state does not grow with its
    age. The tree is re-rooted at the deepest completed task that is an ancestor of every unfinished task;
    everything above and beside it is finished and nothing the engine does next reads it (a parallel join
    still waiting keeps its split: its waiting branch task is unfinished). Done only when the part cut off
    repeats elements of the part kept (a loop): an instance without a loop keeps its whole tree. The element
    ids done in the part cut off are kept (``pruned_done``) for the diagram; the history and the human-task
    index are our own tables and do not depend on these tasks. Returns how many tasks were dropped."""
    from SpiffWorkflow.util.task import TaskState
    tasks = workflow.tasks
    live = [t for t in tasks.values() if t.has_state(TaskState.NOT_FINISHED_MASK)]
    if not live:
        return 0
    common: list | None = None                        # ancestors shared by every unfinished task, root first
    for task in live:
        path, node = [], task.parent
        while node is not None:
            path.append(node)
            node = node.parent
        path.reverse()
        if common is None:
            common = path
        else:
            n = 0
            while n < min(len(common), len(path)) and common[n] is path[n]:
                n += 1
            common = common[:n]
        if not common:
            return 0
    cut = next((t for t in reversed(common) if t.state == TaskState.COMPLETED), None)
    if cut is None or cut is workflow.task_tree:
        return 0
    kept, stack = set(), [cut]
    while stack:
        node = stack.pop()
        kept.add(node.id)
        stack.extend(node.children)
    kept_specs = {tasks[i].task_spec for i in kept}
    dropped = [t for i, t in tasks.items() if i not in kept]
    if not any(t.task_spec in kept_specs for t in dropped):
        return 0                                      # not a loop: keep the tree as the engine made it
    done = set(getattr(workflow, _PRUNED_KEY, ()))
    for task in dropped:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id and task.state == TaskState.COMPLETED:
            done.add(bpmn_id)
        del tasks[task.id]
        _drop_subprocess(workflow, task.id, done)  # a finished call activity's or sub-process's own tasks
    setattr(workflow, _PRUNED_KEY, done)
    cut._parent = None
    workflow.task_tree = cut
    if workflow.last_task is not None and workflow.last_task.id not in kept:
        workflow.last_task = cut
    return len(dropped)


def _drop_subprocess(workflow: BpmnWorkflow, task_id, done: set[str]) -> None:
    from SpiffWorkflow.util.task import TaskState
    sub = workflow.subprocesses.pop(task_id, None)
    if sub is not None:
        done.update(t.task_spec.bpmn_id for t in sub.tasks.values()
                    if t.state == TaskState.COMPLETED and getattr(t.task_spec, "bpmn_id", None))
        for inner in [k for k, sp in workflow.subprocesses.items() if getattr(sp, "parent_workflow", None) is sub]:
            _drop_subprocess(workflow, inner, done)


def done_in_pruned(workflow: BpmnWorkflow) -> set[str]:
    """Element ids completed in loop iterations pruned from the tree (``prune_finished``)."""
    return set(getattr(workflow, _PRUNED_KEY, ()))


def state_to_json(workflow: BpmnWorkflow) -> str:
    reg = _state_serializer.registry
    reg._encoder_mode = False
    dct = _state_serializer.to_dict(workflow)
    dct[_state_serializer.VERSION_KEY] = _VERSION
    if getattr(workflow, _PRUNED_KEY, None):
        dct[_PRUNED_KEY] = sorted(getattr(workflow, _PRUNED_KEY))
    try:
        text = json.dumps(dct, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:     # a script stored a set, NaN, … in the case data
        raise ScriptError(N_("The case data holds a value that cannot be stored (%(detail)s); scripts may store "
                             "only text, numbers, true/false, lists and objects"), detail=str(exc)[:120]) from None
    except RecursionError:
        raise ScriptError(N_("The case data is nested too deeply")) from None
    if len(text) > MAX_STATE_CHARS:
        raise ScriptError(N_("The case data is too large to store (more than %(count)s characters)"),
                          count=MAX_STATE_CHARS)
    return text


def workflow_from_state(text: str, spec, subprocess_specs: dict, script_engine) -> BpmnWorkflow:
    dct = json.loads(text)
    pruned = dct.pop(_PRUNED_KEY, None)
    _state_serializer.migrate(dct)
    dct["spec"] = spec
    dct["subprocess_specs"] = dict(subprocess_specs)
    workflow = _state_serializer.from_dict(dct)
    workflow.script_engine = script_engine
    if pruned:
        setattr(workflow, _PRUNED_KEY, set(pruned))
    return workflow


def event_to_json(event) -> str:
    return json.dumps(_spec_serializer.registry.convert(event), ensure_ascii=False)


def event_from_json(text: str):
    return _spec_serializer.registry.restore(json.loads(text))
