"""The personnel register (执法人员, DOMAIN §0 and §7, 任务3): 执法证 and its validity, 法律职业资格, training
records; who is a QUALIFIED legal reviewer; whose 执法证 lets him or her act as a case handler; Excel import
and export; the shortfall per unit; the October training reminder.

The qualification rule (``ReviewerRule``) is configuration the caller passes in (config.py
``REVIEWER_MIN_TRAINING_HOURS``, ``REVIEWER_CERTIFICATE_REQUIRED_FROM``):

- hours: the training hours of the current calendar year (1 January up to and including the day asked
  about) must reach ``min_hours`` (default 30);
- 法律职业资格: DOMAIN says first-time reviewers need it. "First-time" is decided by the person's
  ``reviewer_since`` (the day first appointed as legal reviewer): with ``certificate_required_from`` unset
  (the default) EVERY reviewer needs the certificate; with a date set, reviewers first appointed before it
  (recorded ``reviewer_since`` earlier than the date) are exempt, everybody else needs it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Iterable

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from ..errors import N_, Forbidden, InvalidInput, NotFound
from ..models import Notification, OrgUnit, RoleAssignment, User
from .personnel_models import PersonnelRecord, TrainingRecord, TrainingReminder

REVIEWER_ROLE = "legal_reviewer"          # 法制审核人员: offered review tasks only when qualified
HANDLER_ROLE = "handler"                  # 承办人: acts only with a valid 执法证
SUPERVISOR_ROLE = "supervision_officer"
EDITOR_ROLES = {"admin", SUPERVISOR_ROLE}
REMINDER_KIND = "training_due"
MAX_HOURS = Decimal("999.9")


@dataclass(frozen=True)
class ReviewerRule:
    min_hours: Decimal = Decimal("30")
    certificate_required_from: date | None = None     # None: every reviewer needs 法律职业资格
    reminder_from: tuple[int, int] = (10, 1)           # (month, day) from which the shortfall reminder is sent

    @classmethod
    def from_config(cls, config) -> "ReviewerRule":
        required = config.get("REVIEWER_CERTIFICATE_REQUIRED_FROM")
        if isinstance(required, str) and required:
            required = date.fromisoformat(required)
        month, day = (int(x) for x in str(config.get("REVIEWER_REMINDER_FROM", "10-01")).split("-"))
        return cls(min_hours=Decimal(str(config.get("REVIEWER_MIN_TRAINING_HOURS", 30))),
                   certificate_required_from=required or None, reminder_from=(month, day))


@dataclass
class ReviewerStatus:
    user_id: int
    hours: Decimal = Decimal("0")
    needs_certificate: bool = True
    has_certificate: bool = False
    min_hours: Decimal = Decimal("30")

    @property
    def hours_missing(self) -> Decimal:
        return max(Decimal("0"), self.min_hours - self.hours)

    @property
    def certificate_ok(self) -> bool:
        return self.has_certificate or not self.needs_certificate

    @property
    def qualified(self) -> bool:
        return self.certificate_ok and self.hours_missing == 0

    def reasons(self) -> list[str]:
        out = []
        if not self.certificate_ok:
            out.append(N_("no 法律职业资格 on record"))
        if self.hours_missing:
            out.append(N_("training hours this year below the required hours"))
        return out


# -- qualification -----------------------------------------------------------------------------------------

def year_hours(session: Session, user_ids: Iterable[int], on: date) -> dict[int, Decimal]:
    """Training hours per user from 1 January of ``on``'s year up to and including ``on``."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(select(TrainingRecord.user_id, func.sum(TrainingRecord.hours))
                           .where(TrainingRecord.user_id.in_(ids), TrainingRecord.day >= date(on.year, 1, 1),
                                  TrainingRecord.day <= on).group_by(TrainingRecord.user_id))
    return {uid: Decimal(str(total or 0)) for uid, total in rows}


