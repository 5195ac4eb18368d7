"""Finding and moving work: case search, 催办 (urging an open task), withdrawing (撤回) and cancelling (撤销) a
case. Every function works in the caller's transaction and never commits.

Who may see a case in a search is exactly who may open it (:meth:`engine.tasks.TaskService.instance_for`):
the person who started it, the people of its unit, whoever a task of it was offered to or done by, and the
supervision officers (and invited supervisors) of the county or city whose area holds its unit;
administrators see every case. Another county's case never appears.

**Withdraw (撤回)** — the person who started a procedure takes it back, while no other unit has acted on
it. "Another unit acted" means, precisely:

- a task of the instance was completed by a user whose unit is not the starter's unit (claiming or reading
  a task is not acting; completing it is), or
- the instance sent a message (``message_sent`` in its audit stream): a message starts or moves a procedure
  of another unit (a referral, an answer, a notice) which the starter cannot take back — so any sent
  message counts, whether or not its receiver has acted yet.

**Cancel (撤销)** — an authorised officer ends a case with a reason: the agency head (机关负责人) who answers
for the case's unit (the unit itself or the nearest unit above it with an agency head, as for the head's
decisions in the procedures), or a supervision officer of the justice bureau whose county or city holds the
case's unit (执法监督). Administrators administer the platform; they do not cancel cases.

Both end the instance in the engine (the SpiffWorkflow workflow is cancelled, open tasks are withdrawn,
waiting timers are cancelled and never fire, message subscriptions are dropped), tell the holders of the open
tasks first (notification kind ``withdrawn`` / ``cancelled``), are audited in the instance's hash chain and
leave the case readable with status ``withdrawn`` / ``cancelled`` and a :class:`CaseEnding` row (who, when,
why)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, exists, false, func, or_, select, true
from sqlalchemy.orm import Session

from . import history
from .errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from .models import AuditEvent, CaseEnding, CaseIndex, HumanTask, Notification, OrgUnit, ProcessInstance, User
from .notifications import notify
from .org import Directory, user_holds

SUPERVISOR_ROLE = "supervision_officer"
HEAD_ROLE = "agency_head"
STATUSES = ("running", "completed", "terminated", "withdrawn", "cancelled")
SCOPES = ("all", "mine")
MAX_LIMIT, MAX_OFFSET, MAX_TEXT = 200, 100_000, 100
MAX_REASON = 1000
TITLE_KEYS = ("case_title", "title", "round_title", "notice_title")


# --- the search index ---------------------------------------------------------------------------------------

def index_values(instance: ProcessInstance, data: dict) -> tuple[str | None, str | None, str | None]:
    """What the instance's search row holds for this case data: (number, title, parties)."""
    number = instance.business_key or data.get("case_number")
    title = next((data[k] for k in TITLE_KEYS if isinstance(data.get(k), str) and data[k]), None)
    parties = data.get("parties") if isinstance(data.get("parties"), str) else None
    return (str(number)[:128] if number else None, title[:200] if title else None,
            parties[:500] if parties else None)


def index_case(session: Session, instance: ProcessInstance, data: dict, now: datetime, *,
               known: tuple | None = None, new: bool = False) -> None:
    """Keep the instance's search row (number, title, parties) in line with its case data. ``known``: what
    the row holds already (the values of the data the instance was loaded with; nothing to do when they
    are the same); ``new``: the instance was created in this transaction, it has no row yet."""
    values = index_values(instance, data)
    if known is not None and known == values:
        return
    row = None if new else session.get(CaseIndex, instance.id)
    if row is None:
        session.add(CaseIndex(instance_id=instance.id, case_number=values[0], title=values[1], parties=values[2],
                              updated_at=now))
    elif (row.case_number, row.title, row.parties) != values:
        row.case_number, row.title, row.parties, row.updated_at = *values, now


# --- search -------------------------------------------------------------------------------------------------

@dataclass
class CaseQuery:
    scope: str = "all"                        # all = every case I may see; mine = 我发起的
    case_number: str | None = None
    title: str | None = None
    parties: str | None = None
    unit_id: int | None = None
    process_key: str | None = None
    status: str | None = None
    started_from: datetime | None = None      # aware; started at or after
    started_to: datetime | None = None        # aware; started before

    def check(self) -> "CaseQuery":
        if self.scope not in SCOPES:
            raise InvalidInput(N_("Unknown list %(value)s"), value=str(self.scope)[:20])
        if self.status and self.status not in STATUSES:
            raise InvalidInput(N_("Unknown case status %(value)s"), value=str(self.status)[:20])
        for name in ("case_number", "title", "parties", "process_key"):
            value = getattr(self, name)
            if value is not None and len(value) > MAX_TEXT:
                raise InvalidInput(N_("A search term may have at most %(max)s characters"), max=MAX_TEXT)
        return self


