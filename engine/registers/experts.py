"""The expert panel (行政执法监督专家团, 任务15): the register of experts (name, organisation, fields of expertise,
contact, active), each with a user account holding the expert role, and the opinions they gave.

Experts are consulted by the optional step 征求专家意见 of the major-decision review and of referral
coordination (the called procedure ``expert_consultation``): each chosen expert gets a task of their own
(the ``assignee`` property), with the round's deadline; an expert reads only the cases sent to them
(engine.tasks.TaskService.instance_for)."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import history
from ..errors import N_, Forbidden, InvalidInput, NotFound
from ..limits import is_db_id
from ..models import AuditEvent, HumanTask, User
from ..org import Directory
from .oversight_models import Expert

EXPERT_ROLE = "expert"
OPINION_STEP = "give_expert_opinion"
MAX_FIELDS = 20


def is_expert_only(user: User) -> bool:
    """A user whose only role is the expert role: such a user reads only the cases sent to him or her."""
    roles = {ra.role_code for ra in user.roles}
    return roles == {EXPERT_ROLE}


def may_keep(user: User) -> bool:
    """The panel is the city's (市行政执法监督专家团): the city justice bureau's supervision officers and the
    administrators keep it."""
    roles = {ra.role_code for ra in user.roles}
    return "admin" in roles or ("supervision_officer" in roles and user.unit.kind == "justice_bureau"
                                and user.unit.tier == "city")


def _require_keeper(user: User) -> None:
    if not may_keep(user):
        raise Forbidden(N_("Only the supervision officers of the city justice bureau keep the expert register"))


def _text(value, name: str, limit: int, required: bool = True) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(N_("%(field)s must be text"), field=name)
    if required and not text:
        raise InvalidInput(N_("%(field)s is required"), field=name)
    if len(text) > limit:
        raise InvalidInput(N_("%(field)s can have at most %(max)s characters"), field=name, max=limit)
    return text or None


def _fields(value) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.replace("，", ",").replace("、", ",").split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(N_("Fields of expertise are a list of words"))
    out = []
    for v in value:
        v = v.strip()
        if v and v not in out:
            if len(v) > 50:
                raise InvalidInput(N_("A field of expertise can have at most 50 characters"))
            out.append(v)
    if not out:
        raise InvalidInput(N_("Give at least one field of expertise"))
    if len(out) > MAX_FIELDS:
        raise InvalidInput(N_("At most %(max)s fields of expertise"), max=MAX_FIELDS)
    return out


def add(session: Session, actor: User, *, username: str, name: str, organisation: str, fields, contact=None,
        now: datetime) -> Expert:
    """Enter an expert; the user account must exist and hold the expert role."""
    _require_keeper(actor)
    user = session.scalar(select(User).where(User.username == username)) \
        if isinstance(username, str) and username else None
    if user is None:
        raise InvalidInput(N_("No user %(user)s"), user=str(username)[:64])
    if EXPERT_ROLE not in {ra.role_code for ra in user.roles}:
        raise InvalidInput(N_("%(user)s does not hold the expert role"), user=user.display_name)
    if session.scalar(select(Expert.id).where(Expert.user_id == user.id)) is not None:
        raise InvalidInput(N_("%(user)s is already in the expert register"), user=user.display_name)
    row = Expert(user=user, name=_text(name, "name", 100), organisation=_text(organisation, "organisation", 200),
                 fields=_fields(fields), contact=_text(contact, "contact", 200, required=False), active=True,
                 created_at=now, created_by=actor.username)
    session.add(row)
    session.flush()
    history.record(session, now, "expert_registered", actor=actor.username,
                   data={"expert": row.id, "user": user.username, "fields": row.fields})
    return row


def get(session: Session, expert_id: int) -> Expert:
    row = session.get(Expert, expert_id) if is_db_id(expert_id) else None
    if row is None:
        raise NotFound(N_("No such expert"))
    return row


def update(session: Session, actor: User, expert_id: int, changes: dict, now: datetime) -> Expert:
    _require_keeper(actor)
    row = get(session, expert_id)
    if "name" in changes:
        row.name = _text(changes["name"], "name", 100)
    if "organisation" in changes:
        row.organisation = _text(changes["organisation"], "organisation", 200)
    if "fields" in changes:
        row.fields = _fields(changes["fields"])
    if "contact" in changes:
        row.contact = _text(changes["contact"], "contact", 200, required=False)
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise InvalidInput(N_("active is true or false"))
        row.active = changes["active"]
    session.flush()
    history.record(session, now, "expert_changed", actor=actor.username,
                   data={"expert": row.id, "changes": {k: changes[k] for k in
                                                       ("name", "organisation", "fields", "contact", "active")
                                                       if k in changes}})
    return row


def listing(session: Session, field: str | None = None, active_only: bool = False) -> list[Expert]:
    """The register, by name; ``field`` keeps experts whose fields of expertise contain that word."""
    stmt = select(Expert).order_by(Expert.name, Expert.id)
    if active_only:
        stmt = stmt.where(Expert.active.is_(True))
    rows = list(session.scalars(stmt))
    if field:
        rows = [r for r in rows if any(field in f for f in (r.fields or []))]
    return rows


def all_fields(session: Session) -> list[str]:
    out: list[str] = []
    for row in session.scalars(select(Expert).where(Expert.active.is_(True))):
        for f in row.fields or []:
            if f not in out:
                out.append(f)
    return sorted(out)


def assignable(session: Session, username: str) -> bool:
    """An expert a round may be sent to: active account holding the role, active in the register."""
    return session.scalar(select(Expert.id).join(User, User.id == Expert.user_id).where(
        User.username == username, User.active.is_(True), Expert.active.is_(True))) is not None


def opinions(session: Session, instance_ids: Iterable[int]) -> list[dict]:
    """The expert opinions of these cases, oldest first: each asked expert with the opinion given (and when),
    still open (with its deadline) or missing (the round's deadline passed without an answer)."""
    ids = [i for i in instance_ids]
    if not ids:
        return []
    tasks = list(session.scalars(select(HumanTask).where(
        HumanTask.instance_id.in_(ids), HumanTask.element_id == OPINION_STEP)
        .order_by(HumanTask.created_at, HumanTask.id)))
    if not tasks:
        return []
    completed = {e.task_id: e for e in session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id.in_(ids), AuditEvent.action == "task_completed",
        AuditEvent.task_id.in_([t.id for t in tasks])))}
    users = {u.id: u for u in session.scalars(select(User).where(
        User.id.in_({t.claimed_by_id for t in tasks if t.claimed_by_id}
                    | {t.completed_by_id for t in tasks if t.completed_by_id})))}
    experts = {e.user_id: e for e in session.scalars(select(Expert).where(Expert.user_id.in_(list(users))))}
    out = []
    for t in tasks:
        who = users.get(t.completed_by_id or t.claimed_by_id)
        expert = experts.get(who.id) if who else None
        event = completed.get(t.id)
        data = ((event.data or {}).get("data") or {}) if event else {}
        status = {"completed": "answered", "open": "open"}.get(t.status, "missing")
        out.append({"task_id": t.id, "instance_id": t.instance_id, "status": status,
                    "username": who.username if who else None,
                    "name": expert.name if expert else (who.display_name if who else None),
                    "organisation": expert.organisation if expert else None,
                    "opinion": data.get("expert_opinion"), "basis": data.get("expert_basis"),
                    "asked_at": t.created_at, "due_at": t.due_at,
                    "answered_at": t.completed_at if t.status == "completed" else None})
    return sorted(out, key=lambda o: (o["asked_at"], o["name"] or ""))      # one round: by name


