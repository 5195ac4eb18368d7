"""Invited supervisors (行政执法监督员, 任务9): the register a city or county justice bureau keeps (who, from which
organisation, the term of appointment, the units or areas assigned), the area an invited supervisor may read
(only what the register assigns, only during the term), and the supervisor's findings (监督意见).

A finding is a case of the ``supervision_finding`` procedure (workflows/bpmn/supervision_finding.bpmn) with
the business key of the case it is about: the case unit's agency head answers within the model's time limit,
the supervising justice bureau reviews the answer and may turn the finding into a 督办 (the supervision notice
procedure, started by the ``supervision_requested`` message)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Iterable

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from .. import history
from ..calendar import local_date
from ..errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from ..limits import is_db_id
from ..models import AuditEvent, HumanTask, OrgUnit, ProcessInstance, User
from ..org import JUSTICE_BUREAU, Directory
from .oversight_models import SupervisorAppointment, SupervisorArea

SUPERVISOR_ROLE = "invited_supervisor"
KEEPER_ROLES = {"supervision_officer", "admin"}
FINDING_PROCESS = "supervision_finding"
NOTICE_PROCESS = "supervision_notice_auto"   # the 督办 a finding turns into (started by message)
ANSWER_STEP = "answer_finding"           # the agency head's answer (its sla is the model's time limit)
REVIEW_STEP = "review_finding_answer"
MAX_FINDING = 5000
MAX_AREAS = 50


# -- who keeps the register -----------------------------------------------------------------------------------

def keeper_area(directory: Directory, user: User) -> set[int] | None:
    """Units whose register entries ``user`` keeps: every one (None) for an administrator; for a supervision
    officer of a justice bureau, the bureau's county or city. Anyone else: Forbidden."""
    roles = {ra.role_code for ra in user.roles}
    if "admin" in roles:
        return None
    if "supervision_officer" in roles and user.unit.kind == JUSTICE_BUREAU:
        return directory.descendant_ids(directory.county_or_city(user.unit.code))
    raise Forbidden(N_("Only the supervision officers of a justice bureau keep this register"))


def _keeping_bureau(directory: Directory, user: User) -> OrgUnit:
    if user.unit.kind == JUSTICE_BUREAU:
        return user.unit
    return directory.child_of_kind(directory.county_or_city(user.unit.code), JUSTICE_BUREAU)