def visible(session: Session, user: User):
    """SQL condition on ProcessInstance: the cases ``user`` may open (see the module's text)."""
    area = Directory(session).supervised_area(user)
    if area is None:
        return true()
    pairs = [and_(HumanTask.role_code == ra.role_code, HumanTask.unit_id == ra.unit_id) for ra in user.roles]
    related = exists().where(HumanTask.instance_id == ProcessInstance.id,
                             or_(HumanTask.claimed_by_id == user.id, HumanTask.completed_by_id == user.id,
                                 *pairs))
    conditions = [ProcessInstance.started_by == user.username, ProcessInstance.unit_id == user.unit_id, related]
    if area:
        conditions.append(ProcessInstance.unit_id.in_(area))
    return or_(*conditions)


def search(session: Session, user: User, query: CaseQuery, *, limit: int = 20,
           offset: int = 0) -> tuple[list[tuple[ProcessInstance, CaseIndex | None, CaseEnding | None]], int]:
    """One page of the cases ``user`` may see that match ``query``, newest first (ties by id, so paging
    returns every row once); and how many match in all."""
    query.check()
    limit = min(max(int(limit), 1), MAX_LIMIT)
    offset = min(max(int(offset), 0), MAX_OFFSET)
    stmt = (select(ProcessInstance, CaseIndex, CaseEnding)
            .outerjoin(CaseIndex, CaseIndex.instance_id == ProcessInstance.id)
            .outerjoin(CaseEnding, CaseEnding.instance_id == ProcessInstance.id)
            .where(visible(session, user)))
    if query.scope == "mine":
        stmt = stmt.where(ProcessInstance.started_by == user.username)
    if query.case_number:
        stmt = stmt.where(or_(CaseIndex.case_number.contains(query.case_number.strip(), autoescape=True),
                              ProcessInstance.business_key.contains(query.case_number.strip(), autoescape=True)))
    if query.title:
        stmt = stmt.where(CaseIndex.title.contains(query.title.strip(), autoescape=True))
    if query.parties:
        stmt = stmt.where(CaseIndex.parties.contains(query.parties.strip(), autoescape=True))
    if query.unit_id is not None:
        stmt = stmt.where(ProcessInstance.unit_id == query.unit_id)
    if query.process_key:
        stmt = stmt.where(ProcessInstance.process_key == query.process_key)
    if query.status:
        stmt = stmt.where(ProcessInstance.status == query.status)
    if query.started_from is not None:
        stmt = stmt.where(ProcessInstance.started_at >= query.started_from)
    if query.started_to is not None:
        stmt = stmt.where(ProcessInstance.started_at < query.started_to)
    total = session.scalar(select(func.count()).select_from(stmt.with_only_columns(ProcessInstance.id).subquery()))
    rows = session.execute(stmt.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
                           .offset(offset).limit(limit)).all()
    return [tuple(r) for r in rows], int(total or 0)


def units_in_view(session: Session, user: User) -> list[OrgUnit]:
    """The units a search may be narrowed to: every unit for an administrator, the supervised area for a
    supervisor, else the user's own units (where they hold a role)."""
    area = Directory(session).supervised_area(user)
    stmt = select(OrgUnit)
    if area is not None:
        own = {ra.unit_id for ra in user.roles} | {user.unit_id}
        stmt = stmt.where(OrgUnit.id.in_(area | own) if area | own else false())
    return list(session.scalars(stmt.order_by(OrgUnit.code)))


# --- 催办 -------------------------------------------------------------------------------------------------

def may_urge(directory: Directory, user: User, task: HumanTask) -> bool:
    """A supervision officer whose county or city holds the task's unit (or its case's unit), while the task
    is open."""
    if task.status != "open" or not any(ra.role_code == SUPERVISOR_ROLE for ra in user.roles):
        return False
    area = directory.supervised_area(user) or set()
    return task.unit_id in area or task.instance.unit_id in area


def urge(session: Session, directory: Directory, user: User, task: HumanTask, now: datetime) -> int:
    """催办: the task's holder (or, while nobody claimed it, every candidate) is notified (kind ``urged``, once
    per person and task) and the urging is audited. Returns how many were newly notified."""
    if task.status != "open":
        raise Conflict(N_("This task has already been completed or withdrawn"))
    if not may_urge(directory, user, task):
        raise Forbidden(N_("Only a supervision officer overseeing this task's unit can urge it"))
    created = notify(session, directory, task, "urged", now)
    history.record(session, now, "task_urged", actor=user.username, instance_id=task.instance_id, task_id=task.id,
                   data={"element_id": task.element_id, "name": task.name, "notified": created,
                         "holder": task.claimed_by.username if task.claimed_by else None})
    return created


