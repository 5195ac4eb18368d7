"""Process instances: start, advance, persist, deliver messages between instances.

Every public method works inside the caller's transaction and never commits: the caller (API request,
CLI command, scheduler job) commits once, so workflow state, task rows, timers, subscriptions and audit
rows land together or not at all. A concurrent update of the same instance fails on its ``version``
column and surfaces as :class:`Conflict`."""
from __future__ import annotations

import json
import logging
import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterable
from uuid import UUID, uuid4

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import casefile, history
from .calendar import MAX_YEAR, MIN_YEAR, WorkCalendar, local_date
from .errors import N_, Conflict, EngineError, Forbidden, InvalidInput, NotFound, ScriptError
from .limits import MAX_DATA_BYTES, MAX_DATA_DEPTH, MAX_DATA_ITEMS, MAX_NUMBER_DIGITS, is_db_id
from .models import (HumanTask, MessageSubscription, PendingMessage, ProcessDefinition, ProcessInstance,
                     ProvisionalValue, Timer, User)
from .org import Directory
from .repository import Repository
from .notifications import notify, settle, task_offered
from .registers import lists as public_lists
from .scripting import ScriptLimits, evaluate, make_script_engine, step_budget
from .sla import LOCAL_TZ, ProvisionalISO, compute_deadline, state_at, timer_helpers
from .serialization import (event_from_json, event_to_json, prune_finished, spec_traits, state_to_json,
                            workflow_from_state)

log = logging.getLogger(__name__)
MAX_DELIVERY_DEPTH = 20
_DATA_KEY = re.compile(r"^[A-Za-z\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]*$")


def check_data(data: Any) -> dict:
    """Task data must be a JSON object with plain keys, of bounded size and shape (it is stored as JSON
    and comes from the API, from pages and from messages): at most MAX_DATA_DEPTH levels, MAX_DATA_ITEMS
    keys and items, MAX_DATA_BYTES as JSON; numbers finite and at most MAX_NUMBER_DIGITS digits."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(N_("Data must be an object"))
    if len(data) > MAX_DATA_ITEMS:
        raise InvalidInput(N_("The data has too many fields and items (at most %(max)s)"), max=MAX_DATA_ITEMS)
    bad = [k for k in data if not isinstance(k, str) or not _DATA_KEY.match(k)]
    if bad:
        shown = ", ".join(str(k)[:64] for k in bad[:10]) + (" …" if len(bad) > 10 else "")
        raise InvalidInput(N_("Invalid data field names: %(names)s"), names=shown)
    _check_shape(data)
    try:
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(N_("Data must be JSON")) from None
    if len(text.encode("utf-8")) > MAX_DATA_BYTES:
        raise InvalidInput(N_("The data is too large (at most %(max)s bytes)"), max=MAX_DATA_BYTES)
    return json.loads(text)


_NUMBER_LIMIT = 10 ** MAX_NUMBER_DIGITS


def _check_shape(data: dict) -> None:
    """Depth, item count and numbers, walked without recursion; errors name the top-level field."""
    items = len(data)
    stack: list[tuple[Any, int, str]] = [(v, 2, k) for k, v in data.items()]
    while stack:
        value, depth, field = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth > MAX_DATA_DEPTH:
                raise InvalidInput(N_("The data is nested too deeply (at most %(max)s levels)"), max=MAX_DATA_DEPTH)
            items += len(value)
            if items > MAX_DATA_ITEMS:
                raise InvalidInput(N_("The data has too many fields and items (at most %(max)s)"),
                                   max=MAX_DATA_ITEMS)
            if isinstance(value, dict):
                if not all(isinstance(k, str) for k in value):
                    raise InvalidInput(N_("Data must be JSON"))
                stack.extend((v, depth + 1, field) for v in value.values())
            else:
                stack.extend((v, depth + 1, field) for v in value)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, (int, float, Decimal)):
            if isinstance(value, float) and not math.isfinite(value) \
                    or isinstance(value, Decimal) and not value.is_finite():
                raise InvalidInput(N_("%(field)s: a number must be finite"), field=field)
            if abs(value) >= _NUMBER_LIMIT:
                raise InvalidInput(N_("%(field)s: a number may have at most %(max)s digits"), field=field,
                                   max=MAX_NUMBER_DIGITS)
        else:
            raise InvalidInput(N_("Data must be JSON"))


def _step_name(task_spec) -> str | None:
    """The step's name in the model (what staff know it by), or None: element ids are for designers."""
    return getattr(task_spec, "bpmn_name", None) or None


def step_error(exc: Exception, task_spec=None) -> ScriptError:
    """What SpiffWorkflow raised while running a step, as a ScriptError naming the step by its name: the
    guard's own error when it caused it (SpiffWorkflow wraps it), else a message saying whom to tell; the
    technical text (SpiffWorkflow's, in English, with element ids) goes to the log, never to staff."""
    cause = exc
    while cause is not None and not isinstance(cause, (ScriptError, SQLAlchemyError)):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, SQLAlchemyError):
        raise cause                  # the database failed under a helper: an outage, never the model's fault
    task = getattr(exc, "task", None)
    spec = task_spec or getattr(task, "task_spec", None) or getattr(exc, "task_spec", None)
    name = _step_name(spec)
    if cause is not None:
        return (cause.at(N_("Step “%(element)s”: "), element=name) if name
                else cause.at(N_("In a step without a name: ")))
    detail = str(exc).split("\n")[0][:300]
    log.warning("step %s could not continue: %s", getattr(spec, "bpmn_id", None) or "?", detail)
    if name:
        return ScriptError(N_("The procedure could not continue at step “%(element)s”; please tell the process "
                              "designer or an administrator."), element=name, detail=detail)
    return ScriptError(N_("The procedure could not continue at a step without a name; please tell the process "
                          "designer or an administrator."), detail=detail)