def _parse_day(value, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(N_("%(field)s: give a date as YYYY-MM-DD"), field=name) from None


def _units(directory: Directory, codes, area: set[int] | None) -> list[OrgUnit]:
    if not isinstance(codes, (list, tuple)) or not codes:
        raise InvalidInput(N_("Assign at least one unit or area"))
    if len(codes) > MAX_AREAS:
        raise InvalidInput(N_("At most %(max)s units or areas can be assigned"), max=MAX_AREAS)
    units = []
    for code in codes:
        try:
            unit = directory.unit(code)
        except NotFound:
            raise InvalidInput(N_("Unknown unit: %(code)s"), code=str(code)[:64]) from None
        if area is not None and unit.id not in area:
            raise Forbidden(N_("You can only assign units in the area your bureau supervises"))
        if unit not in units:
            units.append(unit)
    return units


def _supervisor_user(session: Session, username) -> User:
    user = session.scalar(select(User).where(User.username == username)) \
        if isinstance(username, str) and username else None
    if user is None:
        raise InvalidInput(N_("No user %(user)s"), user=str(username)[:64])
    if SUPERVISOR_ROLE not in {ra.role_code for ra in user.roles}:
        raise InvalidInput(N_("%(user)s does not hold the invited-supervisor role"), user=user.display_name)
    return user


def _check_term(term_from: date, term_to: date) -> None:
    if term_to < term_from:
        raise InvalidInput(N_("The term cannot end before it begins"))


def appoint(session: Session, actor: User, *, username: str, organisation: str, term_from, term_to,
            units: Iterable[str], now: datetime, note: str | None = None) -> SupervisorAppointment:
    """Enter an invited supervisor's term in the register of the actor's bureau."""
    directory = Directory(session)
    area = keeper_area(directory, actor)
    user = _supervisor_user(session, username)
    organisation = (organisation or "").strip() if isinstance(organisation, str) else ""
    if not organisation or len(organisation) > 200:
        raise InvalidInput(N_("Give the supervisor's organisation (at most 200 characters)"))
    start, end = _parse_day(term_from, "term_from"), _parse_day(term_to, "term_to")
    _check_term(start, end)
    chosen = _units(directory, list(units) if isinstance(units, (list, tuple)) else units, area)
    row = SupervisorAppointment(user=user, bureau=_keeping_bureau(directory, actor), organisation=organisation,
                                term_from=start, term_to=end, active=True, note=(note or None),
                                created_at=now, created_by=actor.username)
    row.areas = [SupervisorArea(unit=u) for u in chosen]
    session.add(row)
    session.flush()
    history.record(session, now, "supervisor_appointed", actor=actor.username,
                   data={"appointment": row.id, "user": user.username, "organisation": organisation,
                         "term": [start.isoformat(), end.isoformat()], "units": [u.code for u in chosen]})
    return row


def appointments(session: Session, actor: User) -> list[SupervisorAppointment]:
    """The register entries the actor keeps (its bureau's area), newest term first."""
    area = keeper_area(Directory(session), actor)
    stmt = select(SupervisorAppointment)
    if area is not None:
        stmt = stmt.where(SupervisorAppointment.bureau_id.in_(area))
    return list(session.scalars(stmt.order_by(SupervisorAppointment.term_from.desc(), SupervisorAppointment.id)))


def appointment_for(session: Session, actor: User, appointment_id: int) -> SupervisorAppointment:
    area = keeper_area(Directory(session), actor)
    row = session.get(SupervisorAppointment, appointment_id) if is_db_id(appointment_id) else None
    if row is None or (area is not None and row.bureau_id not in area):
        raise NotFound(N_("No such register entry"))
    return row


def update(session: Session, actor: User, appointment_id: int, changes: dict, now: datetime) -> SupervisorAppointment:
    """Change a term (dates, organisation, units, active)."""
    row = appointment_for(session, actor, appointment_id)
    directory = Directory(session)
    area = keeper_area(directory, actor)
    if "organisation" in changes:
        text = changes["organisation"].strip() if isinstance(changes["organisation"], str) else ""
        if not text or len(text) > 200:
            raise InvalidInput(N_("Give the supervisor's organisation (at most 200 characters)"))
        row.organisation = text
    start = _parse_day(changes["term_from"], "term_from") if "term_from" in changes else row.term_from
    end = _parse_day(changes["term_to"], "term_to") if "term_to" in changes else row.term_to
    _check_term(start, end)
    row.term_from, row.term_to = start, end
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise InvalidInput(N_("active is true or false"))
        row.active = changes["active"]
    if "units" in changes:
        chosen = _units(directory, changes["units"], area)
        keep = {a.unit_id: a for a in row.areas}
        row.areas = [keep.get(u.id) or SupervisorArea(unit=u) for u in chosen]
    session.flush()
    history.record(session, now, "supervisor_appointment_changed", actor=actor.username,
                   data={"appointment": row.id, "changes": {k: v for k, v in changes.items()
                                                            if k in ("organisation", "term_from", "term_to",
                                                                     "active", "units")}})
    return row


# -- what an invited supervisor may read --------------------------------------------------------------------

def assigned_area(session: Session, directory: Directory, user: User, today: date) -> set[int]:
    """The units an invited supervisor may read today: every unit at or below a unit assigned by one of
    their active terms that covers ``today``; nothing outside a term."""
    area: set[int] = set()
    rows = session.scalars(select(SupervisorArea.unit_id).join(SupervisorAppointment).where(
        SupervisorAppointment.user_id == user.id, SupervisorAppointment.active.is_(True),
        SupervisorAppointment.term_from <= today, SupervisorAppointment.term_to >= today))
    for unit_id in set(rows):
        unit = session.get(OrgUnit, unit_id)
        if unit is not None:
            area |= directory.descendant_ids(unit)
    return area


def current_terms(session: Session, user: User, today: date) -> list[SupervisorAppointment]:
    return list(session.scalars(select(SupervisorAppointment).where(
        SupervisorAppointment.user_id == user.id, SupervisorAppointment.active.is_(True),
        SupervisorAppointment.term_from <= today, SupervisorAppointment.term_to >= today)
        .order_by(SupervisorAppointment.term_from)))


# -- findings -------------------------------------------------------------------------------------------------

def record_finding(session: Session, tasks, user: User, case_id: int, text, *, validate=None) -> ProcessInstance:
    """An invited supervisor records a 监督意见 on a case he or she may read (within the assigned area and
    term): a new ``supervision_finding`` case for the case's unit, with its case number."""
    if SUPERVISOR_ROLE not in {ra.role_code for ra in user.roles}:
        raise Forbidden(N_("Only invited supervisors record findings"))
    case = tasks.instance_for(user, case_id)
    today = local_date(tasks.clock.now())
    directory = tasks.runtime.directory
    if case.unit_id is None or case.unit_id not in assigned_area(session, directory, user, today):
        raise NotFound(N_("No such case"))
    if case.process_key == FINDING_PROCESS:
        raise Conflict(N_("A finding is recorded on a case, not on another finding"))
    if not case.business_key:
        raise Conflict(N_("This case has no case number; a finding cannot be linked to it"))
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise InvalidInput(N_("Write the finding"), fields={"finding_text": [N_("This field is required.")]})
    if len(text) > MAX_FINDING:
        raise InvalidInput(N_("A finding can have at most %(max)s characters"), max=MAX_FINDING)
    runtime = tasks.runtime
    instance = runtime.start(FINDING_PROCESS, business_key=case.business_key,
                             data={"finding_text": text, "case_unit": case.unit.code}, validate=validate)
    instance.started_by = user.username
    session.flush()
    history.record(session, tasks.clock.now(), "finding_recorded", actor=user.username, instance_id=instance.id,
                   data={"case": case.id, "case_number": case.business_key, "unit": case.unit.code})
    return instance


def finding_status(session: Session, instance: ProcessInstance) -> dict:
    """Where a finding stands: waiting for the head's answer, under review by the bureau, closed, or turned
    into a 督办 (the id of that notice case); with the answer's due time and whether it came within the limit."""
    steps = {t.element_id: t for t in session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id).order_by(HumanTask.created_at))}
    answer, review = steps.get(ANSWER_STEP), steps.get(REVIEW_STEP)
    sent = session.scalar(select(AuditEvent).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "message_sent").order_by(AuditEvent.id).limit(1))
    notice = None
    if sent is not None:
        notice = session.scalar(select(ProcessInstance).where(
            ProcessInstance.process_key == NOTICE_PROCESS, ProcessInstance.business_key == instance.business_key,
            ProcessInstance.started_at >= sent.at).order_by(ProcessInstance.id).limit(1))
    if instance.status == "terminated":
        state = "withdrawn"
    elif answer is not None and answer.status == "open":
        state = "awaiting_answer"
    elif review is not None and review.status == "open":
        state = "under_review"
    elif sent is not None:
        state = "notice"
    elif instance.status == "completed":
        state = "closed"
    else:
        state = "in_progress"
    answered_on_time = None
    if answer is not None and answer.status == "completed" and answer.due_at is not None:
        answered_on_time = answer.completed_at <= answer.due_at
    return {"state": state, "answer_due_at": answer.due_at if answer else None,
            "answered_at": answer.completed_at if answer is not None and answer.status == "completed" else None,
            "answered_on_time": answered_on_time,
            "answer_overdue": bool(answer is not None and answer.sla_state in ("overdue", "escalated")),
            "notice_id": notice.id if notice is not None else None}