# --- 撤回 and 撤销 ------------------------------------------------------------------------------------------

def withdraw_refusal(session: Session, user: User, instance: ProcessInstance) -> Forbidden | Conflict | None:
    """Why ``user`` may not withdraw ``instance`` now (the error to raise), or None when they may."""
    if instance.started_by is None or instance.started_by != user.username:
        return Forbidden(N_("Only the person who started this procedure can withdraw it"))
    if instance.status != "running":
        return Conflict(N_("The case is no longer running"))
    starter_unit = user.unit_id
    acted = session.scalar(select(HumanTask.id).join(User, User.id == HumanTask.completed_by_id).where(
        HumanTask.instance_id == instance.id, HumanTask.status == "completed", User.unit_id != starter_unit).limit(1))
    if acted is not None:
        return Conflict(N_("Another unit has already acted on this case; it can no longer be withdrawn (ask for "
                           "it to be cancelled instead)"))
    sent = session.scalar(select(AuditEvent.id).where(AuditEvent.instance_id == instance.id,
                                                      AuditEvent.action == "message_sent").limit(1))
    if sent is not None:
        return Conflict(N_("This case has already been sent to another unit; it can no longer be withdrawn (ask "
                           "for it to be cancelled instead)"))
    return None


def may_cancel(directory: Directory, user: User, instance: ProcessInstance) -> bool:
    """The agency head answering for the case's unit, or a supervision officer whose area holds it."""
    if instance.unit_id is None:
        return False
    roles = {ra.role_code for ra in user.roles}
    if SUPERVISOR_ROLE in roles and instance.unit_id in (directory.supervised_area(user) or set()):
        return True
    if HEAD_ROLE in roles and instance.unit is not None:
        try:
            head_unit = directory.agency_head_unit(instance.unit)
        except NotFound:
            return False
        return user_holds(user, HEAD_ROLE, head_unit.id)
    return False


def _reason(reason: str | None, required: bool) -> str | None:
    reason = (reason or "").strip() if isinstance(reason, str) or reason is None else None
    if reason is None:
        raise InvalidInput(N_("The reason must be text"))
    if required and not reason:
        raise InvalidInput(N_("Give the reason for cancelling the case"))
    if len(reason) > MAX_REASON:
        raise InvalidInput(N_("The reason may have at most %(max)s characters"), max=MAX_REASON)
    return reason or None


def _end(runtime, user: User, instance: ProcessInstance, kind: str, reason: str | None) -> CaseEnding:
    session, now = runtime.session, runtime.clock.now()
    open_ids = []
    for task in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.status == "open")):
        notify(session, runtime.directory, task, kind, now)        # told before the task is withdrawn
        open_ids.append(task.id)
    if open_ids:                                                   # whoever ended it knows already
        session.execute(delete(Notification).where(Notification.task_id.in_(open_ids), Notification.kind == kind,
                                                   Notification.user_id == user.id))
    runtime.terminate(instance, actor=user.username, reason=reason, status=kind, action=f"instance_{kind}")
    ending = CaseEnding(instance_id=instance.id, kind=kind, reason=reason, actor_id=user.id, at=now)
    ending.actor = user
    session.add(ending)
    session.flush()
    return ending


def withdraw(runtime, user: User, instance: ProcessInstance, reason: str | None = None) -> CaseEnding:
    """撤回 by the starter while no other unit has acted (see the module's text); the reason is optional."""
    refusal = withdraw_refusal(runtime.session, user, instance)
    if refusal is not None:
        raise refusal
    return _end(runtime, user, instance, "withdrawn", _reason(reason, required=False))


def cancel(runtime, user: User, instance: ProcessInstance, reason: str | None) -> CaseEnding:
    """撤销 by an authorised officer (see the module's text), with a reason."""
    if not may_cancel(runtime.directory, user, instance):
        raise Forbidden(N_("Only the agency head of the case's unit or a supervision officer overseeing it can "
                           "cancel this case"))
    if instance.status != "running":
        raise Conflict(N_("The case is no longer running"))
    return _end(runtime, user, instance, "cancelled", _reason(reason, required=True))


def ending_of(session: Session, instance_id: int) -> CaseEnding | None:
    return session.get(CaseEnding, instance_id)