def statuses(session: Session, user_ids: Iterable[int], on: date, rule: ReviewerRule) -> dict[int, ReviewerStatus]:
    ids = list(set(user_ids))
    hours = year_hours(session, ids, on)
    # the three columns as tuples: a PersonnelRecord row would load its user (and the user's unit and roles)
    records = {r.user_id: r for r in session.execute(
        select(PersonnelRecord.user_id, PersonnelRecord.legal_cert_no, PersonnelRecord.legal_cert_date,
               PersonnelRecord.reviewer_since).where(PersonnelRecord.user_id.in_(ids)))} if ids else {}
    out = {}
    for uid in ids:
        rec = records.get(uid)
        needs = True
        if rule.certificate_required_from is not None and rec is not None and rec.reviewer_since is not None:
            needs = rec.reviewer_since >= rule.certificate_required_from
        has = bool(rec and rec.legal_cert_no and (rec.legal_cert_date is None or rec.legal_cert_date <= on))
        out[uid] = ReviewerStatus(uid, hours.get(uid, Decimal("0")), needs, has, rule.min_hours)
    return out


def qualified_ids(session: Session, user_ids: Iterable[int], on: date, rule: ReviewerRule) -> set[int]:
    return {uid for uid, st in statuses(session, user_ids, on, rule).items() if st.qualified}


def status_of(session: Session, user: User, on: date, rule: ReviewerRule) -> ReviewerStatus:
    return statuses(session, [user.id], on, rule)[user.id]


def check_reviewer(session: Session, user: User, on: date, rule: ReviewerRule) -> None:
    """Refuse (Forbidden) an unqualified legal reviewer, saying why."""
    st = status_of(session, user, on, rule)
    if not st.certificate_ok:
        raise Forbidden(N_("You are not a qualified legal reviewer: no 法律职业资格 is on record for you. "
                           "Ask your unit's administrator or supervision officer to record it."))
    if not st.qualified:
        raise Forbidden(N_("You are not a qualified legal reviewer: %(hours)s of the %(required)s training hours "
                           "required this year are on record."), hours=_fmt(st.hours), required=_fmt(rule.min_hours))


def enforcement_valid(session: Session, user_id: int, on: date) -> bool:
    rec = session.scalar(select(PersonnelRecord).where(PersonnelRecord.user_id == user_id))
    return bool(rec and rec.cert_no and (rec.cert_valid_until is None or rec.cert_valid_until >= on)
                and (rec.cert_valid_from is None or rec.cert_valid_from <= on))


def check_enforcement(session: Session, user: User, on: date) -> None:
    """Refuse (Forbidden) a case handler without a valid 执法证."""
    rec = user.personnel             # read with the signed-in user (engine.org.signed_in_user), else read now
    if rec is None or not rec.cert_no:
        raise Forbidden(N_("You have no 执法证 on record, so you cannot act as the case handler. Ask your unit's "
                           "administrator or supervision officer to record it."))
    if rec.cert_valid_until is not None and rec.cert_valid_until < on:
        raise Forbidden(N_("Your 执法证 %(cert)s expired on %(day)s, so you cannot act as the case handler."),
                        cert=rec.cert_no, day=rec.cert_valid_until.isoformat())
    if rec.cert_valid_from is not None and rec.cert_valid_from > on:
        raise Forbidden(N_("Your 执法证 %(cert)s is valid only from %(day)s."), cert=rec.cert_no,
                        day=rec.cert_valid_from.isoformat())


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.1f}"


# -- scope: who edits whom ----------------------------------------------------------------------------------

def edit_area(directory, user: User) -> set[int] | None:
    """Units whose people ``user`` may edit: every unit (None) for an administrator, the county or city of
    a supervision officer's bureau; nothing for anyone else."""
    roles = {ra.role_code for ra in user.roles}
    if "admin" in roles:
        return None
    if SUPERVISOR_ROLE in roles:
        return directory.descendant_ids(directory.county_or_city(user.unit.code))
    return set()


