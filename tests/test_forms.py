"""Every form in forms/: a valid submission passes; each required field missing and each wrong type gets
its own Chinese message; the definitions themselves are checked when loaded."""
from __future__ import annotations

import pytest

from engine.errors import InvalidInput
from forms import FormDefinitionError, default_registry, validate
from forms.definition import parse_form

REGISTRY = default_registry()
VALID = {"text": "文字", "long_text": "较长的说明文字", "number": 3.5, "integer": 3, "money": "1200.50",
         "date": "2026-03-02", "datetime": "2026-03-02T09:30", "yes_no": True, "unit": "lf.guan.scjg", "user": "guan_review", "files": ["a1"],
         "matter": "SJ-CF-001", "group": []}
WRONG = {"number": "三点五", "integer": "3.5", "money": "很多", "date": "昨天", "datetime": "2026-03-02", "yes_no": "也许",
         "choice": "nonsense", "multi_choice": ["nonsense"], "unit": "no.such.unit", "user": "nobody",
         "files": "not-a-list", "text": 12, "long_text": 12, "group": "not-a-list"}
LOOKUPS = {"unit": lambda c: c.startswith("lf."), "user": lambda u: u != "nobody"}


def valid_data(form) -> dict:
    data = {}
    for f in form.fields:
        if f.readonly:
            continue
        if f.type in ("choice", "multi_choice"):
            usable = [o.value for o in f.options if o.visible_if is None]
            data[f.name] = usable[0] if f.type == "choice" else usable[:1]
        elif f.type == "user":
            data[f.name] = f"user_{f.name}"          # distinct people where a form asks for several
        else:
            data[f.name] = VALID[f.type]
    return data


def context_for(form) -> dict:
    """Case data that makes every conditional option and field applicable."""
    ctx = {}
    for f in form.fields:
        for cond in [f.visible_if, f.required_if] + [o.visible_if for o in f.options]:
            if cond is not None and form.field(cond.field) is None:
                ctx[cond.field] = cond.values[0]
    return ctx


def visible(form, data, ctx):
    merged = {**ctx, **data}
    out = {}
    for f in form.fields:
        if f.visible_if is not None and not f.visible_if.holds(merged):
            merged[f.name] = None
            continue
        if f.name in data:
            out[f.name] = data[f.name]
    return out


@pytest.fixture
def tr(ctx):
    from flask_babel import force_locale, gettext
    with ctx.test_request_context(), force_locale("zh"):
        yield gettext


FORMS = sorted(REGISTRY.keys())


@pytest.mark.parametrize("key", FORMS)
def test_a_valid_submission_passes(key, tr):
    form = REGISTRY.get(key)
    ctx = context_for(form)
    data = visible(form, valid_data(form), ctx)
    out = validate(form, data, tr, LOOKUPS, ctx)
    assert set(out) == {f.name for f in form.fields if not f.readonly}


@pytest.mark.parametrize("key", FORMS)
def test_each_missing_required_field_has_its_own_message(key, tr):
    form = REGISTRY.get(key)
    ctx = context_for(form)
    base = visible(form, valid_data(form), ctx)
    required = [f for f in form.fields if f.required and f.name in base]
    for f in required:
        data = visible(form, {k: v for k, v in base.items() if k != f.name}, ctx)   # drop what depends on it
        with pytest.raises(InvalidInput) as err:
            validate(form, data, tr, LOOKUPS, ctx)
        assert err.value.fields == {f.name: ["此项为必填项。"]}, (key, f.name)


@pytest.mark.parametrize("key", FORMS)
def test_each_wrong_type_has_its_own_message(key, tr):
    form = REGISTRY.get(key)
    ctx = context_for(form)
    base = visible(form, valid_data(form), ctx)
    for f in form.fields:
        if f.name not in base or f.type not in WRONG:
            continue
        with pytest.raises(InvalidInput) as err:
            validate(form, {**base, f.name: WRONG[f.type]}, tr, LOOKUPS, ctx)
        assert list(err.value.fields) == [f.name], (key, f.name, err.value.fields)
        message = err.value.fields[f.name][0]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message   # Chinese


def test_conditional_rules(tr):
    form = REGISTRY.get("mdr_completeness")
    with pytest.raises(InvalidInput) as err:
        validate(form, {"package_complete": False}, tr, LOOKUPS, {})
    assert err.value.fields == {"missing_items": ["此项为必填项。"]}
    with pytest.raises(InvalidInput) as err:
        validate(form, {"package_complete": True, "missing_items": "x"}, tr, LOOKUPS, {})
    assert err.value.fields == {"missing_items": ["此项在当前情况下不适用，请留空。"]}
    assert validate(form, {"package_complete": True}, tr, LOOKUPS, {}) == {"package_complete": True,
                                                                           "missing_items": None}


