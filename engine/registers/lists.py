"""The six public lists of every unit (任务4; DOMAIN §7): 行政执法主体、人员、事项、音像记录事项、随机抽查事项、
重大执法决定法制审核事项清单.

Each list type's columns are declared in ``list_types/<key>.yaml`` (checked when loaded). A unit's list lives
in versions (:class:`ListVersion`): a draft is edited (rows on a page, or an Excel file — all or nothing),
submitted with an effective date, which starts the ``list_publication`` procedure; the unit's agency head
approves it there and the procedure's script step publishes it (:func:`helpers`). Published versions stay
readable and any two can be compared (:func:`diff`). The personnel list is generated from the personnel
register (:func:`roster_rows`).

The major-decision procedure asks :func:`on_review_list` whether a case's enforcement matter (a 事项编码 of the
unit's published 事项清单) is on the unit's published 重大执法决定法制审核事项清单."""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterable

import yaml
from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from .. import history
from ..calendar import LOCAL_TZ
from ..errors import N_, Conflict, InvalidInput, NotFound
from ..models import OrgUnit
from .lists_models import ListVersion

TYPES_DIR = os.path.join(os.path.dirname(__file__), "list_types")
LIST_KEYS = ("subjects", "personnel", "matters", "av_records", "random_inspections", "major_review")
COLUMN_TYPES = ("text", "choice", "date")
PROCESS_KEY = "list_publication"
MATTERS, REVIEW = "matters", "major_review"
MAX_ROWS = 5000
DEFAULT_STALE_MONTHS = 12
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


class ListTypeError(ValueError):
    pass


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    label_en: str | None = None
    required: bool = False
    type: str = "text"
    max_length: int = 500
    options: tuple[str, ...] = ()
    help: str | None = None


@dataclass(frozen=True)
class ListType:
    key: str
    name: str
    name_en: str | None
    order: int
    key_column: str
    columns: tuple[Column, ...] = field(default_factory=tuple)
    source: str | None = None        # "personnel_register": generated, not edited

    @property
    def generated(self) -> bool:
        return self.source is not None

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


def parse_list_type(raw, source: str = "?") -> ListType:
    if not isinstance(raw, dict) or not raw.get("key") or not raw.get("name"):
        raise ListTypeError(f"{source}: a list type needs key and name")
    columns, seen = [], set()
    for c in raw.get("columns") or []:
        where = f"{source}: column {c.get('key', '?') if isinstance(c, dict) else c!r}"
        if not isinstance(c, dict) or not _KEY.match(str(c.get("key", ""))) or c["key"] in seen:
            raise ListTypeError(f"{where}: column keys are unique snake_case identifiers")
        if not c.get("label"):
            raise ListTypeError(f"{where}: a column needs a label")
        kind = c.get("type", "text")
        if kind not in COLUMN_TYPES:
            raise ListTypeError(f"{where}: type must be one of {', '.join(COLUMN_TYPES)}")
        options = tuple(str(o) for o in c.get("options") or ())
        if (kind == "choice") != bool(options):
            raise ListTypeError(f"{where}: a choice column, and only it, has options")
        length = c.get("max_length", 500)
        if not isinstance(length, int) or not 1 <= length <= 10_000:
            raise ListTypeError(f"{where}: max_length is a number from 1 to 10000")
        seen.add(c["key"])
        columns.append(Column(c["key"], str(c["label"]), c.get("label_en"), bool(c.get("required", False)), kind,
                              length, options, c.get("help")))
    if not columns:
        raise ListTypeError(f"{source}: a list type needs columns")
    key_column = raw.get("key_column")
    if key_column not in seen or not next(c for c in columns if c.key == key_column).required:
        raise ListTypeError(f"{source}: key_column must name a required column")
    if raw.get("source") not in (None, "personnel_register"):
        raise ListTypeError(f"{source}: source is personnel_register or absent")
    return ListType(raw["key"], str(raw["name"]), raw.get("name_en"), int(raw.get("order", 99)), key_column,
                    tuple(columns), raw.get("source"))