def may_edit(directory, editor: User, person: User) -> bool:
    area = edit_area(directory, editor)
    return area is None or person.unit_id in area


def person_for(session: Session, directory, editor: User, user_id) -> User:
    """A person the editor may edit; others are not found (cross-county is 404)."""
    from ..limits import is_db_id
    person = session.get(User, user_id) if is_db_id(user_id) else None
    if person is None or not may_edit(directory, editor, person):
        raise NotFound(N_("No such person"))
    return person


def people(session: Session, area: set[int] | None, unit_id: int | None = None) -> list[User]:
    stmt = select(User).where(User.active.is_(True))
    if area is not None:
        stmt = stmt.where(User.unit_id.in_(area) if area else false())
    if unit_id is not None:
        stmt = stmt.where(User.unit_id == unit_id)
    return list(session.scalars(stmt.join(OrgUnit, OrgUnit.id == User.unit_id).order_by(OrgUnit.code, User.display_name)))


def record_of(session: Session, user_id: int) -> PersonnelRecord | None:
    return session.scalar(select(PersonnelRecord).where(PersonnelRecord.user_id == user_id))


def records_of(session: Session, user_ids: Iterable[int]) -> dict[int, PersonnelRecord]:
    ids = list(set(user_ids))
    return {r.user_id: r for r in session.scalars(select(PersonnelRecord).where(PersonnelRecord.user_id.in_(ids)))} \
        if ids else {}


def training_of(session: Session, user_id: int) -> list[TrainingRecord]:
    return list(session.scalars(select(TrainingRecord).where(TrainingRecord.user_id == user_id)
                                .order_by(TrainingRecord.day.desc(), TrainingRecord.id.desc())))


# -- editing ------------------------------------------------------------------------------------------------

RECORD_FIELDS = ("cert_no", "cert_valid_from", "cert_valid_until", "area", "legal_cert_no", "legal_cert_date",
                 "reviewer_since")
DATE_FIELDS = {"cert_valid_from", "cert_valid_until", "legal_cert_date", "reviewer_since"}
LENGTHS = {"cert_no": 32, "area": 200, "legal_cert_no": 64, "course": 200, "organiser": 200}


def _text(value, name: str, errors: dict, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.setdefault(name, []).append(N_("Required"))
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        errors.setdefault(name, []).append(N_("Must be text"))
        return None
    text = str(value).strip()
    if len(text) > LENGTHS[name]:
        errors.setdefault(name, []).append(N_("Too long"))
        return None
    return text


def _date(value, name: str, errors: dict, required: bool = False) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.setdefault(name, []).append(N_("Required"))
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value.strip().replace("/", "-"))
            if 1900 <= parsed.year <= 2200:
                return parsed
        except ValueError:
            pass
    errors.setdefault(name, []).append(N_("Not a date (YYYY-MM-DD)"))
    return None


def clean_record(data: dict) -> tuple[dict, dict]:
    """(cleaned fields, errors {field: [msgid]}) of a person's record as submitted."""
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return {}, {"_": [N_("The request body must be a JSON object")]}
    clean = {}
    for name in RECORD_FIELDS:
        if name not in data:
            continue
        clean[name] = _date(data[name], name, errors) if name in DATE_FIELDS else _text(data[name], name, errors)
    if clean.get("cert_valid_from") and clean.get("cert_valid_until") and \
            clean["cert_valid_until"] < clean["cert_valid_from"]:
        errors.setdefault("cert_valid_until", []).append(N_("The end of validity is before its start"))
    if clean.get("cert_valid_until") and not clean.get("cert_no") and "cert_no" in data:
        errors.setdefault("cert_no", []).append(N_("A validity needs a 执法证号"))
    if clean.get("legal_cert_date") and not clean.get("legal_cert_no") and "legal_cert_no" in data:
        errors.setdefault("legal_cert_no", []).append(N_("A date needs a certificate number"))
    return clean, errors


