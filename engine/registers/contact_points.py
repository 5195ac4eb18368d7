"""Enterprise contact points (企业联系点, 任务16) and their survey rounds.

Each county's and the city's justice bureau keeps a register of enterprises chosen as contact points, with the
enforcement units that enforce on each. A survey round (workflows/bpmn/enterprise_survey.bpmn, started by a
timer on the dates its timer expression names) gives the bureau's supervision officers one visit per contact
point; the questionnaire (forms/definitions/enterprise_survey.yaml) rates every unit that enforces on it, and
the round's script task stores the answers here (:func:`record_response`), so the results per enforcement
unit are plain SQL (:func:`results_per_unit`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import history
from engine.calendar import LOCAL_TZ
from engine.errors import N_, Forbidden, InvalidInput, NotFound
from engine.limits import is_db_id
from engine.models import OrgUnit, User

from .contact_point_models import ContactPoint, ContactPointUnit, SurveyRating, SurveyResponse

ENFORCEMENT_KINDS = ("enforcement_dept", "enforcement_team", "police")
KEEPER_ROLES = frozenset({"supervision_officer", "admin"})
READER_ROLES = frozenset({"supervision_officer", "admin", "invited_supervisor"})

# 统一社会信用代码 (GB 32100-2015): 18 characters of this alphabet (no I, O, S, V, Z); the 18th is a check
# character over the first 17 with these weights
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")

FIELD_LIMITS = {"name": 200, "sector": 100, "address": 300, "contact_name": 100, "contact_phone": 40}


def credit_check_char(first17: str) -> str:
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code) -> str | None:
    """Why ``code`` is not a valid unified social credit code (a message id), or None."""
    if not isinstance(code, str) or len(code) != 18:
        return N_("A unified social credit code has 18 characters.")
    if not _CREDIT_SHAPE.match(code):
        return N_("A unified social credit code uses digits and capital letters other than I, O, S, V and Z, "
                  "with the administrative division code (6 digits) in places 3 to 8.")
    if credit_check_char(code[:17]) != code[17]:
        return N_("The check character (the last one) of this unified social credit code is wrong; please check "
                  "the code.")
    return None


# -- who keeps and who reads ------------------------------------------------------------------------------

def _roles(user: User) -> set[str]:
    return {ra.role_code for ra in user.roles}


def keeper_bureau(session: Session, user: User) -> OrgUnit | None:
    """The justice bureau whose register ``user`` keeps: a supervision officer's own county or city bureau."""
    from engine.org import Directory
    if "supervision_officer" not in _roles(user):
        return None
    directory = Directory(session)
    try:
        return directory.child_of_kind(directory.county_or_city(user.unit.code), "justice_bureau")
    except Exception:
        return None


def readable_area(session: Session, user: User) -> set[int] | None:
    """Units whose contact points ``user`` may see (None = all): supervisors see their county or city."""
    from engine.dashboard import area_of
    if not _roles(user) & READER_ROLES:
        return set()
    return area_of(session, user)


def _may_keep(session: Session, user: User, point: ContactPoint) -> bool:
    if "admin" in _roles(user):
        return True
    bureau = keeper_bureau(session, user)
    return bureau is not None and bureau.id == point.owner_unit_id


def list_points(session: Session, user: User, *, include_inactive: bool = True) -> list[ContactPoint]:
    area = readable_area(session, user)
    stmt = select(ContactPoint).order_by(ContactPoint.owner_unit_id, ContactPoint.name, ContactPoint.id)
    if area is not None:
        if not area:
            raise Forbidden(N_("Your roles do not allow this"))
        stmt = stmt.where(ContactPoint.owner_unit_id.in_(area))
    if not include_inactive:
        stmt = stmt.where(ContactPoint.active.is_(True))
    return list(session.scalars(stmt))


def get_point(session: Session, user: User, point_id) -> ContactPoint:
    """The contact point, if ``user`` may see it; another county's is not found (404)."""
    point = session.get(ContactPoint, point_id) if is_db_id(point_id) else None
    area = readable_area(session, user)
    if point is None or (area is not None and point.owner_unit_id not in area):
        raise NotFound(N_("Contact point %(id)s not found"), id=point_id)
    return point


# -- changing the register --------------------------------------------------------------------------------

