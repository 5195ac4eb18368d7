"""How case data reads to a person: values formatted by their form field's type (money as 50,000.00 元, units
and people by name, choices by their labels, yes/no in words, files by name), the earlier data a step
declares it shows (``shows:`` in the form YAML), and a readable name for every case. Shared by the task page,
the case page and the lists, and registered as Jinja filters (``money``, ``case_name``, ``unit_name``,
``person``)."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask import g, has_request_context
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from engine.models import Attachment, OrgUnit, ProcessInstance, User
from forms import default_registry
from forms.definition import Field, Form, Show

_PLACE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def _english() -> bool:
    return has_request_context() and str(get_locale()) == "en"


def _cache(name: str) -> dict:
    if not has_request_context():
        return {}
    if not hasattr(g, "_display_cache"):
        g._display_cache = {}
    return g._display_cache.setdefault(name, {})


def money(value) -> str:
    """An amount in yuan as money: 50000.0 → ``50,000.00 元``; text that is no number stays as it is."""
    if value is None or value == "" or isinstance(value, bool):
        return ""
    try:
        amount = Decimal(str(value).replace(",", "").strip()).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{amount:,.2f} " + _("yuan")


def unit_name(code) -> str:
    """The unit's name for its code; the code itself only when no such unit exists."""
    if not isinstance(code, str) or not code:
        return "" if code is None else str(code)
    cache = _cache("units")
    if code not in cache:
        from .extensions import db
        cache[code] = db.session.scalar(select(OrgUnit.name).where(OrgUnit.code == code)) or code
    return cache[code]


def person(username) -> str:
    """A person's display name for their user name; the scheduler and the platform by what they are."""
    if not isinstance(username, str) or not username:
        return ""
    if username in ("timer", "scheduler"):
        return _("Scheduler")
    if username == "system":
        return _("The platform")
    cache = _cache("users")
    if username not in cache:
        from .extensions import db
        cache[username] = db.session.scalar(select(User.display_name).where(User.username == username)) or username
    return cache[username]


def file_names(ids) -> dict[str, str]:
    ids = [i for i in (ids or []) if isinstance(i, str)]
    if not ids:
        return {}
    from .extensions import db
    return dict(db.session.execute(select(Attachment.id, Attachment.filename).where(Attachment.id.in_(ids))).all())


def value_of(field: Field | None, value, type_: str | None = None):
    """``value`` as a person reads it, by the field's type (or ``type_``): text, or a list of texts; files as
    a list of (attachment id, file name)."""
    kind = field.type if field is not None else (type_ or "text")
    english = _english()
    if value is None or value == "" or value == []:
        return None
    if field is not None and field.options:
        labels = {o.value: (o.label_en if english and o.label_en else o.label) for o in field.options}
        return [labels.get(v, v) for v in value] if isinstance(value, list) else labels.get(value, value)
    if isinstance(value, bool) or kind == "yes_no":
        truthy = value if isinstance(value, bool) else str(value).lower() == "true"
        return _("Yes") if truthy else _("No")
    if kind == "money":
        return money(value)
    if kind == "datetime" and isinstance(value, str):
        return value[:16].replace("T", " ")          # stored in Asia/Shanghai time with its offset
    if kind == "unit":
        return [unit_name(v) for v in value] if isinstance(value, list) else unit_name(value)
    if field is not None and field.shown_as == "users":          # user names typed or carried as text
        names = value if isinstance(value, list) else [n.strip() for n in str(value).split(",") if n.strip()]
        return [person(n) for n in names]
    if kind == "user":
        return [person(v) for v in value] if isinstance(value, list) else person(value)
    if kind == "files":
        ids = value if isinstance(value, list) else [value]
        names = file_names(ids)
        return [(i, names[i]) for i in ids if i in names]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def labelled(form_key: str | None, data: dict | None) -> list[tuple[str, object]]:
    """Submitted form data as (label, value) in the page's language: only the form's own fields, in the
    form's order, formatted by type. Without a known form: nothing (the data's keys are internal names)."""
    form = default_registry().get(form_key) if form_key else None
    if form is None or not isinstance(data, dict):
        return []
    english = _english()
    out = []
    for field in form.fields:
        if field.name not in data:
            continue
        shown = value_of(field, data[field.name])
        if shown in (None, "", []):
            continue
        out.append((field.label_en if english and field.label_en else field.label, shown))
    return out