def load_list_types(directory: str = TYPES_DIR) -> dict[str, ListType]:
    types = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".yaml"):
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                t = parse_list_type(yaml.safe_load(fh), name)
            if os.path.splitext(name)[0] != t.key or t.key in types:
                raise ListTypeError(f"{name}: the file name must be the list key {t.key}")
            types[t.key] = t
    if set(types) != set(LIST_KEYS):
        raise ListTypeError(f"the list types must be exactly {', '.join(LIST_KEYS)}")
    return dict(sorted(types.items(), key=lambda kv: kv[1].order))


_TYPES: dict[str, ListType] | None = None


def list_types() -> dict[str, ListType]:
    global _TYPES
    if _TYPES is None:
        _TYPES = load_list_types()
    return _TYPES


def list_type(key: str) -> ListType:
    t = list_types().get(key)
    if t is None:
        raise NotFound(N_("There is no such list"))
    return t


# -- rows --------------------------------------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def check_rows(t: ListType, raw_rows: Iterable[dict], first_row: int = 1) -> tuple[list[dict], list[dict]]:
    """Clean rows (every column a string) and the problems: ``{"row": n, "column": label, "msgid", "params"}``
    numbered from ``first_row``. Blank rows are skipped; the key column is unique."""
    rows, problems, keys = [], [], {}
    for n, raw in enumerate(raw_rows, start=first_row):
        row = {c.key: _cell(raw.get(c.key)) for c in t.columns}
        if not any(row.values()):
            continue
        for c in t.columns:
            value = row[c.key]
            if c.required and not value:
                problems.append({"row": n, "column": c.label, "msgid": N_("This column is required.")})
            elif len(value) > c.max_length:
                problems.append({"row": n, "column": c.label, "msgid": N_("At most %(max)s characters."),
                                 "params": {"max": c.max_length}})
            elif value and c.type == "choice" and value not in c.options:
                problems.append({"row": n, "column": c.label, "msgid": N_("Must be one of: %(options)s"),
                                 "params": {"options": "、".join(c.options)}})
            elif value and c.type == "date":
                try:
                    date.fromisoformat(value)
                except ValueError:
                    problems.append({"row": n, "column": c.label, "msgid": N_("Enter a date as YYYY-MM-DD.")})
        key = row[t.key_column]
        if key and key in keys:
            problems.append({"row": n, "column": t.column(t.key_column).label,
                             "msgid": N_("Repeats row %(other)s; each row needs its own value here."),
                             "params": {"other": keys[key]}})
        keys.setdefault(key, n)
        rows.append(row)
    if len(rows) > MAX_ROWS:
        problems.append({"row": first_row + MAX_ROWS, "column": "", "msgid": N_("A list can have at most %(max)s rows."),
                         "params": {"max": MAX_ROWS}})
    return rows, problems


def problems_error(problems: list[dict]) -> InvalidInput:
    return InvalidInput(N_("Nothing was saved: %(count)s rows have errors"), count=len({p["row"] for p in problems}),
                        errors=[{**p, "params": p.get("params") or {}} for p in problems])


def _row_key(t: ListType, row: dict) -> str:
    return row.get(t.key_column, "")


def diff(t: ListType, old_rows: list[dict], new_rows: list[dict]) -> dict:
    """Rows added, removed and changed (same key column, other values) from ``old_rows`` to ``new_rows``."""
    old = {_row_key(t, r): r for r in old_rows}
    new = {_row_key(t, r): r for r in new_rows}
    changed = []
    for key, row in new.items():
        if key in old and old[key] != row:
            columns = [c.key for c in t.columns if old[key].get(c.key, "") != row.get(c.key, "")]
            changed.append({"key": key, "old": old[key], "new": row, "columns": columns})
    return {"added": [r for k, r in new.items() if k not in old], "removed": [r for k, r in old.items() if k not in new],
            "changed": changed}


# -- Excel and CSV --------------------------------------------------------------------------------------

def _label(c: Column, en: bool) -> str:
    return c.label_en if en and c.label_en else c.label