def test_unknown_fields_and_typed_output(tr):
    form = REGISTRY.get("mdr_start")
    with pytest.raises(InvalidInput) as err:
        validate(form, {"is_major": True}, tr, LOOKUPS, {})
    assert err.value.fields["is_major"] == ["表单中没有此项。"]
    data = valid_data(form)
    out = validate(form, data, tr, LOOKUPS, {})
    assert out["amount"] == 1200.5 and out["filed_on"] == "2026-03-02"


def test_revisit_officers_must_be_two_people_who_did_not_handle_the_case(tr):
    form = REGISTRY.get("revisit_form")
    base = visible(form, valid_data(form), {})
    with pytest.raises(InvalidInput) as err:
        validate(form, {**base, "officer_1": "a", "officer_2": "a"}, tr, LOOKUPS, {"case_handler_list": ["h"]})
    assert list(err.value.fields) == ["officer_2"]
    with pytest.raises(InvalidInput) as err:
        validate(form, {**base, "officer_1": "h"}, tr, LOOKUPS, {"case_handler_list": ["h", "k"]})
    assert list(err.value.fields) == ["officer_1"]
    assert err.value.fields["officer_1"] == ["不能与以下人员或内容相同：办案人员。"]


def test_a_date_and_time_is_read_in_shanghai_time(tr):
    form = parse_form({"key": "x", "title": "X", "fields": [{"name": "found_at", "type": "datetime", "label": "发现时间"}]})
    for given in ("2026-03-13T08:00", "2026-03-13 08:00", "2026-03-13T00:00:00Z", "2026-03-13T08:00:00+08:00"):
        assert validate(form, {"found_at": given}, tr) == {"found_at": "2026-03-13T08:00:00+08:00"}, given
    for wrong in ("2026-03-13", "昨天早上", "2026-13-01T08:00", 20260313):
        with pytest.raises(InvalidInput) as err:
            validate(form, {"found_at": wrong}, tr)
        assert err.value.fields == {"found_at": ["请按 YYYY-MM-DD HH:MM 格式输入日期和时间。"]}, wrong
    with pytest.raises(InvalidInput) as err:
        validate(form, {"found_at": "1800-01-01T08:00"}, tr)
    assert err.value.fields == {"found_at": ["请输入 1900-01-01 至 2200-12-31 之间的日期。"]}


def test_a_user_field_may_require_a_role_at_the_unit_the_task_went_to(tr):
    form = REGISTRY.get("revisit_form")
    base = visible(form, valid_data(form), {})
    members = {("a", "revisit_officer", "u1"), ("b", "revisit_officer", "u1"), ("c", "revisit_officer", "u2")}
    lookups = {**LOOKUPS, "member": lambda user, role, unit: (user, role, unit) in members,
               "role_name": lambda code: {"revisit_officer": "回访人员"}[code], "unit_name": lambda code: "某局"}
    assert validate(form, {**base, "officer_1": "a", "officer_2": "b"}, tr, lookups, {"task_unit": "u1"})
    with pytest.raises(InvalidInput) as err:
        validate(form, {**base, "officer_1": "a", "officer_2": "c"}, tr, lookups, {"task_unit": "u1"})
    assert err.value.fields == {"officer_2": ["请选择某局的在岗回访人员。"]}
    with pytest.raises(InvalidInput) as err:               # a revisit officer who handled the case
        validate(form, {**base, "officer_1": "a", "officer_2": "b"}, tr, lookups,
                 {"task_unit": "u1", "case_handler_list": ["b"]})
    assert err.value.fields == {"officer_2": ["不能与以下人员或内容相同：办案人员。"]}
    with pytest.raises(FormDefinitionError):
        parse_form({"key": "x", "title": "X", "fields": [{"name": "a", "type": "text", "label": "A",
                                                          "user_role": "handler"}]})


def test_broken_definitions_are_refused():
    with pytest.raises(FormDefinitionError):
        parse_form({"key": "x", "title": "X", "fields": [{"name": "a", "type": "colour", "label": "A"}]})
    with pytest.raises(FormDefinitionError):
        parse_form({"key": "x", "title": "X", "fields": [{"name": "a", "type": "choice", "label": "A"}]})
    with pytest.raises(FormDefinitionError):
        parse_form({"key": "x", "title": "X", "include": ["nope"]})


def test_a_unit_field_may_accept_only_some_kinds_of_unit(client, token):
    """Referrals go to units that handle cases (departments, teams, police, governments), not to the 编办."""
    from tests.procedures import CASE
    data = {**CASE, "referral_target": "lf.guan.bb", "referral_kind": "ordinary", "referral_reason": "x",
            "found_at": "2026-03-09T09:00"}
    resp = client.post("/api/instances", headers=token("guan_scjg_handler"),
                       json={"process_key": "case_referral", "data": data})
    assert resp.status_code == 422 and resp.get_json()["fields"] == {"referral_target": ["此处不能选择该单位。"]}
    resp = client.post("/api/instances", headers=token("guan_scjg_handler"),
                       json={"process_key": "case_referral", "data": {**data, "referral_target": "lf.guan.yjgl"}})
    assert resp.status_code == 201
