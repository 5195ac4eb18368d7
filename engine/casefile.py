"""One case, many instances: the legal review, the referral on both sides, supervision notices and revisits
of a case carry its case number as business key and together make up its case file. Who sees which
instance stays the business of :meth:`engine.tasks.TaskService.instance_for`; this module only finds them.

Also the helpers BPMN expressions call about a case's file: who handled it, and which procedures ran for it
at a unit."""
from __future__ import annotations

from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import HumanTask, OrgUnit, ProcessInstance, RoleAssignment, User

HANDLER_ROLE = "handler"
MAX_FILE = 200                  # instances shown in one case file


def instances(session: Session, business_key: str | None) -> list[ProcessInstance]:
    """Every instance of the case, oldest first."""
    if not business_key:
        return []
    return list(session.scalars(select(ProcessInstance).where(ProcessInstance.business_key == business_key)
                                .order_by(ProcessInstance.started_at, ProcessInstance.id).limit(MAX_FILE)))


def handlers(session: Session, business_key: str) -> list[str]:
    """User names of the people who handled the case: whoever completed a handler's task in one of its
    instances, and whoever started one of its instances as a handler of that instance's unit."""
    if not isinstance(business_key, str) or not business_key:
        return []
    found = set(session.scalars(
        select(User.username).join(HumanTask, HumanTask.completed_by_id == User.id)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(ProcessInstance.business_key == business_key, HumanTask.role_code == HANDLER_ROLE)))
    found.update(session.scalars(
        select(User.username).join(ProcessInstance, ProcessInstance.started_by == User.username)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(ProcessInstance.business_key == business_key, RoleAssignment.role_code == HANDLER_ROLE,
               RoleAssignment.unit_id == ProcessInstance.unit_id)))
    return sorted(found)


def processes_at(session: Session, business_key: str, unit_code: str) -> list[str]:
    """Keys of the procedures that ran (or run) for the case at a unit, e.g. ``referral_receipt`` when the
    case was referred to that unit."""
    if not isinstance(business_key, str) or not business_key or not isinstance(unit_code, str):
        return []
    return sorted(set(session.scalars(
        select(ProcessInstance.process_key).join(OrgUnit, OrgUnit.id == ProcessInstance.unit_id)
        .where(ProcessInstance.business_key == business_key, OrgUnit.code == unit_code))))


def helpers(session: Session) -> dict[str, Callable]:
    """For BPMN expressions: ``handlers_of_case(case_number)`` and ``procedures_of_case(case_number, unit)``."""
    return {"handlers_of_case": lambda case_number: handlers(session, case_number),
            "procedures_of_case": lambda case_number, unit: processes_at(session, case_number, unit)}