def clean_training(data: dict) -> tuple[dict, dict]:
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return {}, {"_": [N_("The request body must be a JSON object")]}
    clean = {"day": _date(data.get("day"), "day", errors, required=True),
             "course": _text(data.get("course"), "course", errors, required=True),
             "organiser": _text(data.get("organiser"), "organiser", errors)}
    raw = data.get("hours")
    hours = None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.setdefault("hours", []).append(N_("Required"))
    elif isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        errors.setdefault("hours", []).append(N_("Must be a number of hours"))
    else:
        try:
            hours = Decimal(str(raw).strip())
            if not hours.is_finite() or hours <= 0 or hours > MAX_HOURS or hours != hours.quantize(Decimal("0.1")):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors.setdefault("hours", []).append(N_("Hours must be a number above 0 with at most one decimal"))
            hours = None
    clean["hours"] = hours
    return clean, errors


def save_record(session: Session, person: User, clean: dict, actor: str, now: datetime) -> PersonnelRecord:
    rec = record_of(session, person.id)
    if rec is None:
        rec = PersonnelRecord(user_id=person.id)
        session.add(rec)
    for name, value in clean.items():
        setattr(rec, name, value)
    rec.updated_at, rec.updated_by = now, actor
    session.flush()
    return rec


def add_training(session: Session, person: User, clean: dict) -> TrainingRecord:
    row = session.scalar(select(TrainingRecord).where(TrainingRecord.user_id == person.id,
                                                      TrainingRecord.day == clean["day"],
                                                      TrainingRecord.course == clean["course"]))
    if row is None:
        row = TrainingRecord(user_id=person.id, day=clean["day"], course=clean["course"])
        session.add(row)
    row.hours, row.organiser = clean["hours"], clean.get("organiser")
    session.flush()
    return row


def delete_training(session: Session, person: User, training_id) -> None:
    from ..limits import is_db_id
    row = session.get(TrainingRecord, training_id) if is_db_id(training_id) else None
    if row is None or row.user_id != person.id:
        raise NotFound(N_("No such training record"))
    session.delete(row)
    session.flush()


def person_dict(session: Session, person: User, on: date, rule: ReviewerRule) -> dict:
    rec = record_of(session, person.id)
    st = status_of(session, person, on, rule)
    is_reviewer = any(ra.role_code == REVIEWER_ROLE for ra in person.roles)
    return {
        "id": person.id, "name": person.display_name, "unit": {"code": person.unit.code, "name": person.unit.name},
        "roles": sorted({ra.role_code for ra in person.roles}),
        **{name: (getattr(rec, name).isoformat() if name in DATE_FIELDS and rec and getattr(rec, name)
                  else (getattr(rec, name) if rec else None)) for name in RECORD_FIELDS},
        "enforcement_valid": enforcement_valid(session, person.id, on),
        "reviewer": is_reviewer, "training_hours": float(st.hours),
        "qualified_reviewer": st.qualified if is_reviewer else None,
        "training": [{"id": t.id, "day": t.day.isoformat(), "course": t.course, "hours": float(t.hours),
                      "organiser": t.organiser} for t in training_of(session, person.id)],
    }


# -- Excel ---------------------------------------------------------------------------------------------------

PEOPLE_SHEET, TRAINING_SHEET = "执法人员", "培训记录"
PEOPLE_COLUMNS = [("username", "账号"), ("name", "姓名"), ("unit", "单位"), ("cert_no", "执法证号"),
                  ("cert_valid_from", "执法证有效期起"), ("cert_valid_until", "执法证有效期至"), ("area", "执法区域"),
                  ("legal_cert_no", "法律职业资格证书编号"), ("legal_cert_date", "法律职业资格取得日期"),
                  ("reviewer_since", "首次担任法制审核人员日期")]
TRAINING_COLUMNS = [("username", "账号"), ("name", "姓名"), ("day", "培训日期"), ("course", "课程"),
                    ("hours", "学时"), ("organiser", "主办单位")]


