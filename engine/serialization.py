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


def state_to_json(workflow: BpmnWorkflow) -> str:
    reg = _state_serializer.registry
    reg._encoder_mode = False
    dct = _state_serializer.to_dict(workflow)
    dct[_state_serializer.VERSION_KEY] = _VERSION
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
    _state_serializer.migrate(dct)
    dct["spec"] = spec
    dct["subprocess_specs"] = dict(subprocess_specs)
    workflow = _state_serializer.from_dict(dct)
    workflow.script_engine = script_engine
    return workflow


def event_to_json(event) -> str:
    return json.dumps(_spec_serializer.registry.convert(event), ensure_ascii=False)


def event_from_json(text: str):
    return _spec_serializer.registry.restore(json.loads(text))
