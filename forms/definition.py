"""What a form definition holds, read from YAML and checked when loaded."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

FIELD_TYPES = ("text", "long_text", "number", "integer", "money", "date", "datetime", "choice", "multi_choice",
               "yes_no", "unit", "user", "files", "group",
               "matter")   # matter: a 事项编码 of the unit's published 事项清单
# a ``group`` repeats its ``fields`` once per item of the list the case variable ``repeat_for`` holds (e.g. once
# per enforcement unit of a contact point); items are dicts, ``item_key`` names the key that identifies one
# (default ``code``) and ``item_label`` the one shown as its heading (default ``name``)
GROUP_FIELD_TYPES = ("text", "long_text", "number", "integer", "choice", "yes_no", "date")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class FormDefinitionError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    """``field`` equals ``equals`` (or is one of ``in``)."""
    field: str
    values: tuple

    def holds(self, data: dict) -> bool:
        return data.get(self.field) in self.values

    @staticmethod
    def parse(raw, form_key: str, name: str) -> "Condition | None":
        if raw is None:
            return None
        if not isinstance(raw, dict) or "field" not in raw or not ({"equals", "in"} & set(raw)):
            raise FormDefinitionError(f"{form_key}.{name}: a condition needs field and equals/in")
        values = tuple(raw["in"]) if "in" in raw else (raw["equals"],)
        return Condition(raw["field"], values)


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    label_en: str | None = None
    visible_if: Condition | None = None     # the option may only be chosen while this holds


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str
    label_en: str | None = None
    help: str | None = None
    help_en: str | None = None
    required: bool = False
    required_if: Condition | None = None
    visible_if: Condition | None = None
    options: tuple[Option, ...] = ()
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    default: object = None
    readonly: bool = False        # shown from case data, never taken from a submission
    differs_from: tuple[tuple[str, str | None], ...] = ()   # (field or case variable, label) it must not equal
    unit_scope: str | None = None   # unit fields: "supervised" = the user's own unit or a unit the user supervises
    user_role: str | None = None    # user fields: the person chosen is active and holds this role (role code) …
    user_unit: str | None = None    # … at the unit this case variable names (case_unit; task_unit = the unit the
                                    # task was routed to); any unit when unset
    unit_kinds: tuple[str, ...] = ()   # unit fields: only units of these kinds (e.g. who may receive a referral)
    after: tuple[tuple[str, str | None], ...] = ()   # date fields: (field or case variable, label) it may not precede
    not_past: bool = False          # date fields: not before today (Asia/Shanghai)
    keep_on_repeat: bool = False    # when the step comes round again, start from the earlier round's value
    shown_as: str | None = None     # text fields: "users" = comma-separated user names, shown as people's names
    repeat_for: str | None = None      # group fields: the case variable holding the items
    item_key: str = "code"
    item_label: str = "name"
    fields: tuple["Field", ...] = ()   # group fields: the fields asked once per item


@dataclass(frozen=True)
class Show:
    """One piece of earlier case data a step shows above its form: the case variable ``field`` (labelled and
    formatted as that field of ``form`` when given, else as ``type``), or — without ``field`` — every field
    of ``form``. ``heading`` groups what follows it."""
    field: str | None = None
    form: str | None = None
    label: str | None = None
    label_en: str | None = None
    type: str = "text"
    heading: str | None = None
    heading_en: str | None = None


@dataclass(frozen=True)
class Issue:
    """An official document (engine.documents.KINDS) the step issues when its form is accepted — while
    ``when`` holds for the submitted data (e.g. not when the reviewer only asks for an extension)."""
    document: str
    when: Condition | None = None
    number_field: str | None = None     # the form's field that receives the document's 文号 (e.g. letter_number)


@dataclass(frozen=True)
class Form:
    key: str
    title: str
    title_en: str | None = None
    description: str | None = None
    fields: tuple[Field, ...] = field(default_factory=tuple)
    shows: tuple[Show, ...] = ()              # earlier case data shown above the form (the step acts on it)
    case_name: str | None = None              # start forms: a readable name for a case without a case number,
                                              # e.g. "{round_name}" (fields shown as the form shows them)
    issues: tuple[Issue, ...] = ()

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def _option(raw, where: str) -> Option:
    if isinstance(raw, str):
        return Option(raw, raw)
    if isinstance(raw, dict) and "value" in raw:
        return Option(str(raw["value"]), raw.get("label", str(raw["value"])), raw.get("label_en"),
                      Condition.parse(raw.get("visible_if"), where, str(raw["value"])))
    raise FormDefinitionError(f"{where}: an option is a string or {{value, label}}")


def parse_form(raw: dict, source: str = "?", included: dict[str, "Form"] | None = None) -> Form:
    """Parse one definition. ``include: [other_key, ...]`` puts another form's fields first (e.g. the case
    basics every procedure shares). Conditions may name a field of the form or a case-data variable."""
    if not isinstance(raw, dict) or not raw.get("key") or not raw.get("title"):
        raise FormDefinitionError(f"{source}: a form needs key and title")
    key = raw["key"]
    fields, names = [], set()
    for other in raw.get("include") or []:
        if not included or other not in included:
            raise FormDefinitionError(f"{source}: included form {other} is unknown")
        for f in included[other].fields:
            fields.append(f)
            names.add(f.name)
    for f in raw.get("fields") or []:
        name = f.get("name", "")
        where = f"{key}.{name or '?'}"
        if not _NAME.match(name) or name in names:
            raise FormDefinitionError(f"{where}: field names are unique snake_case identifiers")
        if f.get("type") not in FIELD_TYPES:
            raise FormDefinitionError(f"{where}: type must be one of {', '.join(FIELD_TYPES)}")
        if not f.get("label"):
            raise FormDefinitionError(f"{where}: a field needs a label")
        options = tuple(_option(o, where) for o in f.get("options") or ())
        if f["type"] in ("choice", "multi_choice") and not options:
            raise FormDefinitionError(f"{where}: a choice needs options")
        if f.get("unit_scope") not in (None, "supervised") or (f.get("unit_scope") and f["type"] != "unit"):
            raise FormDefinitionError(f"{where}: unit_scope is 'supervised', on a unit field")
        if (f.get("user_role") or f.get("user_unit")) and (f["type"] != "user" or not f.get("user_role")):
            raise FormDefinitionError(f"{where}: user_role (and user_unit) belong on a user field")
        kinds = f.get("unit_kinds") or ()
        if kinds and (f["type"] != "unit" or not isinstance(kinds, list)
                      or not all(isinstance(k, str) and k for k in kinds)):
            raise FormDefinitionError(f"{where}: unit_kinds is a list of unit kinds, on a unit field")
        sub_fields: tuple = ()
        if f["type"] == "group":
            if not isinstance(f.get("repeat_for"), str) or not f.get("repeat_for") or not f.get("fields"):
                raise FormDefinitionError(f"{where}: a group needs repeat_for (a case variable) and fields")
            sub = parse_form({"key": f"{key}.{name}", "title": f["label"], "fields": f["fields"]}, source)
            bad = [s.name for s in sub.fields if s.type not in GROUP_FIELD_TYPES]
            if bad:
                raise FormDefinitionError(f"{where}: a group's fields are of type {', '.join(GROUP_FIELD_TYPES)}")
            sub_fields = sub.fields
        elif f.get("repeat_for") or f.get("fields"):
            raise FormDefinitionError(f"{where}: repeat_for and fields belong on a group field")
        names.add(name)
        fields.append(Field(
            name=name, type=f["type"], label=f["label"], label_en=f.get("label_en"), help=f.get("help"),
            help_en=f.get("help_en"), required=bool(f.get("required", False)),
            required_if=Condition.parse(f.get("required_if"), key, name),
            visible_if=Condition.parse(f.get("visible_if"), key, name), options=options, min=f.get("min"),
            max=f.get("max"), max_length=f.get("max_length"), default=f.get("default"),
            readonly=bool(f.get("readonly", False)), unit_scope=f.get("unit_scope"), unit_kinds=tuple(kinds),
            user_role=f.get("user_role"), user_unit=f.get("user_unit"), repeat_for=f.get("repeat_for"),
            item_key=str(f.get("item_key") or "code"), item_label=str(f.get("item_label") or "name"),
            fields=sub_fields,
            differs_from=tuple((d["name"], d.get("label")) if isinstance(d, dict) else (d, None)
                               for d in f.get("differs_from") or ()),
            after=_after(f.get("after"), f["type"], where), not_past=_not_past(f.get("not_past"), f["type"], where),
            keep_on_repeat=bool(f.get("keep_on_repeat", False)), shown_as=_shown_as(f.get("shown_as"), where)))
    case_name = raw.get("case_name")
    if case_name is not None and not isinstance(case_name, str):
        raise FormDefinitionError(f"{source}: case_name is a text with {{field}} places")
    return Form(key=key, title=raw["title"], title_en=raw.get("title_en"), description=raw.get("description"),
                fields=tuple(fields), shows=_shows(raw.get("shows"), key), case_name=case_name,
                issues=_issues(raw.get("issues"), key, names))


def _after(raw, type_: str, where: str) -> tuple[tuple[str, str | None], ...]:
    """``after: other`` / ``after: [a, {name: b, label: …}]``: a date (or date-time) not before those."""
    if raw is None:
        return ()
    if type_ not in ("date", "datetime"):
        raise FormDefinitionError(f"{where}: after belongs on a date or datetime field")
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        name, label = (item.get("name"), item.get("label")) if isinstance(item, dict) else (item, None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise FormDefinitionError(f"{where}: after names a field or case variable")
        out.append((name, label))
    return tuple(out)


def _shown_as(raw, where: str) -> str | None:
    if raw not in (None, "users"):
        raise FormDefinitionError(f"{where}: shown_as is 'users'")
    return raw


def _not_past(raw, type_: str, where: str) -> bool:
    if raw and type_ not in ("date", "datetime"):
        raise FormDefinitionError(f"{where}: not_past belongs on a date or datetime field")
    return bool(raw)


def _shows(raw, key: str) -> tuple[Show, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise FormDefinitionError(f"{key}: shows is a list")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not ({"field", "form", "heading"} & set(item)):
            raise FormDefinitionError(f"{key}: each entry of shows names a field, a form or a heading")
        name = item.get("field")
        if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
            raise FormDefinitionError(f"{key}: shows: {name!r} is not a field name")
        type_ = item.get("type", "text")
        if type_ not in FIELD_TYPES:
            raise FormDefinitionError(f"{key}: shows {name}: type must be one of {', '.join(FIELD_TYPES)}")
        if name is not None and not item.get("form") and not item.get("label"):
            raise FormDefinitionError(f"{key}: shows {name}: a field without its form needs a label")
        out.append(Show(field=name, form=item.get("form"), label=item.get("label"), label_en=item.get("label_en"),
                        type=type_, heading=item.get("heading"), heading_en=item.get("heading_en")))
    return tuple(out)


def check_shows(forms: dict[str, Form]) -> None:
    """Every form a ``shows`` entry names exists and has the field named."""
    for form in forms.values():
        for show in form.shows:
            if show.form is None:
                continue
            other = forms.get(show.form)
            if other is None:
                raise FormDefinitionError(f"{form.key}: shows names the unknown form {show.form}")
            if show.field is not None and other.field(show.field) is None:
                raise FormDefinitionError(f"{form.key}: shows: form {show.form} has no field {show.field}")



def _issues(raw, key: str, names: set[str]) -> tuple[Issue, ...]:
    """``issues: [review_opinion]`` or ``issues: [{document: review_opinion, when: {field: …, equals: …},
    number_field: …}]`` (number_field: a text field of the form the 文号 is written into)."""
    from engine.documents import KINDS
    out = []
    for item in raw or ():
        if isinstance(item, str):
            item = {"document": item}
        if not isinstance(item, dict) or item.get("document") not in KINDS:
            raise FormDefinitionError(f"{key}.issues: each entry names a document kind, one of {', '.join(KINDS)}")
        if item.get("number_field") is not None and item["number_field"] not in names:
            raise FormDefinitionError(f"{key}.issues: number_field {item['number_field']} is not a field of the form")
        out.append(Issue(item["document"], Condition.parse(item.get("when"), key, "issues"),
                         item.get("number_field")))
    return tuple(out)


def load_definitions(directory: str) -> dict[str, Form]:
    raw: dict[str, tuple[str, dict]] = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith((".yaml", ".yml")):
            path = os.path.join(directory, name)
            with open(path, encoding="utf-8") as fh:
                raw[name] = (path, yaml.safe_load(fh))
    forms: dict[str, Form] = {}
    pending = dict(raw)
    while pending:                       # forms that include others are parsed after them
        progressed = False
        for name, (path, doc) in list(pending.items()):
            if not all(i in forms for i in (doc or {}).get("include") or []):
                continue
            _add(forms, name, path, parse_form(doc, path, forms))
            del pending[name]
            progressed = True
        if not progressed:
            raise FormDefinitionError(f"unresolvable include in {', '.join(sorted(pending))}")
    return forms


def _add(forms: dict[str, Form], name: str, path: str, form: Form) -> None:
    if form.key in forms:
        raise FormDefinitionError(f"{path}: form key {form.key} defined twice")
    if os.path.splitext(name)[0] != form.key:
        raise FormDefinitionError(f"{path}: the file name must be the form key {form.key}")
    forms[form.key] = form