def _workbook(people_rows: list[list], training_rows: list[list]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    wb = Workbook()
    ws = wb.active
    ws.title = PEOPLE_SHEET
    ws.append([label for _n, label in PEOPLE_COLUMNS])
    for row in people_rows:
        ws.append(row)
    ws2 = wb.create_sheet(TRAINING_SHEET)
    ws2.append([label for _n, label in TRAINING_COLUMNS])
    for row in training_rows:
        ws2.append(row)
    for sheet in (ws, ws2):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for column in sheet.columns:
            sheet.column_dimensions[column[0].column_letter].width = 18
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template_xlsx() -> bytes:
    """The import template: both sheets with their headings and one example row each."""
    return _workbook([["zhangsan", "张三", "（仅供参考，导入时不读取）", "13100000001", "2024-01-01", "2028-12-31",
                       "廊坊市安次区", "A20211310000001", "2021-03-01", "2022-01-01"]],
                     [["zhangsan", "张三", "2026-03-15", "行政执法培训", 8, "廊坊市司法局"]])


def export_xlsx(session: Session, persons: list[User]) -> bytes:
    recs = records_of(session, [p.id for p in persons])
    people_rows, training_rows = [], []
    for p in persons:
        rec = recs.get(p.id)
        people_rows.append([p.username, p.display_name, p.unit.name] + [
            (getattr(rec, name).isoformat() if name in DATE_FIELDS and getattr(rec, name) else getattr(rec, name))
            if rec else None for name, _label in PEOPLE_COLUMNS[3:]])
    names = {p.id: p for p in persons}
    if names:
        for t in session.scalars(select(TrainingRecord).where(TrainingRecord.user_id.in_(list(names)))
                                 .order_by(TrainingRecord.user_id, TrainingRecord.day)):
            p = names[t.user_id]
            training_rows.append([p.username, p.display_name, t.day.isoformat(), t.course, float(t.hours), t.organiser])
    return _workbook(people_rows, training_rows)


@dataclass
class ImportResult:
    people: int = 0
    training: int = 0
    errors: list[dict] = field(default_factory=list)      # {sheet, row, msgid, params}


def import_xlsx(session: Session, directory, editor: User, content: bytes, now: datetime) -> ImportResult:
    """Read the two sheets; every bad row is reported (sheet, row number, reason) and then NOTHING is
    imported. People are found by 账号 and must be in the editor's area. An empty cell clears the field."""
    from openpyxl import load_workbook
    result = ImportResult()

    def bad(sheet: str, row: int, msgid: str, **params) -> None:
        result.errors.append({"sheet": sheet, "row": row, "msgid": msgid, "params": params})

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:      # noqa: BLE001 — any unreadable upload is the same answer to the user
        raise InvalidInput(N_("The file is not an Excel workbook (.xlsx)"))
    if PEOPLE_SHEET not in wb.sheetnames and TRAINING_SHEET not in wb.sheetnames:
        raise InvalidInput(N_("The workbook has neither a sheet %(a)s nor a sheet %(b)s; use the template"),
                           a=PEOPLE_SHEET, b=TRAINING_SHEET)
    area = edit_area(directory, editor)
    users: dict[str, User] = {}

    def person(sheet: str, row: int, username) -> User | None:
        name = str(username).strip() if username is not None else ""
        if not name:
            bad(sheet, row, N_("账号 is empty"))
            return None
        if name not in users:
            found = session.scalar(select(User).where(User.username == name))
            if found is None or (area is not None and found.unit_id not in area):
                bad(sheet, row, N_("No person with 账号 %(user)s in the units you manage"), user=name[:64])
                return None
            users[name] = found
        return users[name]

    def rows(sheet: str, columns: list) -> list[tuple[int, dict]]:
        if sheet not in wb.sheetnames:
            return []
        out = []
        it = wb[sheet].iter_rows(values_only=True)
        header = next(it, None) or ()
        labels = [str(h).strip() if h is not None else "" for h in header]
        index = {}
        for name, label in columns:
            if label in labels:
                index[name] = labels.index(label)
            elif name not in ("name", "unit"):
                bad(sheet, 1, N_("The column %(column)s is missing; use the template"), column=label)
        if len(out) > 5000:
            return out
        for number, values in enumerate(it, start=2):
            if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            out.append((number, {name: (values[i] if i < len(values) else None) for name, i in index.items()}))
            if len(out) > 5000:
                bad(sheet, number, N_("At most 5000 rows per sheet"))
                break
        return out

    planned_people, planned_training = [], []
    seen_people: set[str] = set()
    for number, values in rows(PEOPLE_SHEET, PEOPLE_COLUMNS):
        p = person(PEOPLE_SHEET, number, values.get("username"))
        if p is None:
            continue
        if p.username in seen_people:
            bad(PEOPLE_SHEET, number, N_("账号 %(user)s appears twice"), user=p.username)
            continue
        seen_people.add(p.username)
        clean, errors = clean_record({k: v for k, v in values.items() if k in RECORD_FIELDS})
        for name, msgids in errors.items():
            label = dict(PEOPLE_COLUMNS).get(name, name)
            for msgid in msgids:
                bad(PEOPLE_SHEET, number, N_("%(column)s: %(reason)s"), column=label, reason=msgid)
        if not errors:
            planned_people.append((p, clean))
    for number, values in rows(TRAINING_SHEET, TRAINING_COLUMNS):
        p = person(TRAINING_SHEET, number, values.get("username"))
        if p is None:
            continue
        clean, errors = clean_training(values)
        for name, msgids in errors.items():
            label = dict(TRAINING_COLUMNS).get(name, name)
            for msgid in msgids:
                bad(TRAINING_SHEET, number, N_("%(column)s: %(reason)s"), column=label, reason=msgid)
        if not errors:
            planned_training.append((p, clean))
    if result.errors:
        return result
    for p, clean in planned_people:
        save_record(session, p, clean, editor.username, now)
        result.people += 1
    for p, clean in planned_training:
        add_training(session, p, clean)
        result.training += 1
    return result


# -- the shortfall per unit ------------------------------------------------------------------------------------

def reviewers_by_unit(session: Session, unit_ids: set[int] | None) -> dict[int, list[int]]:
    stmt = (select(RoleAssignment.unit_id, RoleAssignment.user_id).join(User, User.id == RoleAssignment.user_id)
            .where(RoleAssignment.role_code == REVIEWER_ROLE, User.active.is_(True)))
    if unit_ids is not None:
        stmt = stmt.where(RoleAssignment.unit_id.in_(list(unit_ids)) if unit_ids else false())
    out: dict[int, list[int]] = {}
    for unit_id, user_id in session.execute(stmt):
        out.setdefault(unit_id, []).append(user_id)
    return out


def shortfall(session: Session, area: set[int] | None, on: date, rule: ReviewerRule) -> list[dict]:
    """Per unit with legal reviewers (in ``area``; None = all): reviewers, qualified, hours missing, and the
    unqualified reviewers by name with why. Units with a shortfall first."""
    by_unit = reviewers_by_unit(session, area)
    everyone = {uid for ids in by_unit.values() for uid in ids}
    st = statuses(session, everyone, on, rule)
    units = {u.id: u for u in session.execute(select(OrgUnit.id, OrgUnit.code, OrgUnit.name)
                                              .where(OrgUnit.id.in_(list(by_unit))))} if by_unit else {}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(list(everyone)))).all()) \
        if everyone else {}
    out = []
    for unit_id, ids in by_unit.items():
        unit = units[unit_id]
        unqualified = [st[i] for i in ids if not st[i].qualified]
        out.append({"unit_id": unit_id, "unit_code": unit.code, "unit_name": unit.name, "reviewers": len(ids),
                    "qualified": len(ids) - len(unqualified),
                    "hours_missing": float(sum((s.hours_missing for s in st.values() if s.user_id in ids),
                                               Decimal("0"))),
                    "without_certificate": sum(1 for s in unqualified if not s.certificate_ok),
                    "unqualified": sorted([{"name": names[s.user_id], "hours": float(s.hours),
                                            "hours_missing": float(s.hours_missing),
                                            "certificate": s.certificate_ok} for s in unqualified],
                                          key=lambda d: d["name"])})
    out.sort(key=lambda r: (r["qualified"] == r["reviewers"], r["qualified"] > 0, r["unit_code"]))
    return out


