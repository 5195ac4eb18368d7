"""marshmallow schemas built from form definitions, with field-level messages in the user's language.

``validate`` returns JSON-safe data (dates as ISO strings, money as a number rounded to cents) holding
every field of the form — hidden and empty ones as None, so no stale value of an earlier round survives —
or raises :class:`engine.errors.InvalidInput` whose ``fields`` map each field to its messages. Fields the
form does not define are refused: a submission cannot set process variables the form does not offer."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Callable

from marshmallow import RAISE, Schema, ValidationError, fields, validate as v

from engine.calendar import LOCAL_TZ, MAX_YEAR, MIN_YEAR
from engine.errors import N_, InvalidInput
from engine.limits import MAX_NUMBER_DIGITS

from .definition import Field, Form

Lookup = Callable[[str], object]      # "unit"/"user": does it exist; "unit_kind": the unit's kind (or None)

MESSAGES = {
    "required": N_("This field is required."),
    "unknown": N_("This field is not part of the form."),
    "text": N_("Enter text."),
    "number": N_("Enter a number."),
    "integer": N_("Enter a whole number."),
    "money": N_("Enter an amount in yuan, e.g. 1200.50."),
    "date": N_("Enter a date as YYYY-MM-DD."),
    "datetime": N_("Enter a date and time as YYYY-MM-DD HH:MM."),
    "choice": N_("Choose one of the options."),
    "list": N_("Choose from the options."),
    "yes_no": N_("Choose yes or no."),
    "unit": N_("Choose an existing unit."),
    "unit_kind": N_("This unit cannot be chosen here."),
    "user": N_("Choose an existing user."),
    "member": N_("Choose an active %(role)s of %(unit)s."),
    "member_anywhere": N_("Choose an active %(role)s."),
    "max_length": N_("At most %(max)s characters."),
    "min": N_("Must be at least %(min)s."),
    "max": N_("Must be at most %(max)s."),
    "negative": N_("An amount cannot be negative."),
    "option_unavailable": N_("This option cannot be chosen at this step."),
    "hidden": N_("This field does not apply here; leave it empty."),
    "differs": N_("Must be someone or something other than: %(other)s."),
    "too_large": N_("The number is too large."),
    "date_range": N_("Enter a date between %(min)s and %(max)s."),
    "before": N_("Cannot be before %(other)s (%(date)s)."),
    "past": N_("Cannot be in the past (today is %(today)s)."),
    "group": N_("Answer once for each item listed."),
}

# bounds of fields whose definition sets none: numbers a double holds exactly, amounts below one trillion
# yuan, dates within the years the working-day calendar may cover
NUMBER_BOUND = 10 ** MAX_NUMBER_DIGITS
MONEY_MAX = Decimal("999999999999.99")
DATE_MIN, DATE_MAX = date(MIN_YEAR, 1, 1), date(MAX_YEAR, 12, 31)


class _Money(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise self.make_error("invalid")
        text = str(value).replace(",", "").strip()
        if len(text) > 64:
            raise self.make_error("too_large")
        try:
            amount = Decimal(text)
        except (InvalidOperation, ValueError):
            raise self.make_error("invalid") from None
        if not amount.is_finite():
            raise self.make_error("invalid")
        if abs(amount) >= NUMBER_BOUND:          # before quantize, which fails beyond 28 digits
            raise self.make_error("too_large")
        return amount.quantize(Decimal("0.01"))


class _LocalDateTime(fields.Field):
    """A date and time as ISO text (``2026-03-13T08:00``, a space may replace the T); without a zone it is
    Asia/Shanghai time. Loaded as an aware datetime in Asia/Shanghai, stored as ISO with its offset."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 40:
            raise self.make_error("invalid")
        text = value.strip().replace(" ", "T", 1)
        if "T" not in text:
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise self.make_error("invalid") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=LOCAL_TZ)
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            raise self.make_error("range")
        return parsed.astimezone(LOCAL_TZ).replace(microsecond=0)