def load(session: Session, doc: dict, now: datetime) -> dict[str, int]:
    """Demo/seed data: ``experts`` (username, name, organisation, fields, contact) and ``supervisors``
    (username, bureau, organisation, term_from, term_to, units). Idempotent: an existing entry is kept."""
    from datetime import date
    from .oversight_models import SupervisorAppointment, SupervisorArea
    directory = Directory(session)
    counts = {"experts": 0, "supervisors": 0}
    for e in doc.get("experts") or []:
        user = session.scalar(select(User).where(User.username == e["username"]))
        if user is None:
            raise InvalidInput(N_("No user %(user)s"), user=e["username"])
        if session.scalar(select(Expert.id).where(Expert.user_id == user.id)) is None:
            session.add(Expert(user=user, name=e["name"], organisation=e["organisation"], fields=list(e["fields"]),
                               contact=e.get("contact"), active=e.get("active", True), created_at=now,
                               created_by="demo"))
        counts["experts"] += 1
    for s in doc.get("supervisors") or []:
        user = session.scalar(select(User).where(User.username == s["username"]))
        if user is None:
            raise InvalidInput(N_("No user %(user)s"), user=s["username"])
        exists = session.scalar(select(SupervisorAppointment.id).where(
            SupervisorAppointment.user_id == user.id,
            SupervisorAppointment.term_from == date.fromisoformat(str(s["term_from"]))))
        if exists is None:
            row = SupervisorAppointment(user=user, bureau=directory.unit(s["bureau"]), organisation=s["organisation"],
                                        term_from=date.fromisoformat(str(s["term_from"])),
                                        term_to=date.fromisoformat(str(s["term_to"])), active=True,
                                        created_at=now, created_by="demo")
            row.areas = [SupervisorArea(unit=directory.unit(code)) for code in s["units"]]
            session.add(row)
        counts["supervisors"] += 1
    session.flush()
    return counts


def load_file(session: Session, path: str) -> dict[str, int]:
    import yaml
    from datetime import timezone
    with open(path, encoding="utf-8") as fh:
        return load(session, yaml.safe_load(fh) or {}, datetime.now(timezone.utc))