def headers(t: ListType, en: bool = False) -> list[str]:
    return [_label(c, en) for c in t.columns]


_FORMULA_START = ("=", "+", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    """Text that a spreadsheet would run as a formula is kept as text (a leading apostrophe)."""
    risky = value.startswith(_FORMULA_START) or (value.startswith("-") and value[1:2] not in "0123456789")
    return "'" + value if risky else value


def to_csv(t: ListType, rows: list[dict], en: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_label(c, en) for c in t.columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(c.key, "")) for c in t.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")    # the BOM lets Excel read the Chinese text


def read_xlsx(t: ListType, content: bytes) -> list[dict]:
    """The rows of an uploaded workbook (first sheet; headers in row 1 are the column labels, in any order).
    Raises InvalidInput naming every bad row (Excel row numbers); nothing is returned from a file with
    errors."""
    from openpyxl import load_workbook
    not_a_workbook = InvalidInput(N_("The file is not an Excel workbook (.xlsx); download the template and fill it in."))
    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:           # not a workbook at all: zip, XML or format errors of any kind
        raise not_a_workbook from None
    try:
        lines = wb.worksheets[0].iter_rows(values_only=True)
        header = [_cell(h) for h in next(lines, ())]
        by_label = {}
        for c in t.columns:
            for label in (c.label, c.label_en):
                if label and label in header:
                    by_label[c.key] = header.index(label)
        missing = [c.label for c in t.columns if c.required and c.key not in by_label]
        if missing:
            raise InvalidInput(N_("Row 1 lacks the columns %(columns)s; download the template and fill it in."),
                               columns="、".join(missing))
        raw_rows = []
        for values in lines:
            raw_rows.append({key: values[i] if i < len(values) else None for key, i in by_label.items()})
            if len(raw_rows) > MAX_ROWS + 1:
                break
    except InvalidInput:
        raise
    except Exception:           # a sheet that cannot be read (broken XML inside the zip, no sheet at all)
        raise not_a_workbook from None
    finally:
        wb.close()
    rows, problems = check_rows(t, raw_rows, first_row=2)
    if problems:
        raise problems_error(problems)
    return rows


# -- versions ----------------------------------------------------------------------------------------------

def versions(session: Session, unit_id: int, key: str, published_only: bool = False) -> list[ListVersion]:
    stmt = select(ListVersion).where(ListVersion.unit_id == unit_id, ListVersion.list_type == key)
    if published_only:
        stmt = stmt.where(ListVersion.status == "published")
    return list(session.scalars(stmt.order_by(ListVersion.version_no.desc())))


def version(session: Session, unit_id: int, key: str, number: int, published_only: bool = False) -> ListVersion:
    v = session.scalar(select(ListVersion).where(ListVersion.unit_id == unit_id, ListVersion.list_type == key,
                                                 ListVersion.version_no == number))
    if v is None or (published_only and v.status != "published"):
        raise NotFound(N_("There is no such version of this list"))
    return v


def current(session: Session, unit_id: int, key: str, on: date) -> ListVersion | None:
    """The published version in force on ``on``: the latest published one whose effective date has come."""
    return session.scalar(select(ListVersion).where(
        ListVersion.unit_id == unit_id, ListVersion.list_type == key, ListVersion.status == "published",
        ListVersion.effective_on <= on).order_by(ListVersion.version_no.desc()).limit(1))


def open_version(session: Session, unit_id: int, key: str) -> ListVersion | None:
    """The draft or the version waiting for approval, if any (one at a time per list)."""
    return session.scalar(select(ListVersion).where(
        ListVersion.unit_id == unit_id, ListVersion.list_type == key,
        ListVersion.status.in_(("draft", "submitted"))).limit(1))


def roster_rows(session: Session, unit_id: int) -> list[dict]:
    """The personnel list's rows from the personnel register: only the published fields (姓名、单位、执法证号、
    执法区域). The register is another module (engine.registers.personnel); until it is installed this
    returns no rows."""
    try:
        from .personnel import public_roster     # noqa: PLC0415  (the register is optional here)
    except ImportError:
        return []            # the personnel register is not part of this installation yet
    return [{"name": r.get("name") or "", "unit_name": r.get("unit_name") or "", "cert_no": r.get("cert_no") or "",
             "area": r.get("area") or ""} for r in public_roster(session, unit_id)]


def _generated(session: Session, t: ListType, unit_id: int) -> list[dict]:
    """The register's rows with the list's declared columns only (whatever else the register holds)."""
    return [{c.key: _cell(r.get(c.key)) for c in t.columns} for r in roster_rows(session, unit_id)]


def start_draft(session: Session, unit: OrgUnit, key: str, actor: str, now: datetime) -> ListVersion:
    """The list's open version, or a new draft holding the rows of the latest published version (the
    personnel list: the register's current roster)."""
    t = list_type(key)
    existing = open_version(session, unit.id, key)
    if existing is not None:
        return existing
    latest = session.scalar(select(ListVersion).where(
        ListVersion.unit_id == unit.id, ListVersion.list_type == key, ListVersion.status == "published")
        .order_by(ListVersion.version_no.desc()).limit(1))
    rows = _generated(session, t, unit.id) if t.generated else [dict(r) for r in (latest.rows if latest else [])]
    number = (session.scalar(select(func.max(ListVersion.version_no)).where(
        ListVersion.unit_id == unit.id, ListVersion.list_type == key)) or 0) + 1
    draft = ListVersion(unit_id=unit.id, list_type=key, version_no=number, status="draft", rows=rows,
                        created_by=actor, created_at=now, updated_at=now)
    draft.unit = unit
    session.add(draft)
    session.flush()
    history.record(session, now, "list_draft_started", actor=actor,
                   data={"unit": unit.code, "list": key, "version": number})
    return draft


def _editable(draft: ListVersion) -> None:
    if draft.status != "draft":
        raise Conflict(N_("This version is no longer a draft; it cannot be changed."))


def save_rows(session: Session, draft: ListVersion, raw_rows: list[dict], actor: str, now: datetime,
              first_row: int = 1, how: str = "page") -> None:
    """Replace the draft's rows; refused whole when any row is wrong."""
    _editable(draft)
    t = list_type(draft.list_type)
    if t.generated:
        raise Conflict(N_("This list is generated from the personnel register and cannot be edited."))
    rows, problems = check_rows(t, raw_rows, first_row)
    if problems:
        raise problems_error(problems)
    draft.rows = rows
    draft.updated_at = now
    history.record(session, now, "list_draft_saved", actor=actor,
                   data={"unit": draft.unit.code, "list": draft.list_type, "version": draft.version_no,
                         "rows": len(rows), "how": how})


def refresh_generated(session: Session, draft: ListVersion, actor: str, now: datetime) -> None:
    """The personnel list's draft takes the register's current roster again."""
    _editable(draft)
    draft.rows = _generated(session, list_type(draft.list_type), draft.unit_id)
    draft.updated_at = now


def submit(session: Session, runtime, draft: ListVersion, actor: str, effective_on: date, today: date):
    """Send the draft to the unit's agency head: starts the approval procedure (``list_publication``)."""
    _editable(draft)
    if not isinstance(effective_on, date) or effective_on < today:
        raise InvalidInput(N_("The effective date cannot be before today."))
    t = list_type(draft.list_type)
    if not draft.rows:
        raise InvalidInput(N_("An empty list cannot be submitted."))
    now = runtime.clock.now()
    in_force = current(session, draft.unit_id, draft.list_type, today)
    change = diff(t, in_force.rows if in_force else [], draft.rows)
    draft.status, draft.submitted_by, draft.submitted_at = "submitted", actor, now
    draft.effective_on, draft.returned_note = effective_on, None
    session.flush()
    summary = (f"新增{len(change['added'])}项，删除{len(change['removed'])}项，修改{len(change['changed'])}项；"
               f"共{len(draft.rows)}项")
    instance = runtime.start(PROCESS_KEY, business_key=f"{t.name} 第{draft.version_no}版", data={
        "case_unit": draft.unit.code, "list_version_id": draft.id, "list_title": f"{draft.unit.name} {t.name}",
        "list_version_no": draft.version_no, "list_effective_on": effective_on.isoformat(),
        "list_changes": summary, "list_submitted_by": actor})
    draft.instance_id = instance.id
    history.record(session, now, "list_submitted", actor=actor, instance_id=instance.id,
                   data={"unit": draft.unit.code, "list": draft.list_type, "version": draft.version_no,
                         "effective_on": effective_on.isoformat()})
    return instance


def _approver(session: Session, instance_id: int) -> str | None:
    from ..models import HumanTask, User
    return session.scalar(select(User.username).join(HumanTask, HumanTask.completed_by_id == User.id).where(
        HumanTask.instance_id == instance_id, HumanTask.status == "completed")
        .order_by(HumanTask.completed_at.desc()).limit(1))


def _own_version(session: Session, version_id, instance) -> ListVersion:
    """The version the running approval case was started for; a script of any other case gets nothing."""
    v = session.get(ListVersion, version_id) if isinstance(version_id, int) else None
    if v is None or instance is None or v.instance_id != instance.id or v.status != "submitted":
        raise InvalidInput(N_("This case did not submit this list version"))
    return v


def helpers(session: Session, clock, current_instance: Callable[[], object]) -> dict[str, Callable]:
    """For BPMN scripts: ``publish_list_version(id)`` and ``return_list_version(id, note)`` (only the
    approval case that submitted the version may call them), ``matter_on_review_list(unit, matter)`` and
    ``matter_name(unit, matter)``."""
    def publish(version_id):
        instance = current_instance()
        v = _own_version(session, version_id, instance)
        now = clock.now()
        v.status, v.published_at, v.approved_by = "published", now, _approver(session, instance.id)
        history.record(session, now, "list_published", actor=v.approved_by, instance_id=instance.id,
                       data={"unit": v.unit.code, "list": v.list_type, "version": v.version_no,
                             "effective_on": v.effective_on.isoformat()})
        return True

    def send_back(version_id, note=None):
        instance = current_instance()
        v = _own_version(session, version_id, instance)
        v.status, v.returned_note = "draft", (str(note)[:2000] if note else None)
        v.effective_on = None
        history.record(session, clock.now(), "list_returned", actor=_approver(session, instance.id),
                       instance_id=instance.id, data={"unit": v.unit.code, "list": v.list_type,
                                                      "version": v.version_no})
        return True

    def today() -> date:
        return clock.now().astimezone(LOCAL_TZ).date()

    def unit_id(code) -> int | None:
        return session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) if isinstance(code, str) else None

    return {
        "publish_list_version": publish,
        "return_list_version": send_back,
        "matter_on_review_list": lambda unit, matter: on_review_list(session, unit_id(unit), matter, today()),
        "matter_name": lambda unit, matter: matter_label(session, unit_id(unit), matter, today()),
    }