def _field(f: Field, tr: Callable[[str], str], lookups: dict[str, Lookup]):
    msg = lambda key, **p: (tr(MESSAGES[key]) % p) if p else tr(MESSAGES[key])  # noqa: E731
    common = {"allow_none": True, "load_default": None}
    validators = []
    if f.type in ("text", "long_text"):
        validators.append(v.Length(max=f.max_length or (200 if f.type == "text" else 5000),
                                   error=msg("max_length", max=f.max_length or (200 if f.type == "text" else 5000))))
        return fields.String(validate=validators, error_messages={"invalid": msg("text")}, **common)
    if f.type in ("number", "integer"):
        if f.min is not None:
            validators.append(v.Range(min=f.min, error=msg("min", min=f.min)))
        if f.max is not None:
            validators.append(v.Range(max=f.max, error=msg("max", max=f.max)))
        validators.append(v.Range(min=-NUMBER_BOUND, max=NUMBER_BOUND, min_inclusive=False, max_inclusive=False,
                                  error=msg("too_large")))
        cls = fields.Integer if f.type == "integer" else fields.Float
        kwargs = {"strict": True} if f.type == "integer" else {"allow_nan": False}
        return cls(validate=validators, error_messages={"invalid": msg(f.type), "special": msg(f.type),
                                                        "too_large": msg("too_large")},
                   **kwargs, **common)
    if f.type == "money":
        validators.append(v.Range(min=Decimal(str(f.min if f.min is not None else 0)), error=msg("negative")))
        top = Decimal(str(f.max)) if f.max is not None else MONEY_MAX
        validators.append(v.Range(max=top, error=msg("max", max=f.max if f.max is not None else MONEY_MAX)))
        return _Money(validate=validators, error_messages={"invalid": msg("money"), "too_large": msg("too_large")},
                      **common)
    if f.type == "date":
        validators.append(v.Range(min=DATE_MIN, max=DATE_MAX, error=msg("date_range", min=DATE_MIN.isoformat(),
                                                                         max=DATE_MAX.isoformat())))
        return fields.Date(validate=validators, error_messages={"invalid": msg("date")}, **common)
    if f.type == "datetime":
        return _LocalDateTime(error_messages={"invalid": msg("datetime"), "range": msg(
            "date_range", min=DATE_MIN.isoformat(), max=DATE_MAX.isoformat())}, **common)
    if f.type == "choice":
        return fields.String(validate=v.OneOf([o.value for o in f.options], error=msg("choice")),
                             error_messages={"invalid": msg("choice")}, **common)
    if f.type == "multi_choice":
        inner = fields.String(validate=v.OneOf([o.value for o in f.options], error=msg("choice")),
                              error_messages={"invalid": msg("choice")})
        return fields.List(inner, error_messages={"invalid": msg("list")}, **common)
    if f.type == "yes_no":
        return fields.Boolean(error_messages={"invalid": msg("yes_no")}, **common)
    if f.type == "matter":        # which matters the case's unit may choose: web.services.start_validator
        return fields.String(validate=v.Length(max=64, error=msg("max_length", max=64)),
                             error_messages={"invalid": msg("choice")}, **common)
    if f.type in ("unit", "user"):
        check = lookups.get(f.type)
        if check is not None:
            validators.append(lambda value, check=check, m=msg(f.type): _require(check(value), m))
        kind_of = lookups.get("unit_kind")
        if f.type == "unit" and f.unit_kinds and kind_of is not None:
            validators.append(lambda value, kind_of=kind_of, kinds=f.unit_kinds, m=msg("unit_kind"):
                              _require(kind_of(value) in (*kinds, None), m))     # None: no such unit (said above)
        return fields.String(validate=validators, error_messages={"invalid": msg(f.type)}, **common)
    if f.type == "group":
        return fields.Raw(**common)             # checked item by item in validate()
    if f.type == "files":
        return fields.List(fields.String(error_messages={"invalid": msg("text")}),
                           error_messages={"invalid": msg("list")}, **common)
    raise ValueError(f.type)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValidationError(message)