@dataclass
class PointInput:
    name: str
    credit_code: str
    sector: str | None
    address: str | None
    contact_name: str | None
    contact_phone: str | None
    unit_codes: list[str]
    active: bool
    owner_code: str | None


def _text(raw: dict, key: str, errors: dict, tr, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[key] = [tr(N_("This field is required."))]
        return None
    if not isinstance(value, str):
        errors[key] = [tr(N_("Enter text."))]
        return None
    value = value.strip()
    if len(value) > FIELD_LIMITS[key] or not value.isprintable():
        errors[key] = [tr(N_("At most %(max)s characters.")) % {"max": FIELD_LIMITS[key]}]
        return None
    return value


def parse_input(raw, tr: Callable[[str], str] = lambda s: s, partial_of: ContactPoint | None = None) -> PointInput:
    """Check a submission (API JSON or page form) and return it typed; field messages through ``tr``.
    ``partial_of``: an update, whose missing keys keep the point's values."""
    if not isinstance(raw, dict):
        raise InvalidInput(N_("Invalid input"), fields={"_": [tr(N_("The request body must be a JSON object"))]})
    if partial_of is not None:
        current = {"name": partial_of.name, "credit_code": partial_of.credit_code, "sector": partial_of.sector,
                   "address": partial_of.address, "contact_name": partial_of.contact_name,
                   "contact_phone": partial_of.contact_phone, "active": partial_of.active,
                   "units": [u.unit.code for u in partial_of.units]}
        raw = {**current, **raw}
    known = {"name", "credit_code", "sector", "address", "contact_name", "contact_phone", "units", "active", "owner"}
    errors: dict[str, list[str]] = {k: [tr(N_("This field is not part of the form."))] for k in raw if k not in known}
    name = _text(raw, "name", errors, tr, required=True)
    code = raw.get("credit_code")
    code = code.strip().upper() if isinstance(code, str) else code
    if code in (None, ""):
        errors["credit_code"] = [tr(N_("This field is required."))]
    else:
        problem = credit_code_problem(code)
        if problem:
            errors["credit_code"] = [tr(problem)]
    units = raw.get("units")
    if not isinstance(units, list) or not units or not all(isinstance(u, str) and 0 < len(u) <= 64 for u in units):
        errors["units"] = [tr(N_("Choose at least one enforcement unit that enforces on the enterprise."))]
        units = []
    active = raw.get("active", True)
    if not isinstance(active, bool):
        errors["active"] = [tr(N_("Choose yes or no."))]
    owner = raw.get("owner")
    if owner is not None and (not isinstance(owner, str) or len(owner) > 64):
        errors["owner"] = [tr(N_("Choose an existing unit."))]
    fields = {k: _text(raw, k, errors, tr) for k in ("sector", "address", "contact_name", "contact_phone")}
    if errors:
        raise InvalidInput(N_("The form has errors; see the messages next to the fields"), fields=errors)
    return PointInput(name=name, credit_code=code, unit_codes=list(dict.fromkeys(units)), active=active,
                      owner_code=owner, **fields)


def _resolve_units(session: Session, owner: OrgUnit, codes: Iterable[str], tr) -> list[OrgUnit]:
    """Enforcement units of the owner bureau's county or city, by code."""
    from engine.org import Directory
    directory = Directory(session)
    area = directory.descendant_ids(directory.government_of(owner))
    found = {u.code: u for u in session.scalars(select(OrgUnit).where(OrgUnit.code.in_(list(codes))))}
    bad = [c for c in codes if c not in found or found[c].kind not in ENFORCEMENT_KINDS or found[c].id not in area]
    if bad:
        raise InvalidInput(N_("The form has errors; see the messages next to the fields"), fields={"units": [
            tr(N_("Choose enforcement units of the county or city whose justice bureau keeps the register."))]})
    return [found[c] for c in codes]


def _owner_for(session: Session, user: User, data: PointInput, tr) -> OrgUnit:
    if "admin" in _roles(user) and data.owner_code:
        owner = session.scalar(select(OrgUnit).where(OrgUnit.code == data.owner_code))
        if owner is None or owner.kind != "justice_bureau" or owner.tier not in ("city", "county"):
            raise InvalidInput(N_("The form has errors; see the messages next to the fields"), fields={
                "owner": [tr(N_("Choose the justice bureau of a county or of the city."))]})
        return owner
    bureau = keeper_bureau(session, user)
    if bureau is None:
        if "admin" in _roles(user):
            raise InvalidInput(N_("The form has errors; see the messages next to the fields"), fields={
                "owner": [tr(N_("Choose the justice bureau of a county or of the city."))]})
        raise Forbidden(N_("Only the supervision officers of a justice bureau keep its contact points"))
    return bureau


def _duplicate(session: Session, owner_id: int, code: str, but: int | None = None) -> bool:
    stmt = select(ContactPoint.id).where(ContactPoint.owner_unit_id == owner_id, ContactPoint.credit_code == code)
    if but is not None:
        stmt = stmt.where(ContactPoint.id != but)
    return session.scalar(stmt.limit(1)) is not None


def create_point(session: Session, user: User, raw, now: datetime, tr: Callable[[str], str] = lambda s: s) -> ContactPoint:
    if not _roles(user) & KEEPER_ROLES:
        raise Forbidden(N_("Only the supervision officers of a justice bureau keep its contact points"))
    data = parse_input(raw, tr)
    owner = _owner_for(session, user, data, tr)
    units = _resolve_units(session, owner, data.unit_codes, tr)
    if _duplicate(session, owner.id, data.credit_code):
        raise InvalidInput(N_("The form has errors; see the messages next to the fields"), fields={
            "credit_code": [tr(N_("This enterprise is already a contact point of this justice bureau."))]})
    point = ContactPoint(owner_unit_id=owner.id, name=data.name, credit_code=data.credit_code, sector=data.sector,
                         address=data.address, contact_name=data.contact_name, contact_phone=data.contact_phone,
                         active=data.active, created_at=now, updated_at=now)
    point.units = [ContactPointUnit(unit_id=u.id) for u in units]
    session.add(point)
    session.flush()
    history.record(session, now, "contact_point_created", actor=user.username,
                   data={"contact_point": point.id, "name": point.name, "credit_code": point.credit_code,
                         "units": data.unit_codes})
    return point


def update_point(session: Session, user: User, point_id, raw, now: datetime,
                 tr: Callable[[str], str] = lambda s: s) -> ContactPoint:
    point = get_point(session, user, point_id)
    if not _may_keep(session, user, point):
        raise Forbidden(N_("Only the supervision officers of a justice bureau keep its contact points"))
    if isinstance(raw, dict) and "owner" in raw:
        raw = {k: v for k, v in raw.items() if k != "owner"}       # a point stays with its bureau
    data = parse_input(raw, tr, partial_of=point)
    units = _resolve_units(session, point.owner_unit, data.unit_codes, tr)
    if _duplicate(session, point.owner_unit_id, data.credit_code, but=point.id):
        raise InvalidInput(N_("The form has errors; see the messages next to the fields"), fields={
            "credit_code": [tr(N_("This enterprise is already a contact point of this justice bureau."))]})
    point.name, point.credit_code, point.sector, point.address = data.name, data.credit_code, data.sector, data.address
    point.contact_name, point.contact_phone, point.active = data.contact_name, data.contact_phone, data.active
    wanted = {u.id for u in units}
    point.units = [cu for cu in point.units if cu.unit_id in wanted] + [
        ContactPointUnit(unit_id=u.id) for u in units if u.id not in {cu.unit_id for cu in point.units}]
    point.updated_at = now
    history.record(session, now, "contact_point_updated", actor=user.username,
                   data={"contact_point": point.id, "name": point.name, "credit_code": point.credit_code,
                         "units": data.unit_codes, "active": point.active})
    return point


def enforcement_units(session: Session, user: User) -> list[OrgUnit]:
    """The enforcement units a keeper may pick: those of his or her county or city (every one for an admin)."""
    from engine.org import Directory
    stmt = select(OrgUnit).where(OrgUnit.kind.in_(ENFORCEMENT_KINDS)).order_by(OrgUnit.code)
    bureau = keeper_bureau(session, user)
    if "admin" not in _roles(user):
        if bureau is None:
            return []
        directory = Directory(session)
        stmt = stmt.where(OrgUnit.id.in_(directory.descendant_ids(directory.government_of(bureau))))
    return list(session.scalars(stmt))


def as_dict(point: ContactPoint) -> dict:
    return {"id": point.id, "name": point.name, "credit_code": point.credit_code, "sector": point.sector,
            "address": point.address, "contact_name": point.contact_name, "contact_phone": point.contact_phone,
            "active": point.active, "owner": {"code": point.owner_unit.code, "name": point.owner_unit.name},
            "units": [{"code": u.unit.code, "name": u.unit.name} for u in point.units]}


# -- survey rounds --------------------------------------------------------------------------------------------

def survey_points(session: Session) -> list[list]:
    """What a round visits: every active contact point with at least one enforcement unit, as
    ``[id, keeping bureau's code, name]`` (plain values the organisation check can follow)."""
    out = []
    for point in session.scalars(select(ContactPoint).where(ContactPoint.active.is_(True))
                                 .order_by(ContactPoint.owner_unit_id, ContactPoint.id)):
        if point.units:
            out.append([point.id, point.owner_unit.code, point.name])
    return out


def survey_point_units(session: Session, point_id) -> list[dict]:
    """The units that enforce on a contact point, as the questionnaire's per-unit group lists them."""
    point = session.get(ContactPoint, point_id) if is_db_id(point_id) else None
    return [{"code": u.unit.code, "name": u.unit.name} for u in point.units] if point is not None else []


def possible_survey_points(session: Session) -> list[dict]:
    """For the organisation check (engine/route_check.py): a round's visits can go to every bureau that may keep
    contact points — the justice bureau of each county and of the city — so one representative point each."""
    bureaus = session.scalars(select(OrgUnit).where(OrgUnit.kind == "justice_bureau",
                                                    OrgUnit.tier.in_(("city", "county"))).order_by(OrgUnit.code))
    return [[0, b.code, b.name] for b in bureaus]


def record_response(session: Session, instance_id: int | None, now: datetime, point_id, answers: dict) -> int:
    """Store one contact point's questionnaire of the round ``instance_id`` (called by the round's script
    task right after the visit). A second answer for the same point in the same round replaces the first."""
    if instance_id is None or not is_db_id(point_id) or session.get(ContactPoint, point_id) is None:
        raise InvalidInput(N_("The contact point of this visit no longer exists"))
    answers = answers if isinstance(answers, dict) else {}
    old = session.scalar(select(SurveyResponse).where(SurveyResponse.instance_id == instance_id,
                                                      SurveyResponse.contact_point_id == point_id))
    if old is not None:
        session.delete(old)
        session.flush()
    visited = answers.get("visited_on")
    response = SurveyResponse(instance_id=instance_id, contact_point_id=point_id, answered_at=now,
                              visited_on=date.fromisoformat(visited) if isinstance(visited, str) else None,
                              problems=answers.get("problems"), suggestions=answers.get("suggestions"))
    codes = {r.get("code"): r for r in answers.get("unit_ratings") or [] if isinstance(r, dict)}
    units = {u.code: u.id for u in session.scalars(select(OrgUnit).where(OrgUnit.code.in_(list(codes))))}
    for code, rating in codes.items():
        if code in units and str(rating.get("satisfaction")) in {"1", "2", "3", "4", "5"}:
            response.ratings.append(SurveyRating(unit_id=units[code], satisfaction=int(rating["satisfaction"]),
                                                 comment=rating.get("comment")))
    session.add(response)
    session.flush()
    return response.id


def next_survey_date(now: datetime, *month_days: str) -> datetime:
    """09:00 Asia/Shanghai of the next of the given days of the year (``"03-15"``), after ``now``."""
    local = now.astimezone(LOCAL_TZ)
    candidates = []
    for text in month_days:
        if not isinstance(text, str) or not re.fullmatch(r"\d{2}-\d{2}", text):
            raise InvalidInput(N_("A survey date is written as MM-DD, e.g. 03-15"))
        month, day = int(text[:2]), int(text[3:])
        for year in (local.year, local.year + 1):
            try:
                at = datetime.combine(date(year, month, day), time(9, 0), LOCAL_TZ)
            except ValueError:
                raise InvalidInput(N_("A survey date is written as MM-DD, e.g. 03-15")) from None
            if at > local:
                candidates.append(at)
                break
    if not candidates:
        raise InvalidInput(N_("A survey date is written as MM-DD, e.g. 03-15"))
    return min(candidates)


def helpers(session: Session, clock, current: Callable[[], object]) -> dict[str, Callable]:
    """For the survey BPMN: ``next_survey_date("03-15", "09-15")`` (timer start), ``survey_points()``,
    ``survey_point_units(point_id)`` and ``survey_record(point_id, answers)``; ``current`` gives the instance
    being advanced."""
    def record(point_id, answers):
        instance = current()
        return record_response(session, getattr(instance, "id", None), clock.now(), point_id, answers)
    return {"next_survey_date": lambda *days: next_survey_date(clock.now(), *days).isoformat(),
            "survey_points": lambda: survey_points(session),
            "survey_point_units": lambda point_id: survey_point_units(session, point_id),
            "survey_record": record}


# -- results --------------------------------------------------------------------------------------------------

def results_per_unit(session: Session, area: set[int] | None, start: datetime | None = None,
                     end: datetime | None = None, instance_id: int | None = None) -> list[dict]:
    """Per enforcement unit: how many contact points rated it, the mean satisfaction and the count of each
    score, over responses answered in [start, end) (or of one round). Only units within ``area``."""
    stmt = (select(SurveyRating.unit_id, SurveyRating.satisfaction, func.count())
            .join(SurveyResponse, SurveyResponse.id == SurveyRating.response_id)
            .group_by(SurveyRating.unit_id, SurveyRating.satisfaction))
    if start is not None:
        stmt = stmt.where(SurveyResponse.answered_at >= start)
    if end is not None:
        stmt = stmt.where(SurveyResponse.answered_at < end)
    if instance_id is not None:
        stmt = stmt.where(SurveyResponse.instance_id == instance_id)
    if area is not None:
        stmt = stmt.where(SurveyRating.unit_id.in_(area) if area else SurveyRating.unit_id.is_(None))
    rows: dict[int, dict] = {}
    for unit_id, score, count in session.execute(stmt):
        row = rows.setdefault(unit_id, {"unit_id": unit_id, "ratings": 0, "total": 0,
                                        **{f"score_{i}": 0 for i in range(1, 6)}})
        row["ratings"] += count
        row["total"] += score * count
        row[f"score_{score}"] += count
    units = {u.id: u for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(list(rows))))} if rows else {}
    out = []
    for unit_id, row in rows.items():
        unit = units[unit_id]
        out.append({**row, "unit": {"code": unit.code, "name": unit.name},
                    "mean": round(row["total"] / row["ratings"], 2) if row["ratings"] else None})
    out.sort(key=lambda r: (-(r["mean"] or 0), r["unit"]["code"]))
    return out