def findings_of(session: Session, user: User) -> list[ProcessInstance]:
    """Every finding the user recorded, newest first."""
    return list(session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_key == FINDING_PROCESS, ProcessInstance.started_by == user.username)
        .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()).limit(1000)))


# -- for the assessment (issue 12 §4) -----------------------------------------------------------------------------

def assessment_findings_answered(session: Session, unit_ids: Iterable[int], start: datetime,
                                 end: datetime) -> dict[int, tuple[int, int]]:
    """Per unit (the unit of the case a finding was about): (findings answered within the time limit, findings
    whose answer fell due in [start, end)). A finding counts as due when its answer step's deadline lies in
    the period; it counts as answered in time when the answer was given by that deadline."""
    ids = [i for i in unit_ids if is_db_id(i)]
    if not ids:
        return {}
    in_time = case((and_(HumanTask.status == "completed", HumanTask.completed_at <= HumanTask.due_at), 1), else_=0)
    rows = session.execute(
        select(ProcessInstance.unit_id, func.count(HumanTask.id), func.sum(in_time))
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(ProcessInstance.process_key == FINDING_PROCESS, HumanTask.element_id == ANSWER_STEP,
               HumanTask.due_at >= start, HumanTask.due_at < end, ProcessInstance.unit_id.in_(ids))
        .group_by(ProcessInstance.unit_id)).all()
    out = {unit_id: (0, 0) for unit_id in ids}
    for unit_id, due, on_time in rows:
        out[unit_id] = (int(on_time or 0), int(due or 0))
    return out