# -- what other parts ask -----------------------------------------------------------------------------

def published_matters(session: Session, unit_id: int | None, on: date) -> list[tuple[str, str]]:
    """(事项编码, 事项名称) of the unit's 事项清单 in force on ``on``."""
    v = current(session, unit_id, MATTERS, on) if unit_id else None
    return [(r["code"], r["name"]) for r in (v.rows if v else [])]


def matter_label(session: Session, unit_id: int | None, matter, on: date) -> str:
    return dict(published_matters(session, unit_id, on)).get(matter, "") if matter else ""


def on_review_list(session: Session, unit_id: int | None, matter, on: date) -> bool:
    """The matter is on the unit's 重大执法决定法制审核事项清单 in force on ``on``."""
    if not unit_id or not isinstance(matter, str) or not matter:
        return False
    v = current(session, unit_id, REVIEW, on)
    return bool(v) and any(r.get("code") == matter for r in v.rows)


KEEPER_KINDS = ("enforcement_dept", "enforcement_team", "police")    # units that enforce keep the six lists


def list_keeping_units(session: Session, area: set[int] | None) -> list[OrgUnit]:
    """Units (within ``area``; None = all) that enforce, or that have a version of any list, by code."""
    with_lists = select(ListVersion.unit_id).distinct()
    stmt = select(OrgUnit).where(or_(OrgUnit.kind.in_(KEEPER_KINDS), OrgUnit.id.in_(with_lists)))
    if area is not None:
        stmt = stmt.where(OrgUnit.id.in_(area) if area else false())
    return list(session.scalars(stmt.order_by(OrgUnit.code)))


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    import calendar
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def publication_status(session: Session, unit_ids: Iterable[int], on: date,
                       stale_months: int = DEFAULT_STALE_MONTHS) -> dict[int, dict[str, dict]]:
    """Per unit and list: the last publication date (Asia/Shanghai) on or before ``on`` and whether the list
    is stale (never published, or not published within ``stale_months`` months before ``on``)."""
    ids = list(unit_ids)
    latest: dict[tuple[int, str], date] = {}
    if ids:
        for unit_id, key, published_at in session.execute(
                select(ListVersion.unit_id, ListVersion.list_type, func.max(ListVersion.published_at))
                .where(ListVersion.unit_id.in_(ids), ListVersion.status == "published")
                .group_by(ListVersion.unit_id, ListVersion.list_type)):
            if published_at is not None:
                latest[(unit_id, key)] = published_at.astimezone(LOCAL_TZ).date()
    limit = _months_before(on, stale_months)
    out: dict[int, dict[str, dict]] = {}
    for unit_id in ids:
        out[unit_id] = {}
        for key in list_types():
            last = latest.get((unit_id, key))
            if last is not None and last > on:     # published after the day asked about: look for an earlier one
                last = _last_published_before(session, unit_id, key, on)
            out[unit_id][key] = {"last": last, "stale": last is None or last < limit}
    return out