def units_without_qualified_reviewer(session: Session, on: date, rule: ReviewerRule) -> list[OrgUnit]:
    """Units where somebody holds the legal reviewer role but nobody is qualified (``flask org check``)."""
    rows = [r for r in shortfall(session, None, on, rule) if r["qualified"] == 0]
    ids = [r["unit_id"] for r in rows]
    return list(session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)).order_by(OrgUnit.code))) if ids else []


# -- the October reminder ----------------------------------------------------------------------------------------

def remind_training(session: Session, directory, now: datetime, rule: ReviewerRule) -> int:
    """From ``rule.reminder_from`` (1 October) on: each reviewer below the yearly training hours, and the
    supervision officers of the justice bureau above his or her unit, get a ``training_due`` notification —
    once per reviewer and year (a TrainingReminder row marks it sent). Returns how many reviewers were told."""
    from ..calendar import local_date
    today = local_date(now)
    if (today.month, today.day) < rule.reminder_from:
        return 0
    by_unit = reviewers_by_unit(session, None)
    everyone = {uid for ids in by_unit.values() for uid in ids}
    done = set(session.scalars(select(TrainingReminder.user_id).where(TrainingReminder.year == today.year)))
    st = statuses(session, everyone - done, today, rule)
    told = 0
    for unit_id, ids in sorted(by_unit.items()):
        for uid in sorted(ids):
            if uid in done or uid not in st or st[uid].hours_missing == 0:
                continue
            done.add(uid)
            reviewer = session.get(User, uid)
            session.add(TrainingReminder(user_id=uid, year=today.year, sent_at=now))
            recipients = [(reviewer, "assignee")]
            try:
                bureau = directory.justice_bureau_above(reviewer.unit)
                recipients += [(u, "supervisor") for u in directory.candidates(SUPERVISOR_ROLE, bureau.id)]
            except NotFound:
                pass
            seen = set()
            for user, audience in recipients:
                if user.id in seen:
                    continue
                seen.add(user.id)
                session.add(Notification(user_id=user.id, kind=REMINDER_KIND, task_id=None, instance_id=None,
                                         subject_user_id=uid, audience=audience, created_at=now))
            told += 1
    session.flush()
    return told