def _timer_due(task) -> datetime | None:
    """When a waiting timer task falls due (aware UTC), from the value SpiffWorkflow computed."""
    value = task.internal_data.get("event_value")
    if isinstance(value, dict):            # cycle timer
        return TimerEventDefinition.get_datetime(value["next"]) if value.get("cycles", 0) != 0 else None
    if isinstance(value, str) and value:
        try:
            parsed = TimerEventDefinition.parse_time_or_duration(value)
        except Exception:
            return None
        return parsed.astimezone(timezone.utc) if isinstance(parsed, datetime) else None
    return None


def _aware(value, expression: str) -> datetime:
    """A due time given by an expression: an aware datetime or ISO string with a time zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ScriptError(N_("Due date expression %(expr)s must give a date and time with a time zone"),
                          expr=expression)
    return value.astimezone(timezone.utc)


def _waiting_at_timer_start(workflow: BpmnWorkflow) -> bool:
    return any(type(t.task_spec).__name__ == "StartEvent"
               and isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)
               for t in workflow.get_tasks(state=TaskState.WAITING))


def _timer_fired(workflow: BpmnWorkflow, task_id: str) -> bool:
    """A timer task that stopped waiting fired if it went on (ready/completed), not if it was cancelled."""
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except Exception:
        return False
    return task is not None and task.state in (TaskState.READY, TaskState.STARTED, TaskState.COMPLETED)


def _attached_task(task) -> str | None:
    """For a boundary timer: the id of the task it is attached to (its sibling under the split)."""
    if isinstance(task.task_spec, BoundaryEvent) and task.parent is not None:
        for sibling in task.parent.children:
            if not isinstance(sibling.task_spec, BoundaryEvent):
                return str(sibling.id)
    return None


def _local_iso(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).isoformat()


def correlation_key(correlations: dict) -> str:
    return json.dumps(correlations or {}, sort_keys=True, ensure_ascii=False)


def _message_correlations(properties: Iterable, values: dict) -> dict:
    """The part of a workflow's correlation values that a message's correlation properties use."""
    out: dict = {}
    for prop in properties or ():
        for key in prop.correlation_keys:
            if prop.name in values.get(key, {}):
                out.setdefault(key, {})[prop.name] = values[key][prop.name]
    return out


class Runtime:
    def __init__(self, session: Session, clock, extra_helpers: dict[str, Callable] | None = None,
                 limits: ScriptLimits | None = None, reviewer_rule=None):
        self.session = session
        self.limits = limits or ScriptLimits()
        self.clock = clock
        # legal reviewers count as candidates only when qualified under ``reviewer_rule`` on the clock's day
        self.directory = Directory(session, reviewer_rule=reviewer_rule, today=lambda: local_date(clock.now()))
        self.directory.clock = clock
        self.calendar = WorkCalendar(session)
        self.repository = Repository(session, clock)
        helpers = self.directory.helpers()
        helpers.update({
            "add_working_days": self._add_working_days,
            "working_days_between": self.calendar.working_days_between,
        })
        helpers.update(timer_helpers(self.calendar, clock))
        helpers.update({
            "revisit_draw": self._revisit_draw,
            "revisit_stats": self._revisit_stats,
            "units_with_role": self.directory.units_with_role,
            "new_id": lambda: uuid4().hex,          # e.g. the id of a referral, which its answer correlates on
            "step_done": self._step_done,
        })
        helpers.update(casefile.helpers(session))
        helpers.update(public_lists.helpers(session, clock, lambda: self._current))
        from .registers import contact_points
        helpers.update(contact_points.helpers(session, clock, lambda: self._current))
        helpers.update(extra_helpers or {})
        self._current: ProcessInstance | None = None
        self._ledger: dict[int, dict[tuple[str, str], ProvisionalValue]] = {}   # per instance, loaded lazily
        # per instance: its search row's values when it was loaded (None: created here, no row yet)
        self._indexed: dict[int, tuple | None] = {}
        # read by the caller along with the instance (engine.tasks.complete): its open task rows, once; and
        # the tasks known to have no unread call to act (nothing to settle when they close)
        self.preloaded_open: dict[int, list[HumanTask]] = {}
        self.preloaded_timers: dict[int, list[Timer]] = {}   # likewise its waiting timer rows (timer batches)
        # likewise who last completed each step of the case (element id -> user id): a step offered again
        # is "returned" to them (engine.notifications.task_offered)
        self.last_completers: dict[int, dict[str, int]] = {}
        # each action ends by writing its changes (the optimistic lock is checked there, a loser gets its 409);
        # False: the caller writes them (a timer batch, whose instances it holds locked)
        self.write_each_action = True
        self._loaded_version: dict[int, int] = {}      # per instance: the definition it was loaded with
        self.quiet_tasks: set[str] = set()
        self.helpers = helpers
        self.script_engine = make_script_engine(helpers, self.limits)

    # -- loading and saving -----------------------------------------------------------------------
    def get_instance(self, instance_id: int) -> ProcessInstance:
        instance = self.session.get(ProcessInstance, instance_id) if is_db_id(instance_id) else None
        if instance is None:
            raise NotFound(N_("No process instance %(id)s"), id=instance_id)
        return instance

    def load(self, instance: ProcessInstance) -> BpmnWorkflow:
        spec, subprocess_specs = self.repository.load_spec(instance.definition)
        workflow = workflow_from_state(instance.state, spec, subprocess_specs, self.script_engine)
        self._loaded_version[instance.id] = instance.definition_id
        from .casework import index_values         # what its search row holds (every save keeps it in line)
        if self._indexed.get(instance.id, False) is not None:      # (None: created here, not saved yet: no row)
            self._indexed[instance.id] = index_values(instance, (workflow.last_task or workflow.task_tree).data)
        return workflow

    def _save(self, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
        prune_finished(workflow)              # a looping instance's state stays the size of one round
        instance.state = state_to_json(workflow)
        from .casework import index_case           # what staff search the case by (案件编号, 名称, 当事人)
        known = self._indexed.get(instance.id, False)
        index_case(self.session, instance, dict((workflow.last_task or workflow.task_tree).data), self.clock.now(),
                   known=known or None, new=known is None)
        self._indexed.pop(instance.id, None)
        if workflow.is_completed() and instance.status == "running":
            instance.status = "completed"
            instance.ended_at = self.clock.now()
            history.record(self.session, self.clock.now(), "instance_completed", instance_id=instance.id)
            self._drop_ledger(instance)
        if not self.write_each_action:
            return
        try:
            self.session.flush()
        except StaleDataError:
            raise Conflict(N_("The case was changed by someone else at the same moment; reload and try again"))
        history.flush(self.session)        # the action's audit rows, in one statement, after the version check

    # -- start --------------------------------------------------------------------------------------
    def start(self, process_key: str, *, business_key: str | None = None, data: dict | None = None,
              user: User | None = None, definition: ProcessDefinition | None = None,
              validate: Callable[[str, dict], dict] | None = None) -> ProcessInstance:
        """Start the latest version of ``process_key``. ``validate(form_key, data)`` checks the data against
        the start event's form, when it has one."""
        definition = definition or self.repository.latest(process_key)
        data = check_data(data)
        if user is not None:
            data = self._user_start_data(user, definition, data, validate)
        else:
            form_key = self.start_form(definition)
            if form_key and validate is not None:
                kept = {k: data.pop(k) for k in ("case_unit",) if k in data}   # routing, not a form field
                data = {**validate(form_key, data), **kept}
        if business_key:
            data.setdefault("business_key", business_key)
        spec, subprocess_specs = self.repository.load_spec(definition)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        workflow.task_tree.data.update(data)
        unit_id = None
        if data.get("case_unit"):
            unit_id = self.directory.unit(data["case_unit"]).id
        now = self.clock.now()
        instance = ProcessInstance(definition_id=definition.id, process_key=definition.key,
                                   business_key=business_key, status="running", unit_id=unit_id,
                                   started_by=user.username if user else None, started_at=now, state="{}")
        instance.definition = definition
        self.session.add(instance)
        self.session.flush()
        self._indexed[instance.id] = None
        self.preloaded_open[instance.id] = []           # a new case has no task rows and no audit rows yet
        history.seed_head(self.session, instance.id, None, None)
        history.record(self.session, now, "instance_started", actor=instance.started_by, instance_id=instance.id,
                       data={"process_key": definition.key, "version": definition.version,
                             "business_key": business_key, "data": data})
        self.advance(instance, workflow, actor=instance.started_by)
        return instance

    def _user_start_data(self, user: User, definition: ProcessDefinition, data: dict,
                         validate: Callable[[str, dict], dict] | None) -> dict:
        """What a person may put into a new case: nothing unless the procedure lets them start it; only the
        start form's fields (checked), never routing variables; the case's unit is their own or one they
        supervise. The platform fills in who started it."""
        if not self._starter_roles_hold(user, definition):
            raise Forbidden(N_("Your roles do not allow starting %(process)s"), process=definition.name or definition.key)
        if not self._starter_unit_holds(user, definition):
            raise Forbidden(N_("Your unit may not start %(process)s"), process=definition.name or definition.key)
        self._check_handler_start(user, definition)
        requested_unit = data.pop("case_unit", None)
        form_key = self.start_form(definition)
        if form_key and validate is not None:
            data = validate(form_key, data)
        elif data:
            raise InvalidInput(N_("This procedure takes no data when it is started"))
        unit = user.unit
        if requested_unit not in (None, "", user.unit.code):
            if not isinstance(requested_unit, str):
                raise InvalidInput(N_("The unit must be given by its code"))
            unit = self.directory.unit(requested_unit)
            area = self.directory.supervised_area(user)
            if area is not None and unit.id not in area:
                raise Forbidden(N_("You can only start a case for your own unit or a unit you supervise"))
        data.update(initiator=user.username, initiator_unit=user.unit.code, case_unit=unit.code)
        self._check_start_condition(definition, data)
        return data

    def _check_start_condition(self, definition: ProcessDefinition, data: dict, by_message: bool = False) -> None:
        """The start event's ``startCondition`` (an expression over the start data) must hold; otherwise the
        start is refused with the model's ``startRefusal`` text, next to the ``startRefusalField`` field when
        the model names one. A start by a message (another case's step sent it) is refused the same way; the
        refusal then fails that step, whose form has no such field: the text is the message itself."""
        props = self.start_properties(definition)
        condition = props.get("startCondition")
        if not condition or evaluate(condition, data, self.helpers):
            return
        reason = props.get("startRefusal") or ""
        field = props.get("startRefusalField")
        if field and not by_message:
            raise InvalidInput(N_("The form has errors; see the messages next to the fields"),
                               fields={field: [reason or field]})
        raise InvalidInput(N_("This case cannot be started: %(reason)s"), reason=reason)

    # -- advancing --------------------------------------------------------------------------------
    def advance(self, instance: ProcessInstance, workflow: BpmnWorkflow, *, actor: str | None = None,
                depth: int = 0, completed_task_id: str | None = None, fire_timers: bool = False) -> None:
        """Run engine steps, deliver what the instance threw, index tasks/timers/subscriptions, save.

        Only the timer job passes ``fire_timers``: a user's action never fires a timer that fell due but was
        not fired yet, so whoever commits first — the user or the scheduler — wins cleanly."""
        if depth > MAX_DELIVERY_DEPTH:
            raise EngineError(N_("Messages between instances bounce back and forth too often"))
        previous, self._current = self._current, instance
        try:
            with step_budget(self.limits):      # every snippet of this action shares one budget
                self._advance(instance, workflow, actor, depth, completed_task_id, fire_timers)
        finally:
            self._current = previous

    def _advance(self, instance, workflow, actor, depth, completed_task_id, fire_timers) -> None:
        at_timer_start = fire_timers and _waiting_at_timer_start(workflow)
        self._run_steps(workflow, fire_timers)
        _, messages = spec_traits(workflow.spec, workflow.subprocess_specs)
        # moved to another version in this transaction (engine.versions): the old one's subscriptions may go
        messages = messages or self._loaded_version.get(instance.id, instance.definition_id) != instance.definition_id
        for _ in range(MAX_DELIVERY_DEPTH):
            for event in workflow.get_events():
                if type(event.event_definition).__name__.endswith("MessageEventDefinition"):
                    self.deliver(event, from_instance=instance, actor=actor, depth=depth + 1)
            # a model without message events never waits for one: nothing to index or deliver
            if not messages or not self._sync_subscriptions(instance, workflow):
                break
            self._run_steps(workflow)
        self._sync_tasks(instance, workflow, completed_task_id, actor)
        self._sync_timers(instance, workflow)
        self._sync_provisional(instance, workflow)
        self._save(instance, workflow)
        if at_timer_start and not _waiting_at_timer_start(workflow):
            self._schedule_next(instance)

    # -- timer start events -----------------------------------------------------------------------
    def start_timer_instances(self, definitions) -> list[ProcessInstance]:
        """For each new definition started by a timer, park one instance at its timer start event (and
        withdraw the instances of older versions still waiting there)."""
        started = []
        for definition in definitions:
            if not definition.timer_start:
                continue
            for old in self.session.scalars(select(ProcessInstance).where(
                    ProcessInstance.process_key == definition.key, ProcessInstance.status == "running",
                    ProcessInstance.definition_id != definition.id)):
                if _waiting_at_timer_start(self.load(old)):
                    self.terminate(old, actor="scheduler", reason="replaced by a new version")
            started.append(self.start(definition.key, definition=definition))
        return started

    def _schedule_next(self, instance: ProcessInstance) -> None:
        """A timer-started instance left its start event: park the next one (latest version)."""
        latest = self.repository.latest(instance.process_key, missing_ok=True)
        if latest is not None and latest.timer_start:
            self.start(latest.key, definition=latest)

    # -- helpers that need the database -----------------------------------------------------------
    def _revisit_draw(self, case_number: str, ratio: float, seed: str) -> bool:
        """Draw a case for revisit, reproducibly, and record the draw in the case's audit trail."""
        from .sampling import sampled
        chosen, value = sampled(seed, case_number, ratio)
        history.record(self.session, self.clock.now(), "revisit_sampling", actor="system",
                       instance_id=self._current.id if self._current else None,
                       data={"case_number": case_number, "seed": seed, "ratio": ratio, "draw": round(value, 6),
                             "sampled": chosen})
        return chosen

    def _step_done(self, element_id: str) -> bool:
        """Whether the case being advanced has completed the user task ``element_id`` (e.g. an event
        sub-process that started with the case asks whether the decision has been issued since)."""
        if self._current is None or self._current.id is None or not isinstance(element_id, str):
            return False
        return self.session.scalar(select(HumanTask.id).where(
            HumanTask.instance_id == self._current.id, HumanTask.element_id == element_id,
            HumanTask.status == "completed").limit(1)) is not None

    def _revisit_stats(self, unit_code: str, start: str, end: str) -> dict:
        from .reports import revisit_stats
        return revisit_stats(self.session, self.directory.unit(unit_code).id, _aware(start, "start"),
                             _aware(end, "end"))

    def _run_steps(self, workflow: BpmnWorkflow, fire_timers: bool = False) -> None:
        try:
            if fire_timers:
                workflow.refresh_timers()
            workflow.do_engine_steps()
        except ScriptError:
            raise
        except WorkflowException as exc:
            raise step_error(exc) from None

    # -- human tasks index ------------------------------------------------------------------------
    def _sync_tasks(self, instance: ProcessInstance, workflow: BpmnWorkflow, completed_task_id: str | None,
                    actor: str | None = None) -> None:
        now = self.clock.now()
        ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        preloaded = self.preloaded_open.pop(instance.id, None)
        first = preloaded == [] and self._indexed.get(instance.id, False) is None    # the case starts now
        open_rows = {row.id: row for row in (self.session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "open"))
            if preloaded is None else preloaded) if row.status == "open"}
        closed = [completed_task_id] if completed_task_id else []
        for task_id, row in open_rows.items():
            if task_id not in ready and task_id != completed_task_id:
                row.status = "cancelled"
                row.completed_at = now
                closed.append(task_id)
                history.record(self.session, now, "task_cancelled", instance_id=instance.id, task_id=task_id,
                               data={"element_id": row.element_id, "name": row.name})
        # their calls to act no longer count in the bell (a task known to have none: nothing to settle)
        settle(self.session, [t for t in closed if t not in self.quiet_tasks], now)
        self.quiet_tasks.clear()
        for task_id, task in ready.items():
            if task_id in open_rows:
                continue
            props = task.task_spec.extensions.get("properties", {})
            unit_code = self._route_unit(props.get("unit"), task.data, instance)
            unit = self.directory.unit(unit_code) if unit_code else instance.unit
            sla = props.get("sla")
            due_at, due_recipe = self._limit(now, sla)
            if props.get("dueDate"):                       # an expression, e.g. a deadline kept in case data
                due_at, due_recipe = self._date_property(instance, task, props["dueDate"])
            remind_at, remind_recipe = self._limit(now, props.get("reminder"))
            if props.get("remindDate"):
                remind_at, remind_recipe = self._date_property(instance, task, props["remindDate"])
            role_code = self.directory.role_code(task.task_spec.lane)
            assignee = None
            if props.get("assignee"):                      # a task for one named person (e.g. an expert)
                assignee, unit = self._assignee(props["assignee"], task.data, role_code,
                                                unit if props.get("unit") else None)
            unassigned = self._nobody_for(role_code, unit) if assignee is not None or not props.get("assignee") \
                else "no_holder"
            row = HumanTask(id=task_id, instance_id=instance.id, process_key=instance.process_key,
                            element_id=task.task_spec.bpmn_id,
                            name=task.task_spec.bpmn_name, role_code=role_code,
                            unit=unit, unit_id=unit.id if unit is not None else None,   # known before the flush
                            form_key=props.get("formKey"), status="open",
                            created_at=now, sla=sla, sla_state="on_time", due_at=due_at, remind_at=remind_at,
                            provisional=bool(due_recipe or remind_recipe),
                            subject=str(evaluate(props["subject"], task.data, self.helpers))[:200]
                            if props.get("subject") else None,
                            unassigned=unassigned is not None, unassigned_reason=unassigned,
                            claimed_by=assignee, claimed_by_id=assignee.id if assignee is not None else None)
            row.sla_state = state_at(now, row.due_at, row.remind_at, "on_time")
            self.session.add(row)
            if due_recipe:
                self._note(instance, f"task:{task_id}:due", _local_iso(due_at), due_recipe)
            if remind_recipe:
                self._note(instance, f"task:{task_id}:remind", _local_iso(remind_at), remind_recipe)
            history.record(self.session, now, "task_created", instance_id=instance.id, task_id=task_id,
                           data={"element_id": row.element_id, "name": row.name, "role": row.role_code,
                                 "unit": unit.code if unit else None,
                                 "due_at": row.due_at.isoformat() if row.due_at else None,
                                 **({"provisional": True} if row.provisional else {}),
                                 **({"unassigned": unassigned} if unassigned else {})})
            # who may take it is told (无人承接: the 待分派 queue of the bureau above, and its people are told)
            task_offered(self.session, self.directory, row, now, actor=actor,
                         kind="supervision" if props.get("notification") == "supervision" else "new_task", fresh=True,
                         earlier=not first, last_completers=self.last_completers.get(instance.id))

    def _assignee(self, expression: str, data: dict, role_code: str | None, unit):
        """The ``assignee`` property: an expression giving the user name of the one person who is to do the
        task. The task is theirs (claimed) at the unit where they hold the lane's role; nobody's (无人承接) when
        no active user of that name holds it."""
        from .models import RoleAssignment
        username = evaluate(expression, data, self.helpers)
        if not isinstance(username, str) or not username:
            raise ScriptError(N_("Assignee expression %(expr)s did not give a user"), expr=expression)
        stmt = select(User, RoleAssignment.unit_id).join(RoleAssignment, RoleAssignment.user_id == User.id).where(
            User.username == username, User.active.is_(True))
        if role_code is not None:
            stmt = stmt.where(RoleAssignment.role_code == role_code)
        found = self.session.execute(stmt.limit(1)).first()
        if found is None:
            return None, unit
        user, unit_id = found
        from .models import OrgUnit
        return user, unit or self.session.get(OrgUnit, unit_id)

    def _nobody_for(self, role_code: str | None, unit) -> str | None:
        """Why nobody can take a task offered to ``role_code`` at ``unit`` (None when somebody can): the lane
        names no role, there is no unit, or no active user holds the role there."""
        if role_code is None:
            return "no_role"
        if unit is None:
            return "no_unit"
        if self.directory.has_holder(role_code, unit.id):
            return None
        # holders there, but none qualified (a legal reviewer without 法律职业资格 or the year's training hours)
        return "no_qualified" if self.directory.has_holder(role_code, unit.id, qualified_only=False) else "no_holder"

    def _route_unit(self, expression: str | None, data: dict, instance: ProcessInstance) -> str | None:
        if not expression:
            return None
        code = evaluate(expression, data, self.helpers)
        if not isinstance(code, str) or not code:
            raise ScriptError(N_("Unit expression %(expr)s did not give a unit"), expr=expression)
        return code

    # -- timers -----------------------------------------------------------------------------------
    def _sync_timers(self, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
        """One row per waiting timer (also inside call activities); a row whose timer is no longer waiting
        was fired (its time has come) or cancelled (its task finished first)."""
        preloaded = self.preloaded_timers.pop(instance.id, None)
        if instance.next_timer_at is None and not spec_traits(workflow.spec, workflow.subprocess_specs)[0]:
            return                  # a model without timers, and no timer row waiting (next_timer_at says so)
        now = self.clock.now()
        waiting = {str(t.id): t for t in workflow.get_tasks(state=TaskState.WAITING)
                   if isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)}
        rows = {r.task_id: r for r in (self.session.scalars(
            select(Timer).where(Timer.instance_id == instance.id, Timer.status == "waiting"))
            if preloaded is None else preloaded) if r.status == "waiting"}
        for task_id, row in rows.items():
            if task_id in waiting:
                continue
            if instance.status == "running" and _timer_fired(workflow, task_id):
                row.status, row.fired_at = "fired", now
                history.record(self.session, now, "timer_fired", actor="timer", instance_id=instance.id,
                               data={"element_id": row.element_id, "due_at": row.due_at.isoformat(),
                                     "sla_event": row.sla_event})
                if row.sla_event == "escalation" and row.human_task_id:
                    self._escalate(row.human_task_id, now)
            else:
                row.status = "cancelled"
        due_times = []
        withdrawn = self._withdrawn_timers(instance, [t for t in waiting if t not in rows])
        for task_id, task in waiting.items():
            due = _timer_due(task)
            if due is None or task_id in withdrawn:
                continue
            due_times.append(due)
            row = rows.get(task_id)
            if row is None or row.due_at != due:
                recipe = self._timer_recipe(instance, task, due)
                if recipe:
                    self._note(instance, f"timer:{task_id}", str(task.internal_data["event_value"]), recipe)
            if row is None:
                attached = _attached_task(task)
                props = task.task_spec.extensions.get("properties", {}) if hasattr(task.task_spec, "extensions") else {}
                self.session.add(Timer(instance_id=instance.id, task_id=task_id, element_id=task.task_spec.bpmn_id,
                                       human_task_id=attached, sla_event=props.get("slaEvent"), due_at=due,
                                       status="waiting", provisional=recipe is not None))
            elif row.due_at != due:
                row.due_at, row.provisional = due, recipe is not None
        instance.next_timer_at = min(due_times, default=None)

    # -- provisional deadlines (DOMAIN §6) -----------------------------------------------------------
    def _add_working_days(self, start, n) -> str:
        day = self.calendar.add_working_days(start, n)
        if self.calendar.is_provisional(start, day):
            return ProvisionalISO(day.isoformat(), {"fn": "add_working_days", "start": str(start), "n": int(n)})
        return day.isoformat()

    def _limit(self, start: datetime, limit: str | None) -> tuple[datetime | None, dict | None]:
        """A time limit as written in the model (``sla``, ``reminder``), from ``start``: (deadline, recipe if
        it is provisional)."""
        if not limit:
            return None, None
        result = compute_deadline(self.calendar, start, limit)
        recipe = {"fn": "deadline", "start": _local_iso(start), "limit": limit} if result.provisional else None
        return result.at, recipe

    def _date_property(self, instance: ProcessInstance, task, expression: str) -> tuple[datetime, dict | None]:
        """A ``dueDate``/``remindDate`` expression: (its value, recipe if it is provisional)."""
        value = evaluate(expression, task.data, self.helpers)
        at = _aware(value, expression)
        return at, self._recipe_of(instance, value, expression, at)

    def _timer_recipe(self, instance: ProcessInstance, task, due: datetime) -> dict | None:
        definition = task.task_spec.event_definition
        value = task.internal_data.get("event_value")
        if not isinstance(value, str):
            return None
        return self._recipe_of(instance, value, getattr(definition, "expression", None), due)

    def _recipe_of(self, instance: ProcessInstance, value, expression: str | None, at: datetime) -> dict | None:
        """How a deadline an expression gave was computed, when it is provisional: a value a helper has just
        computed carries its recipe; a value read back from the stored state (a case-data variable such as
        ``review_deadline`` computed in an earlier step) is provisional when the ledger knows it — by the
        variable the expression names, else by its value."""
        if isinstance(value, ProvisionalISO):
            return value.recipe
        year = at.astimezone(LOCAL_TZ).year
        if not isinstance(value, str) or not MIN_YEAR <= year <= MAX_YEAR or self.calendar.is_covered(year):
            return None
        known = [row for (slot, text), row in self._ledger_of(instance).items() if text == value]
        name = expression.strip() if isinstance(expression, str) else ""
        named = [row for row in known if row.slot == f"data:{name}"]
        return dict((named or known)[0].recipe) if (named or known) else None

    def _ledger_of(self, instance: ProcessInstance) -> dict[tuple[str, str], ProvisionalValue]:
        if instance.id not in self._ledger:
            self._ledger[instance.id] = {(r.slot, r.value): r for r in self.session.scalars(
                select(ProvisionalValue).where(ProvisionalValue.instance_id == instance.id))}
        return self._ledger[instance.id]

    def _note(self, instance: ProcessInstance, slot: str, value: str, recipe: dict) -> None:
        """Remember where a provisional value went and how to compute it again."""
        ledger = self._ledger_of(instance)
        if (slot, value) not in ledger:
            row = ProvisionalValue(instance_id=instance.id, slot=slot, value=value, recipe=dict(recipe),
                                   created_at=self.clock.now())
            self.session.add(row)
            ledger[(slot, value)] = row

    def _sync_provisional(self, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
        """Note the case-data variables holding a provisional value computed in this unit of work (only then
        can one be there: what comes back from the stored state is plain text)."""
        if not self.calendar.touched_provisional:
            return
        for task in workflow.get_tasks():
            for key, value in task.data.items():
                if isinstance(value, ProvisionalISO):
                    self._note(instance, f"data:{key}", str(value), value.recipe)

    # the recomputation (engine.provisional) works on the same ledger and timer index
    def take_provisional(self, instance: ProcessInstance) -> list[ProvisionalValue]:
        """Remove and return the instance's noted provisional values, oldest first (flushed, so the ones still
        provisional can be noted again)."""
        rows = sorted(self._ledger_of(instance).values(), key=lambda r: r.id)
        for row in rows:
            self.session.delete(row)
        self.session.flush()
        self._ledger[instance.id] = {}
        return rows

    def note_provisional(self, instance: ProcessInstance, slot: str, value: str, recipe: dict) -> None:
        self._note(instance, slot, value, recipe)

    def provisional_slots(self, instance: ProcessInstance) -> set[str]:
        return {slot for slot, _ in self._ledger_of(instance)}

    def index_timers(self, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
        """Bring the timer rows (due time, provisional flag) and the next timer in line with the state."""
        self._sync_timers(instance, workflow)

    def _drop_ledger(self, instance: ProcessInstance) -> None:
        """An instance that ended has no deadline left to recompute."""
        if instance.id not in self._ledger:        # not read in this action, so nothing of it is pending either:
            self.session.connection().execute(     # one DELETE, no rows loaded and no flush before it
                ProvisionalValue.__table__.delete().where(ProvisionalValue.instance_id == instance.id))
            self._ledger[instance.id] = {}
            return
        for row in self._ledger_of(instance).values():
            if row in self.session.new:
                self.session.expunge(row)
            else:
                self.session.delete(row)
        self._ledger[instance.id] = {}

    def _withdrawn_timers(self, instance: ProcessInstance, task_ids: list[str]) -> set[str]:
        """Of these waiting timers without a waiting row, those an administrator cancelled as an incident
        (engine.incidents.cancel): they stay cancelled and are not indexed again."""
        if not task_ids:
            return set()
        return set(self.session.scalars(select(Timer.task_id).where(
            Timer.instance_id == instance.id, Timer.task_id.in_(task_ids), Timer.status == "cancelled",
            Timer.incident_at.is_not(None))))

    def _escalate(self, human_task_id: str, now: datetime) -> None:
        task = self.session.get(HumanTask, human_task_id)
        if task is None or task.sla_state == "escalated":
            return
        task.sla_state = "escalated"
        notify(self.session, self.directory, task, "escalated", now)
        history.record(self.session, now, "task_escalated", actor="timer", instance_id=task.instance_id,
                       task_id=task.id, data={"element_id": task.element_id, "name": task.name})

    # -- messages ---------------------------------------------------------------------------------
    def _sync_subscriptions(self, instance: ProcessInstance, workflow: BpmnWorkflow) -> bool:
        """Index the messages the instance waits for; deliver buffered ones that match now. Returns True
        when something was delivered into ``workflow``."""
        wanted = {}
        for pending in workflow.waiting_events():
            if pending.event_type.endswith("MessageEventDefinition"):
                # the correlation values of the (sub-)workflow that waits: a catch inside a call activity
                # correlates on what that call activity sent, not on the top workflow's values
                values = pending.correlations or workflow.correlations
                corr = correlation_key(_message_correlations(pending.value, values))
                wanted[(pending.name, corr)] = True
        rows = list(self.session.scalars(select(MessageSubscription).where(
            MessageSubscription.instance_id == instance.id)))
        have = {(r.message_name, r.correlation): r for r in rows}
        for key, row in have.items():
            if key not in wanted:
                self.session.delete(row)
        delivered = False
        for name, corr in wanted:
            if (name, corr) not in have:
                self.session.add(MessageSubscription(instance_id=instance.id, message_name=name, correlation=corr,
                                                     created_at=self.clock.now()))
            buffered = self.session.scalars(select(PendingMessage).where(
                PendingMessage.message_name == name, PendingMessage.delivered_at.is_(None),
                PendingMessage.correlation.in_([corr, correlation_key({})] if corr != correlation_key({}) else [corr]))
                .order_by(PendingMessage.id).limit(1)).first()
            if buffered is not None:
                workflow.send_event(event_from_json(buffered.event_json))
                buffered.delivered_to_id, buffered.delivered_at = instance.id, self.clock.now()
                history.record(self.session, self.clock.now(), "message_received", instance_id=instance.id,
                               data={"message": name, "correlation": json.loads(corr),
                                     "from_instance": buffered.from_instance_id})
                delivered = True
        self.session.flush()
        return delivered

    def deliver(self, event, *, from_instance: ProcessInstance | None = None, actor: str | None = None,
                depth: int = 0) -> ProcessInstance | None:
        """Route a thrown message to the instance waiting for it (matching correlation), else to a process
        started by it, else keep it until someone subscribes. Returns the receiving instance."""
        name = event.event_definition.name
        corr = correlation_key(event.correlations)
        now = self.clock.now()
        if from_instance is not None:
            history.record(self.session, now, "message_sent", actor=actor, instance_id=from_instance.id,
                           data={"message": name, "correlation": event.correlations, "payload": event.payload})
        candidates = [corr] if corr == correlation_key({}) else [corr, correlation_key({})]
        target = None
        for c in candidates:
            sub = self.session.scalars(select(MessageSubscription).join(ProcessInstance).where(
                MessageSubscription.message_name == name, MessageSubscription.correlation == c,
                ProcessInstance.status == "running",
                MessageSubscription.instance_id != (from_instance.id if from_instance else -1))
                .order_by(MessageSubscription.id).limit(1)).first()
            if sub is not None:
                target = self.get_instance(sub.instance_id)
                break
        if target is not None:
            workflow = self.load(target)
            try:
                workflow.send_event(event)
            except WorkflowException:
                target = None
            else:
                history.record(self.session, now, "message_received", actor=actor, instance_id=target.id,
                               data={"message": name, "correlation": event.correlations,
                                     "from_instance": from_instance.id if from_instance else None})
                self.advance(target, workflow, actor=actor, depth=depth)
                return target
        starter = next((d for d in self.repository.list_latest() if name in (d.start_messages or [])), None)
        if starter is not None:
            return self._start_by_message(starter, event, actor=actor, depth=depth)
        self.session.add(PendingMessage(message_name=name, correlation=corr, event_json=event_to_json(event),
                                        from_instance_id=from_instance.id if from_instance else None,
                                        created_at=now))
        self.session.flush()
        return None

    def receive(self, name: str, payload: dict, *, actor: str | None = None) -> ProcessInstance | None:
        """A message from outside (e.g. a 12345 hotline clue): delivered like one thrown by an instance."""
        from SpiffWorkflow.bpmn.util.event import BpmnEvent
        from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
        event = BpmnEvent(MessageEventDefinition(name), payload=check_data(payload), correlations={})
        history.record(self.session, self.clock.now(), "message_received_external", actor=actor,
                       data={"message": name, "payload": payload})
        return self.deliver(event, actor=actor)

    def _start_by_message(self, definition: ProcessDefinition, event, *, actor, depth) -> ProcessInstance:
        spec, subprocess_specs = self.repository.load_spec(definition)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        payload = event.payload if isinstance(event.payload, dict) else {}
        start_data = check_data({k: v for k, v in payload.items() if _DATA_KEY.match(str(k))})
        self._check_start_condition(definition, start_data, by_message=True)
        workflow.task_tree.data.update(start_data)
        self._run_steps(workflow)
        workflow.send_event(event)
        unit_code = payload.get("case_unit")
        now = self.clock.now()
        instance = ProcessInstance(definition_id=definition.id, process_key=definition.key,
                                   business_key=payload.get("business_key") or payload.get("case_number"),
                                   status="running", unit_id=self.directory.unit(unit_code).id if unit_code else None,
                                   started_by=actor, started_at=now, state="{}")
        instance.definition = definition
        self.session.add(instance)
        self.session.flush()
        self._indexed[instance.id] = None
        self.preloaded_open[instance.id] = []
        history.seed_head(self.session, instance.id, None, None)
        history.record(self.session, now, "instance_started", actor=actor, instance_id=instance.id,
                       data={"process_key": definition.key, "version": definition.version,
                             "message": event.event_definition.name, "payload": event.payload})
        self.advance(instance, workflow, actor=actor, depth=depth)
        return instance

    # -- running a human task ---------------------------------------------------------------------
    def run_task(self, instance: ProcessInstance, task_id: str, data: dict, *, actor: str,
                 validate: Callable[[dict, dict], dict] | None = None,
                 accepted: Callable[[dict], None] | None = None) -> None:
        """Complete a READY user task with ``data``; ``validate(case_data, data)`` may check and clean the
        submission against the task's form first (raising InvalidInput); ``accepted(data)`` is told the
        data that will be applied, before the engine moves on."""
        instance_id = instance.id            # (the instance may be expired when a concurrent change failed the flush)
        workflow = self.load(instance)
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except Exception:                # a task of a finished loop round is pruned from the tree: done
            task = None
        if task is None or task.state != TaskState.READY:
            raise Conflict(N_("This task has already been completed or withdrawn"))
        try:
            if validate is not None:
                data = validate(dict(task.data), data)
            if accepted is not None:
                accepted(data)
            task.data.update(data)
            with step_budget(self.limits):
                try:
                    task.run()
                except ScriptError:
                    raise
                except WorkflowException as exc:
                    raise step_error(exc, task.task_spec) from None
                self.advance(instance, workflow, actor=actor, completed_task_id=task_id)
        finally:                             # what the caller read for this action serves this action only
            self.preloaded_open.pop(instance_id, None)
            self.preloaded_timers.pop(instance_id, None)
            self.last_completers.pop(instance_id, None)
            self.quiet_tasks.discard(task_id)

    def start_properties(self, definition: ProcessDefinition) -> dict:
        """Extension properties of the process's start event: ``formKey`` (the start form — of a message start
        event: the form a message from outside must fill), ``starterRoles`` (comma-separated role codes allowed
        to start it; absent = nobody), ``starterUnits`` (an expression over ``initiator_unit``, the starting
        person's unit code, that must hold), ``startCondition`` / ``startRefusal`` / ``startRefusalField`` (an
        expression over the start data that must hold, else the start is refused with that text)."""
        spec, _ = self.repository.load_spec(definition)
        for task_spec in spec.task_specs.values():
            if type(task_spec).__name__ == "StartEvent" and getattr(task_spec, "extensions", None):
                props = task_spec.extensions.get("properties", {})
                if props.get("formKey") or props.get("starterRoles") or props.get("startCondition"):
                    return props
        return {}

    def start_form(self, definition: ProcessDefinition) -> str | None:
        return self.start_properties(definition).get("formKey")

    def may_start(self, user: User, definition: ProcessDefinition) -> bool:
        """Default deny: a person starts only a procedure whose start event names ``starterRoles`` they hold;
        one started by a message or a timer, or only called by another process, never."""
        return self._starter_roles_hold(user, definition) and self._starter_unit_holds(user, definition)

    def _starter_roles_hold(self, user: User, definition: ProcessDefinition) -> bool:
        if definition.start_messages or definition.timer_start:
            return False
        allowed = {r.strip() for r in self.start_properties(definition).get("starterRoles", "").split(",") if r.strip()}
        return bool(allowed & {ra.role_code for ra in user.roles})

    def _check_handler_start(self, user: User, definition: ProcessDefinition) -> None:
        """A person who may start the procedure only as case handler (承办人) needs a valid 执法证."""
        from .registers.personnel import HANDLER_ROLE, check_enforcement
        allowed = {r.strip() for r in self.start_properties(definition).get("starterRoles", "").split(",") if r.strip()}
        if (allowed & {ra.role_code for ra in user.roles}) == {HANDLER_ROLE}:
            check_enforcement(self.session, user, local_date(self.clock.now()))

    def _starter_unit_holds(self, user: User, definition: ProcessDefinition) -> bool:
        """The start event's ``starterUnits`` expression, if any, holds for the person's unit (e.g. only the
        city's justice bureau starts a reporting round)."""
        expression = self.start_properties(definition).get("starterUnits")
        return not expression or bool(evaluate(expression, {"initiator_unit": user.unit.code}, self.helpers))

    def terminate(self, instance: ProcessInstance, *, actor: str, reason: str | None = None,
                  status: str = "terminated", action: str = "instance_terminated") -> None:
        """End a running instance before its end: the workflow is cancelled, its open tasks withdrawn, its
        waiting timers cancelled (they never fire), its message subscriptions dropped. ``status`` is what the
        instance shows afterwards (terminated, or withdrawn/cancelled: engine.casework)."""
        if instance.status != "running":
            raise Conflict(N_("The case is no longer running"))
        workflow = self.load(instance)
        workflow.cancel()
        instance.status = status
        instance.ended_at = self.clock.now()
        history.record(self.session, self.clock.now(), action, actor=actor, instance_id=instance.id,
                       data={"reason": reason})
        self._sync_tasks(instance, workflow, None)
        self._sync_timers(instance, workflow)
        for row in self.session.scalars(select(MessageSubscription).where(
                MessageSubscription.instance_id == instance.id)):
            self.session.delete(row)
        self._drop_ledger(instance)
        self._save(instance, workflow)

    def data_of(self, instance: ProcessInstance) -> dict:
        """The case data as the latest finished task left it."""
        workflow = self.load(instance)
        last = workflow.last_task or workflow.task_tree
        return dict(last.data)

    def preload_rows(self, instance_ids) -> None:
        """Read the open task rows and the waiting timer rows of several instances in one statement each (the
        timer scheduler fires a batch with one Runtime), for the next action on each of them only."""
        ids = list(instance_ids)
        if not ids:
            return
        tasks: dict[int, list[HumanTask]] = {i: [] for i in ids}
        for row in self.session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(ids),
                                                                HumanTask.status == "open")):
            tasks[row.instance_id].append(row)
        timers: dict[int, list[Timer]] = {i: [] for i in ids}
        for row in self.session.scalars(select(Timer).where(Timer.instance_id.in_(ids), Timer.status == "waiting")):
            timers[row.instance_id].append(row)
        self.preloaded_open.update(tasks)
        self.preloaded_timers.update(timers)

    def preload_ledgers(self, instance_ids) -> None:
        """Read the provisional-value ledgers of several instances in one statement (the timer scheduler fires
        a batch of instances with one Runtime), so that advancing each does not query its own."""
        ids = [i for i in instance_ids if i not in self._ledger]
        if not ids:
            return
        ledgers: dict[int, dict] = {i: {} for i in ids}
        for row in self.session.scalars(select(ProvisionalValue).where(ProvisionalValue.instance_id.in_(ids))):
            ledgers[row.instance_id][(row.slot, row.value)] = row
        self._ledger.update(ledgers)
