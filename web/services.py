"""Engine services bound to the current request's database session, the app's clock and the forms."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from engine.calendar import local_date
from engine.clock import Clock
from engine.errors import N_, InvalidInput
from engine.models import OrgUnit, Role, User
from engine.repository import Repository
from engine.runtime import Runtime
from engine.tasks import TaskService
from forms import default_registry
from forms import validate as validate_with

from .extensions import db


def clock() -> Clock:
    return current_app.extensions["clock"]


def reviewer_rule():
    """Who is a qualified legal reviewer (config: REVIEWER_MIN_TRAINING_HOURS, REVIEWER_CERTIFICATE_REQUIRED_FROM)."""
    from engine.registers.personnel import ReviewerRule
    return ReviewerRule.from_config(current_app.config)


def directory():
    """The organisation with the configured reviewer rule, on the app clock's day."""
    from engine.calendar import local_date
    from engine.org import Directory
    return Directory(db.session, reviewer_rule=reviewer_rule(), today=lambda: local_date(clock().now()))


def runtime() -> Runtime:
    return Runtime(db.session, clock(), reviewer_rule=reviewer_rule())


def tasks() -> TaskService:
    return TaskService(db.session, clock(), runtime=runtime(), validate_form=validate_form, issue=issue_documents)


def documents():
    """engine.documents.DocumentService with this installation's templates and attachment storage."""
    from engine.documents import DocumentService

    from .forms_web import store
    return DocumentService(db.session, store(), clock(), current_app.config["DOCUMENT_TEMPLATE_DIR"])


def issue_documents(task, user: User, clean: dict, case_data: dict) -> None:
    """The official documents the task's form declares (``issues:``) whose condition holds for the
    submission: numbered, rendered and stored in the transaction completing the step; a declared
    ``number_field`` receives the 文号 (what the user typed there is replaced)."""
    form = default_registry().get(task.form_key) if task.form_key else None
    if form is None or not form.issues:
        return
    service = None
    for issue in form.issues:
        if issue.when is None or issue.when.holds(clean):
            service = service or documents()
            doc = service.issue(issue.document, task.instance, user, case_data, task=task)
            if issue.number_field:                 # the issued number is the one the case carries on
                clean[issue.number_field] = case_data[issue.number_field] = doc.doc_number


def repository() -> Repository:
    roles = set()
    for role in db.session.scalars(select(Role)):
        roles.update((role.code, role.name))
    return Repository(db.session, clock(), known_roles=roles or None, known_forms=default_registry().keys(),
                      after_deploy=lambda created: runtime().start_timer_instances(created))


def procedures():
    """The latest version of each procedure a person or another system starts, for filters and lists — not
    the internal sub-processes that only a call activity of another procedure runs (their tasks belong to
    the calling case)."""
    return _started(Repository(db.session, clock()).list_latest())   # listing: no roles or forms to check against


def procedures_and_versions(ids) -> tuple[list, list]:
    """(``procedures()``, every version read), the versions ``ids`` (a list's rows) read in the same statement."""
    latest, others = Repository(db.session, clock()).latest_and(ids)
    return _started(latest), latest + others


def _started(latest: list) -> list:
    called: set[str] = set()
    for definition in latest:
        called.update(_spec_facts(definition)[0])
    return [d for d in latest if d.key not in called or d.start_messages or d.timer_start
            or _spec_facts(d)[1]]


_SPEC_FACTS: dict[tuple[int, str], tuple[frozenset[str], bool]] = {}


def _spec_facts(definition) -> tuple[frozenset[str], bool]:
    """(keys of the sub-processes it calls, whether its start event has a form) of a deployed version — which
    never changes, so each worker reads its spec (a large deferred column) once, not on every page."""
    key = (definition.id, definition.sha256)
    facts = _SPEC_FACTS.get(key)
    if facts is None:
        _spec, subprocesses = Repository.load_spec(definition)
        facts = _SPEC_FACTS[key] = (frozenset(k for k in subprocesses if k != definition.key),
                                    bool(runtime().start_properties(definition).get("formKey")))
    return facts


def _lookups() -> dict:
    return {"unit": lambda code: db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) is not None,
            "unit_kind": lambda code: db.session.scalar(select(OrgUnit.kind).where(OrgUnit.code == code)),
            "user": lambda name: db.session.scalar(select(User.id).where(User.username == name)) is not None,
            "member": _member,
            "role_name": lambda code: db.session.scalar(select(Role.name).where(Role.code == code)) or code,
            "unit_name": lambda code: db.session.scalar(select(OrgUnit.name).where(OrgUnit.code == code)) or code,
            "today": lambda: local_date(clock().now())}