# -- for the public lists and the assessment ---------------------------------------------------------------------

def public_roster(session: Session, unit_id: int) -> list[dict]:
    """The 行政执法人员清单 of a unit: persons with a valid 执法证 today, only the fields the law publishes
    (name, unit, 执法证号, enforcement area, valid until)."""
    from ..calendar import LOCAL_TZ
    today = datetime.now(LOCAL_TZ).date()
    rows = session.execute(select(User.display_name, OrgUnit.name, PersonnelRecord.cert_no, PersonnelRecord.area,
                                  PersonnelRecord.cert_valid_until)
                           .join(PersonnelRecord, PersonnelRecord.user_id == User.id)
                           .join(OrgUnit, OrgUnit.id == User.unit_id)
                           .where(User.unit_id == unit_id, User.active.is_(True), PersonnelRecord.cert_no.is_not(None),
                                  PersonnelRecord.cert_no != "")
                           .order_by(PersonnelRecord.cert_no))
    out = []
    for name, unit_name, cert_no, area, until in rows:
        if until is not None and until < today:
            continue
        out.append({"name": name, "unit_name": unit_name, "cert_no": cert_no, "area": area,
                    "valid_until": until.isoformat() if until else None})
    return out


def last_day(end) -> date:
    """The last day (Asia/Shanghai) of a period ending at ``end``: a date is that day; a datetime is the
    period's exclusive end (the assessment's [start, end)), so its day before when it falls on midnight."""
    if not isinstance(end, datetime):
        return end
    from ..calendar import LOCAL_TZ
    return (end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date() if end.tzinfo else \
        (end - timedelta(microseconds=1)).date()


def assessment_qualification(session: Session, unit_ids, start, end,
                             rule: ReviewerRule | None = None) -> dict[int, tuple[int, int]]:
    """Per unit id: (qualified reviewers, reviewers) on the period's last day (``last_day(end)``; hours counted
    in that day's calendar year). ``start`` is accepted for the assessment's period; reviewers are those holding
    the role now. Units without reviewers answer (0, 0)."""
    on = last_day(end)
    rule = rule or ReviewerRule()
    ids = set(unit_ids)
    by_unit = reviewers_by_unit(session, ids)
    everyone = {uid for v in by_unit.values() for uid in v}
    good = qualified_ids(session, everyone, on, rule)
    return {uid: (sum(1 for u in by_unit.get(uid, []) if u in good), len(by_unit.get(uid, []))) for uid in ids}


# -- demo data -----------------------------------------------------------------------------------------------------

def load_demo(session: Session, doc: dict, today: date) -> int:
    """The ``personnel`` section of an organisation file: every holder of ``roles`` (default: handlers and legal
    reviewers) in the file gets a
    执法证 (and reviewers a 法律职业资格) and a yearly training of ``hours`` in each year from ``first_year``
    to this year (or ``last_year``); ``people`` entries override a person (e.g. a reviewer short of hours).
    A person who already has a record is left alone (loading again changes nothing, edits stay)."""
    spec = doc.get("personnel") or {}
    defaults = spec.get("defaults") or {}
    overrides = {p["username"]: p for p in spec.get("people", [])}
    first_year = int(defaults.get("first_year", today.year))
    hours = Decimal(str(defaults.get("hours", 32)))
    count = 0
    for number, u in enumerate(doc.get("users", []), start=1):
        roles = set(u.get("roles", []))
        if not roles & set(defaults.get("roles", [HANDLER_ROLE, REVIEWER_ROLE])) and u["username"] not in overrides:
            continue
        user = session.scalar(select(User).where(User.username == u["username"]))
        if user is None:
            continue
        o = overrides.get(u["username"], {})
        if record_of(session, user.id) is not None:          # loaded before (or edited since): kept as it is
            continue
        rec = PersonnelRecord(user_id=user.id)
        session.add(rec)
        rec.cert_no = o.get("cert_no", f"1310{number:07d}")
        rec.cert_valid_from = date.fromisoformat(str(o.get("cert_valid_from", defaults.get("cert_valid_from", "2022-01-01"))))
        rec.cert_valid_until = date.fromisoformat(str(o.get("cert_valid_until", defaults.get("cert_valid_until", "2030-12-31"))))
        rec.area = o.get("area", user.unit.name.replace("人民政府", ""))
        if REVIEWER_ROLE in roles and o.get("legal_cert_no", True):
            rec.legal_cert_no = o.get("legal_cert_no") or f"A2020131{number:07d}"
            rec.legal_cert_date = date.fromisoformat(str(o.get("legal_cert_date", "2020-03-01")))
            rec.reviewer_since = date.fromisoformat(str(o.get("reviewer_since", "2021-01-01")))
        yearly = Decimal(str(o.get("hours", hours)))
        for year in range(first_year, max(today.year, int(defaults.get("last_year", today.year))) + 1):
            session.add(TrainingRecord(user_id=user.id, day=date(year, 1, 1), course="年度行政执法业务培训",
                                       hours=yearly, organiser="廊坊市司法局"))
        count += 1
    session.flush()
    return count