def build_schema(form: Form, gettext: Callable[[str], str] = lambda s: s,
                 lookups: dict[str, Lookup] | None = None) -> Schema:
    attrs = {f.name: _field(f, gettext, lookups or {}) for f in form.fields if not f.readonly}
    schema_cls = Schema.from_dict(attrs, name=f"Form_{form.key}")
    return schema_cls(unknown=RAISE)


def _same(value, other) -> bool:
    """Equal, or ``value`` is one of ``other`` when that is a list (e.g. the users who handled a case)."""
    return value == other or (isinstance(other, list) and value in other)


def _blank(value) -> bool:
    return value is None or (isinstance(value, (str, list)) and not (value.strip() if isinstance(value, str) else value))


def _membership(f: Field, value, merged: dict, lookups: dict, gettext) -> str | None:
    """For a user field with ``user_role``: a message unless the person chosen is active and holds the role at
    the unit named by the case variable ``user_unit`` (lookups ``member``, ``role_name``, ``unit_name``)."""
    if f.type != "user" or not f.user_role or _blank(value) or "member" not in lookups:
        return None
    unit = merged.get(f.user_unit) if f.user_unit else None
    if lookups["member"](value, f.user_role, unit):
        return None
    role = lookups["role_name"](f.user_role) if "role_name" in lookups else f.user_role
    if unit:
        name = lookups["unit_name"](unit) if "unit_name" in lookups else unit
        return gettext(MESSAGES["member"]) % {"role": role, "unit": name}
    return gettext(MESSAGES["member_anywhere"]) % {"role": role}