def shows(form: Form | None, data: dict | None) -> list[dict]:
    """What a step declares it shows above its form, read from the case data at the step: a list of
    {"heading": …} and {"label", "value", "files"} items; entries without a value are left out."""
    if form is None or not form.shows or not isinstance(data, dict):
        return []
    english = _english()
    registry = default_registry()
    out: list[dict] = []

    def add(label: str, field: Field | None, value, type_: str = "text"):
        shown = value_of(field, value, type_)
        if shown in (None, "", []):
            return
        kind = field.type if field is not None else type_
        out.append({"label": label, "value": shown, "files": kind == "files", "long": kind == "long_text"})

    for show in form.shows:
        if show.heading:
            out.append({"heading": show.heading_en if english and show.heading_en else show.heading})
        if show.field is None and show.form is None:
            continue
        other = registry.get(show.form) if show.form else None
        if show.field is None:                                  # every field of that form
            for field in other.fields if other else ():
                add(field.label_en if english and field.label_en else field.label, field, data.get(field.name))
            continue
        field = other.field(show.field) if other else None
        label = (show.label_en if english and show.label_en else show.label) or (
            (field.label_en if english and field.label_en else field.label) if field else show.field)
        add(label, field, data.get(show.field), show.type)
    # a heading with nothing under it is left out
    return [item for i, item in enumerate(out)
            if "heading" not in item or (i + 1 < len(out) and "heading" not in out[i + 1])]


def shown_file_ids(items: list[dict]) -> set[str]:
    return {att_id for item in items if item.get("files") for att_id, _name in item["value"]}


def keep_files_of(items: list[dict], allowed: set[str]) -> list[dict]:
    """``items`` with only the files in ``allowed`` (the case's own, or sent to it by another procedure)."""
    out = []
    for item in items:
        if item.get("files"):
            files = [(i, n) for i, n in item["value"] if i in allowed]
            if not files:
                continue
            item = {**item, "value": files}
        out.append(item)
    return out


def start_data(instance: ProcessInstance, sent_only: bool = False) -> dict:
    """The data the case was started with (its start form, or the message that started it); with
    ``sent_only`` only what a message brought (another procedure sent it — e.g. the referring unit's files —
    never what a person typed)."""
    from engine.models import AuditEvent
    from engine.history import stream_of
    from .extensions import db
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.stream == stream_of(instance.id), AuditEvent.action == "instance_started")
        .order_by(AuditEvent.seq).limit(1)).first()
    data = (event.data or {}) if event is not None else {}
    if sent_only:
        found = data.get("payload") if "message" in data else None
        return found if isinstance(found, dict) else {}
    found = data.get("data") if isinstance(data.get("data"), dict) else data.get("payload")
    return found if isinstance(found, dict) else {}


def case_name(instance: ProcessInstance | None) -> str:
    """A case as a person names it: its case number; without one, the name its start form builds
    (``case_name:``, e.g. the pilot round's name), else the procedure and the day it started — never a
    bare database id."""
    if instance is None:
        return ""
    if instance.business_key:
        return instance.business_key
    cache = _cache("case_names")
    if instance.id in cache:
        return cache[instance.id]
    name = None
    try:
        from . import services
        form_key = services.runtime().start_properties(instance.definition).get("formKey")
    except Exception:          # a definition that cannot be read still gets a name below
        form_key = None
    form = default_registry().get(form_key) if form_key else None
    if form is not None and form.case_name:
        data = start_data(instance)

        def place(match):
            field = form.field(match.group(1))
            shown = value_of(field, data.get(match.group(1)))
            return "、".join(map(str, shown)) if isinstance(shown, list) else str(shown or "")
        name = _PLACE.sub(place, form.case_name).strip() or None
    if name is None:
        from .views.common import local
        name = _("%(procedure)s of %(day)s", procedure=instance.definition.name or _("Case"),
                 day=local(instance.started_at, "%Y-%m-%d"))
    cache[instance.id] = name
    return name


def init_app(app) -> None:
    app.jinja_env.filters.update(money=money, case_name=case_name, unit_name=unit_name, person=person)