def _member(username: str, role: str, unit_code: str | None) -> bool:
    """The user is active and holds ``role`` at the unit ``unit_code`` (anywhere when None)."""
    from engine.models import RoleAssignment
    stmt = select(User.id).join(RoleAssignment).where(User.username == username, User.active.is_(True),
                                                      RoleAssignment.role_code == role)
    if unit_code is not None:
        stmt = stmt.join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id).where(OrgUnit.code == unit_code)
    return db.session.scalar(stmt.limit(1)) is not None


def start_validator(user: User):
    """The start-form check for ``user``: the form's own rules, and unit fields scoped to the units the user
    supervises (e.g. the unit a supervision notice addresses) hold such a unit."""
    from engine.org import Directory

    def validate(form_key: str, data: dict) -> dict:
        clean = validate_form(form_key, data)
        form = default_registry().get(form_key)
        directory = Directory(db.session)
        area = directory.supervised_area(user)
        for field in form.fields:
            code = clean.get(field.name)
            if field.type == "matter":
                _check_matter(field, code, user)
            if field.unit_scope == "supervised" and code and area is not None:
                if directory.unit(code).id not in area | {user.unit_id}:
                    raise InvalidInput(N_("Invalid input"), fields={
                        field.name: [gettext("You can only address a unit in the area you supervise")]})
        return clean
    return validate


EXTERNAL_SENDERS = {"admin", "supervision_officer", "revisit_officer"}    # who may enter a message from outside


def receive_external(user: User, name: str, payload: dict):
    """A message from another system (a 12345 hotline or 信访 clue …) entered by ``user`` for the unit
    ``payload["case_unit"]`` — their own or one they supervise — checked against the form its message start
    event names; the instance it started (None when it waits for its receiver)."""
    from engine.errors import Forbidden
    from engine.org import Directory
    directory = Directory(db.session)
    unit = directory.unit(str(payload["case_unit"]))
    area = directory.supervised_area(user)
    if unit.id != user.unit_id and area is not None and unit.id not in area:
        raise Forbidden(N_("You can only act for your own unit or the units you supervise"))
    rt = runtime()
    starter = next((d for d in repository().list_latest() if name in (d.start_messages or [])), None)
    form_key = rt.start_form(starter) if starter is not None else None
    payload = dict(payload)
    if form_key:                         # the message start event names the form its payload must fill
        routing = {k: payload.pop(k) for k in ("case_unit",) if k in payload}
        payload = {**validate_form(form_key, payload), **routing}
    return rt.receive(name, payload, actor=user.username)
def unit_matters(unit_id: int) -> list[tuple[str, str]]:
    """(事项编码, 事项名称) of the unit's 行政执法事项清单 in force today."""
    from engine.calendar import LOCAL_TZ
    from engine.registers.lists import published_matters
    return published_matters(db.session, unit_id, clock().now().astimezone(LOCAL_TZ).date())


def _check_matter(field, code: str | None, user: User) -> None:
    """A matter field holds a matter of the starter's unit's published 事项清单; it must be chosen once the unit
    has published one (before that, a case has no matter and is on no review list)."""
    matters = dict(unit_matters(user.unit_id))
    if code is None and matters:
        raise InvalidInput(N_("Invalid input"), fields={field.name: [gettext("This field is required.")]})
    if code is not None and code not in matters:
        raise InvalidInput(N_("Invalid input"), fields={
            field.name: [gettext("Choose a matter of your unit's published list of enforcement matters.")]})


def validate_form(form_key: str, data: dict, context: dict | None = None) -> dict:
    """Check a submission against a form from forms/; messages in the user's language."""
    form = default_registry().get(form_key)
    if form is None:
        raise InvalidInput(N_("Form %(form)s does not exist"), form=form_key)
    return validate_with(form, data, gettext, _lookups(), context)


def unit_fields(form_key: str):
    """The unit fields of a form, as the organisation check needs them (which units each accepts)."""
    from engine.route_check import UnitField
    form = default_registry().get(form_key)
    return [UnitField(f.name, f.unit_kinds, f.unit_scope) for f in form.fields if f.type == "unit"] if form else []


def route_check(keys=None):
    """``engine.route_check`` over the deployed procedures and the loaded organisation."""
    from engine.route_check import check_routes
    return check_routes(db.session, unit_fields, current_app.config["EXTERNAL_MESSAGES"], keys,
                        directory=directory_for_check())


def directory_for_check():
    from engine.calendar import local_date
    from engine.org import Directory
    return Directory(db.session, remember_holders=True, reviewer_rule=reviewer_rule(),
                     today=lambda: local_date(clock().now()))