def rounds(session: Session, area: set[int] | None) -> list[dict]:
    """Survey rounds that ran (or run), newest first, with how many answers of points within ``area`` they
    hold; the instance parked at the timer start (the next round) is not one yet."""
    from engine.models import ProcessInstance
    counts_stmt = (select(SurveyResponse.instance_id, func.count()).join(ContactPoint)
                   .group_by(SurveyResponse.instance_id))
    if area is not None:
        counts_stmt = counts_stmt.where(ContactPoint.owner_unit_id.in_(area) if area else ContactPoint.id.is_(None))
    counts = dict(session.execute(counts_stmt).all())
    out = []
    for instance in session.scalars(select(ProcessInstance).where(
            ProcessInstance.process_key == "enterprise_survey", ProcessInstance.status != "terminated")
            .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())):
        if instance.status == "running" and instance.next_timer_at is not None and instance.id not in counts:
            continue
        out.append({"id": instance.id, "status": instance.status, "started_at": instance.started_at.isoformat(),
                    "ended_at": instance.ended_at.isoformat() if instance.ended_at else None,
                    "responses": counts.get(instance.id, 0)})
    return out


def responses(session: Session, area: set[int] | None, instance_id: int | None = None) -> list[SurveyResponse]:
    stmt = select(SurveyResponse).join(ContactPoint).order_by(SurveyResponse.answered_at.desc(), SurveyResponse.id)
    if instance_id is not None:
        stmt = stmt.where(SurveyResponse.instance_id == instance_id)
    if area is not None:
        stmt = stmt.where(ContactPoint.owner_unit_id.in_(area) if area else ContactPoint.id.is_(None))
    return list(session.scalars(stmt))