def _as_date(value) -> date | None:
    """A date, a date-time (its Asia/Shanghai day) or their ISO text as a date; None when it is none."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, datetime):
            return (value.astimezone(LOCAL_TZ) if value.tzinfo else value).date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            text = value.strip()
            if "T" in text or " " in text:
                return _as_date(datetime.fromisoformat(text.replace(" ", "T", 1)))
            return date.fromisoformat(text)
    except ValueError:
        return None
    return None


def _date_order(form: Form, f: Field, value, merged: dict, lookups: dict, gettext) -> str | None:
    """``after``: the date is not before the other dates named (fields of the form or case variables);
    ``not_past``: not before today (lookup ``today``)."""
    if f.type not in ("date", "datetime") or _blank(value):
        return None
    day = _as_date(value)
    if day is None:
        return None
    for other, label in f.after:
        limit = _as_date(merged.get(other))
        if limit is not None and day < limit:
            name = label or (form.field(other).label if form.field(other) else other)
            return gettext(MESSAGES["before"]) % {"other": name, "date": limit.isoformat()}
    if f.not_past and "today" in lookups:
        today = lookups["today"]()
        if day < today:
            return gettext(MESSAGES["past"]) % {"today": today.isoformat()}
    return None


def validate(form: Form, data: dict | None, gettext: Callable[[str], str] = lambda s: s,
             lookups: dict[str, Lookup] | None = None, context: dict | None = None) -> dict:
    """Validate a submission; ``context`` is the case data the conditions may also refer to."""
    data = dict(data or {})
    schema = build_schema(form, gettext, lookups)
    # empty strings from an HTML form mean "not given"
    raw = {k: (None if isinstance(val, str) and not val.strip() else val) for k, val in data.items()}
    errors: dict[str, list[str]] = {}
    try:
        loaded = schema.load(raw)
    except ValidationError as exc:
        loaded = exc.valid_data or {}
        for name, messages in exc.messages.items():
            if isinstance(messages, dict):            # list items: flatten per-item messages
                messages = sorted({m for ms in messages.values() for m in ms})
            if messages == ["Unknown field."]:
                messages = [gettext(MESSAGES["unknown"])]
            errors[name] = list(messages)
    merged = {**(context or {}), **loaded}
    hidden = set()
    for f in form.fields:                    # in form order: a field's visibility may depend on earlier ones
        if f.visible_if is not None and not f.visible_if.holds(merged):
            hidden.add(f.name)
            merged[f.name] = None
    broken = set(errors)                     # fields with a wrong value: rules depending on them wait
    for f in form.fields:
        if f.readonly or f.name in errors:
            continue
        if any(c is not None and c.field in broken for c in (f.visible_if, f.required_if)):
            continue
        if f.name in hidden:
            if not _blank(loaded.get(f.name)):
                errors[f.name] = [gettext(MESSAGES["hidden"])]
            continue
        chosen = loaded.get(f.name)
        for option in f.options:
            picked = option.value == chosen or (isinstance(chosen, list) and option.value in chosen)
            if picked and option.visible_if is not None and not option.visible_if.holds(merged):
                errors[f.name] = [gettext(MESSAGES["option_unavailable"])]
        if f.name in errors:
            continue
        needed = f.required or (f.required_if is not None and f.required_if.holds(merged))
        if needed and _blank(loaded.get(f.name)):
            errors[f.name] = [gettext(MESSAGES["required"])]
            continue
        value = loaded.get(f.name)
        problem = _membership(f, value, merged, lookups or {}, gettext)
        if problem:
            errors[f.name] = [problem]
            continue
        problem = _date_order(form, f, value, merged, lookups or {}, gettext)
        if problem:
            errors[f.name] = [problem]
            continue
        clashes = [(o, label) for o, label in f.differs_from if not _blank(value) and _same(value, merged.get(o))]
        if clashes:
            labels = [label or (form.field(o).label if form.field(o) else o) for o, label in clashes]
            errors[f.name] = [gettext(MESSAGES["differs"]) % {"other": "、".join(labels)}]
    for f in form.fields:
        if f.type == "group" and f.name not in errors and f.name not in hidden:
            loaded[f.name] = _group(f, loaded.get(f.name), merged, gettext, lookups, errors)
    if errors:
        raise InvalidInput(N_("The form has errors; see the messages next to the fields"), fields=errors)
    out = {}
    for f in form.fields:                    # every field of the form is set: hidden or empty ones to None
        if f.readonly:
            continue
        value = None if f.name in hidden else loaded.get(f.name)
        if value is None and f.name not in hidden:
            value = f.default
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        out[f.name] = value
    return out


def _group(f: Field, value, context: dict, gettext, lookups, errors: dict) -> list | None:
    """A group's answers: a list with one dict per item of ``context[f.repeat_for]``, in that order, each
    holding the item's key under ``f.item_key`` and the group's fields. Messages go to ``name.index.field``."""
    items = [i for i in (context.get(f.repeat_for) or []) if isinstance(i, dict)]
    if not items:
        return [] if value in (None, []) else _fail(errors, f.name, gettext(MESSAGES["group"]))
    if value is None:
        return _fail(errors, f.name, gettext(MESSAGES["required"]))
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return _fail(errors, f.name, gettext(MESSAGES["group"]))
    given = {}
    for answer in value:
        key = answer.get(f.item_key)
        if not isinstance(key, str) or key in given:
            return _fail(errors, f.name, gettext(MESSAGES["group"]))
        given[key] = answer
    keys = [str(i.get(f.item_key)) for i in items]
    if set(given) != set(keys):
        return _fail(errors, f.name, gettext(MESSAGES["group"]))
    sub = Form(key=f.name, title=f.label, fields=f.fields)
    out = []
    for index, key in enumerate(keys):
        answer = {k: v for k, v in given[key].items() if k != f.item_key}
        try:
            clean = validate(sub, answer, gettext, lookups, context)
        except InvalidInput as exc:
            for name, messages in (exc.fields or {}).items():
                errors[f"{f.name}.{index}.{name}"] = messages
            continue
        out.append({f.item_key: key, **clean})
    return out


def _fail(errors: dict, name: str, message: str) -> None:
    errors[name] = [message]
    return None
