"""Engine services bound to the current request's database session, the app's clock and the forms."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

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


def runtime() -> Runtime:
    return Runtime(db.session, clock())


def tasks() -> TaskService:
    return TaskService(db.session, clock(), validate_form=validate_form)


def repository() -> Repository:
    roles = set()
    for role in db.session.scalars(select(Role)):
        roles.update((role.code, role.name))
    return Repository(db.session, clock(), known_roles=roles or None, known_forms=default_registry().keys(),
                      after_deploy=lambda created: runtime().start_timer_instances(created))


def _lookups() -> dict:
    return {"unit": lambda code: db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) is not None,
            "unit_kind": lambda code: db.session.scalar(select(OrgUnit.kind).where(OrgUnit.code == code)),
            "user": lambda name: db.session.scalar(select(User.id).where(User.username == name)) is not None,
            "member": _member,
            "role_name": lambda code: db.session.scalar(select(Role.name).where(Role.code == code)) or code,
            "unit_name": lambda code: db.session.scalar(select(OrgUnit.name).where(OrgUnit.code == code)) or code}


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
    return check_routes(db.session, unit_fields, current_app.config["EXTERNAL_MESSAGES"], keys)