def _last_published_before(session: Session, unit_id: int, key: str, on: date) -> date | None:
    for v in versions(session, unit_id, key, published_only=True):
        day = v.published_at.astimezone(LOCAL_TZ).date()
        if day <= on:
            return day
    return None


def assessment_list_currency(session: Session, unit_ids: Iterable[int], start: date, end: date,
                             stale_months: int = DEFAULT_STALE_MONTHS) -> dict[int, tuple[int, int]]:
    """For the assessment: per unit, (how many of its six lists are current as of ``end``, 6). A list is
    current when it was published within ``stale_months`` months before ``end`` (the assessment period
    ``start``–``end`` is shorter than that period, so ``start`` does not narrow it further)."""
    from .personnel import last_day
    status = publication_status(session, unit_ids, last_day(end), stale_months)
    total = len(list_types())
    return {unit_id: (sum(1 for s in lists.values() if not s["stale"]), total) for unit_id, lists in status.items()}


# -- demo data ---------------------------------------------------------------------------------------------

def load_demo(session: Session, path: str, now: datetime) -> int:
    """Publish the lists of a demo file (``units: {code: {list_key: [rows]}}``) as version 1 of each, unless
    the unit already has a version of that list. The personnel list comes from the register. Returns how
    many versions were published."""
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    effective = date.fromisoformat(str(doc.get("effective_on") or now.astimezone(LOCAL_TZ).date().isoformat()))
    count = 0
    for code, lists in (doc.get("units") or {}).items():
        unit = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
        if unit is None:
            raise NotFound(N_("Unit %(code)s does not exist"), code=code)
        for key in list_types():
            t = list_type(key)
            if versions(session, unit.id, key):
                continue
            raw = _generated(session, t, unit.id) if t.generated else (lists or {}).get(key) or []
            rows, problems = check_rows(t, raw)
            if problems:
                raise problems_error(problems)
            if not rows:
                continue
            session.add(ListVersion(unit_id=unit.id, list_type=key, version_no=1, status="published", rows=rows,
                                    effective_on=effective, created_by="demo", created_at=now, updated_at=now,
                                    submitted_by="demo", submitted_at=now, approved_by="demo", published_at=now))
            count += 1
    session.flush()
    return count
