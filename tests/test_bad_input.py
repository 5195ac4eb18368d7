"""No 500 for bad input (issue "Hardening", point 5): hostile or absurd request values — deep or huge JSON,
numbers without bounds, ids that are not ids, dates at the ends of the calendar, years nobody means —
get a 4xx with a message in the user's language (Chinese by default), and nothing is stored.

Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (integer overflow differs between the two)."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from engine.errors import InvalidInput
from engine.models import AuditEvent, Comment, ProcessInstance
from web.extensions import db

from .procedures import CASE
from .test_pages import csrf, sign_in

HANDLER = "guan_guanzhen_handler"        # starts two_lane_review (no start form)
MDR_HANDLER = "guan_scjg_handler"         # starts major_decision_review (start form with money, date)
SUP = "guan_sup"                          # supervision officer: /api/messages, /api/timers, dashboard
HUGE = "9" * 23                           # beyond 64 bits
BIG64 = str(2 ** 63)                      # one past the largest signed 64-bit integer
BIG32 = str(2 ** 31)                      # one past PostgreSQL's INTEGER
CJK = re.compile(r"[\u4e00-\u9fff]")
MAJOR = {**CASE, "summary": "案情", "amount": 200000, "filed_on": "2026-05-20"}
CLUE = {"case_number": "12345-1", "case_unit": "lf.guan.scjg"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def raw_start(data_json: str, process_key: str = "two_lane_review") -> str:
    return '{"process_key": "%s", "business_key": "BAD-1", "data": %s}' % (process_key, data_json)


# (id, who, method, path, body, expected status(es)). body: dict/list → JSON, str → raw JSON text,
# ("form", dict) → a posted page form with the session's CSRF token. "{task}" and "{case}" are filled in
# with an open task and its case; who=None is anonymous, a name starting with "page:" signs in a session.
API_CASES = [
    # -- JSON at the edge: depth, size, count, syntax --------------------------------------------------
    ("login-deep", None, "POST", "/api/session", '{"username": %s, "password": "x"}' % nested(5000), 400),
    ("login-unparsable", None, "POST", "/api/session", '{"username": "a", ', 400),
    ("login-nan", None, "POST", "/api/session", '{"username": NaN, "password": "x"}', 400),
    ("start-deep", HANDLER, "POST", "/api/instances", raw_start(nested(5000)), 400),
    ("start-deep-object", HANDLER, "POST", "/api/instances", raw_start('{"a":' * 3000 + "1" + "}" * 3000), 400),
    ("start-unparsable", HANDLER, "POST", "/api/instances", '{"process_key": "two_lane_review"', 400),
    ("start-too-big", HANDLER, "POST", "/api/instances", raw_start(json.dumps({"note": "x" * 1_100_000})), 413),
    ("start-100k-keys", HANDLER, "POST", "/api/instances",
     {"process_key": "two_lane_review", "data": {f"k{i}": i for i in range(100_000)}}, (400, 413)),
    ("start-100k-items", HANDLER, "POST", "/api/instances",
     {"process_key": "two_lane_review", "data": {"items": list(range(100_000))}}, 400),
    ("start-infinity", HANDLER, "POST", "/api/instances", raw_start('{"amount": Infinity}'), 400),
    ("complete-deep", HANDLER, "POST", "/api/tasks/{task}/complete", '{"data": %s}' % nested(5000), 400),
    ("complete-unparsable", HANDLER, "POST", "/api/tasks/{task}/complete", "not json", 400),
    ("message-deep", SUP, "POST", "/api/messages", '{"name": "revisit_clue", "payload": %s}' % nested(5000), 400),
    ("calendar-deep", "admin", "PUT", "/api/calendar/days/2026-10-09", '{"is_workday": %s}' % nested(5000), 400),
    # -- data: numbers, unit codes ----------------------------------------------------------------------
    ("start-1e30", HANDLER, "POST", "/api/instances", raw_start('{"amount": 1e30}'), 422),
    ("start-5000-digits", HANDLER, "POST", "/api/instances", raw_start('{"amount": %s}' % ("7" * 5000)), 422),
    ("start-20-digits", HANDLER, "POST", "/api/instances", raw_start('{"amount": %s}' % ("7" * 20)), 422),
    ("start-money-1e30", MDR_HANDLER, "POST", "/api/instances",
     {"process_key": "major_decision_review", "data": {**MAJOR, "amount": 1e30}}, 422),
    ("start-money-1e13", MDR_HANDLER, "POST", "/api/instances",
     {"process_key": "major_decision_review", "data": {**MAJOR, "amount": 1e13}}, 422),
    ("start-money-string-1e30", MDR_HANDLER, "POST", "/api/instances",
     {"process_key": "major_decision_review", "data": {**MAJOR, "amount": "1e30"}}, 422),
    ("start-date-year-1", MDR_HANDLER, "POST", "/api/instances",
     {"process_key": "major_decision_review", "data": {**MAJOR, "filed_on": "0001-01-01"}}, 422),
    ("start-date-year-9999", MDR_HANDLER, "POST", "/api/instances",
     {"process_key": "major_decision_review", "data": {**MAJOR, "filed_on": "9999-12-31"}}, 422),
    ("start-form-1500-unknown", MDR_HANDLER, "POST", "/api/instances",
     {"process_key": "major_decision_review", "data": {**MAJOR, **{f"x{i}": 1 for i in range(1500)}}}, 422),
    ("start-case-unit-list", HANDLER, "POST", "/api/instances",
     {"process_key": "two_lane_review", "data": {"case_unit": ["x"]}}, 422),
    ("start-case-unit-list-admin", "admin", "POST", "/api/instances",
     {"process_key": "two_lane_review", "data": {"case_unit": ["x"]}}, 422),
    ("start-case-unit-object-admin", "admin", "POST", "/api/instances",
     {"process_key": "two_lane_review", "data": {"case_unit": {"code": "lf"}}}, 422),
    ("start-case-unit-number-admin", "admin", "POST", "/api/instances",
     {"process_key": "two_lane_review", "data": {"case_unit": 5}}, 422),
    ("start-unit-field-list", MDR_HANDLER, "POST", "/api/instances",
     {"process_key": "case_referral", "data": {**CASE, "referral_target": ["lf.guan.gaj"], "referral_kind": "ordinary",
                                               "referral_reason": "无管辖权", "found_at": "2026-05-20T09:00"}}, 422),
    ("message-case-unit-list", SUP, "POST", "/api/messages",
     {"name": "revisit_clue", "payload": {"case_number": "12345-1", "case_unit": ["x"]}}, 422),
    ("message-case-unit-object", SUP, "POST", "/api/messages",
     {"name": "revisit_clue", "payload": {"case_number": "12345-1", "case_unit": {"a": 1}}}, 422),
    ("message-case-number-list", SUP, "POST", "/api/messages",
     {"name": "revisit_clue", "payload": {"case_number": [1], "case_unit": "lf.guan.scjg"}}, 422),
    ("message-business-key-long", SUP, "POST", "/api/messages",
     {"name": "revisit_clue", "payload": {**CLUE, "business_key": "B" * 500}}, 422),
    ("message-business-key-list", SUP, "POST", "/api/messages",
     {"name": "revisit_clue", "payload": {**CLUE, "business_key": [1]}}, 422),
    ("message-huge-number", SUP, "POST", "/api/messages",
     '{"name": "revisit_clue", "payload": {"case_number": "1", "case_unit": "lf.guan.scjg", "n": %s}}' % ("1" * 5000),
     422),
    ("complete-1e30", HANDLER, "POST", "/api/tasks/{task}/complete", '{"data": {"amount": 1e30}}', 422),
    ("complete-5000-digits", HANDLER, "POST", "/api/tasks/{task}/complete",
     '{"data": {"amount": %s}}' % ("3" * 5000), 422),
    ("complete-data-list", HANDLER, "POST", "/api/tasks/{task}/complete", {"data": [1, 2]}, 422),
    ("login-username-list", None, "POST", "/api/session", {"username": ["a"], "password": "x"}, 422),
    ("delegate-username-number", HANDLER, "POST", "/api/tasks/{task}/delegate", {"username": 10 ** 30}, 422),
    ("body-is-a-list", HANDLER, "POST", "/api/instances", [1, 2, 3], 422),
    # -- ids in paths ------------------------------------------------------------------------------------
    ("instance-abc", HANDLER, "GET", "/api/instances/abc", None, 404),
    ("instance-huge", HANDLER, "GET", f"/api/instances/{HUGE}", None, 404),
    ("instance-2^63", HANDLER, "GET", f"/api/instances/{BIG64}", None, 404),
    ("instance-2^31", HANDLER, "GET", f"/api/instances/{BIG32}", None, 404),
    ("instance-zero", HANDLER, "GET", "/api/instances/0", None, 404),
    ("notification-huge", HANDLER, "POST", f"/api/notifications/{HUGE}/read", None, 404),
    ("notification-2^31", HANDLER, "POST", f"/api/notifications/{BIG32}/read", None, 404),
    ("task-xyz", HANDLER, "GET", "/api/tasks/xyz", None, 404),
    ("task-xyz-claim", HANDLER, "POST", "/api/tasks/xyz/claim", None, 404),
    ("task-long", HANDLER, "GET", "/api/tasks/" + "a" * 5000, None, 404),
    ("task-dotdot", HANDLER, "GET", "/api/tasks/../x", None, 404),
    ("migrations-from-huge", "designer", "GET", f"/api/designer/two_lane_review/migrations?from={HUGE}", None, 404),
    ("migrate-bad-ids", "designer", "POST", "/api/designer/two_lane_review/migrations",
     {"instances": ["abc", 10 ** 20, [1], {"a": 1}]}, 422),
    # -- calendar years and dates ------------------------------------------------------------------------
    ("calendar-0", "admin", "GET", "/api/calendar/0", None, (404, 422)),
    ("calendar-99999", "admin", "GET", "/api/calendar/99999", None, (404, 422)),
    ("calendar-huge", "admin", "GET", f"/api/calendar/{HUGE}", None, (404, 422)),
    ("calendar-year-0", "admin", "PUT", "/api/calendar/years/0", {"days": []}, (404, 422)),
    ("calendar-year-99999", "admin", "PUT", "/api/calendar/years/99999", {"days": []}, (404, 422)),
    ("calendar-year-1800", "admin", "PUT", "/api/calendar/years/1800", {"days": []}, (404, 422)),
    ("calendar-day-1", "admin", "PUT", "/api/calendar/days/0001-01-01", {"is_workday": True}, 422),
    ("calendar-day-9999", "admin", "PUT", "/api/calendar/days/9999-12-31", {"is_workday": True}, 422),
    ("calendar-day-junk", "admin", "PUT", "/api/calendar/days/tomorrow", {"is_workday": True}, 422),
    ("timers-due-0001", SUP, "GET", "/api/timers?due_before=0001-01-01T00:00:00%2B08:00", None, (200, 422)),
    ("timers-due-9999", SUP, "GET", "/api/timers?due_before=9999-12-31T23:59:59-08:00", None, (200, 422)),
    ("timers-due-junk", SUP, "GET", "/api/timers?due_before=soon", None, 422),
    ("timers-due-naive", SUP, "GET", "/api/timers?due_before=2026-06-01T00:00:00", None, 422),
    # -- paging and listing arguments --------------------------------------------------------------------
    ("tasks-paging", HANDLER, "GET", f"/api/tasks?page={HUGE}&per_page=-5", None, 200),
    ("tasks-scope-junk", HANDLER, "GET", "/api/tasks?scope=everything", None, (400, 422)),
]

PAGE_CASES = [
    ("page-case-abc", "GET", "/cases/abc", None, 404),
    ("page-case-10^20", "GET", "/cases/" + str(10 ** 20), None, 404),
    ("page-case-2^31", "GET", f"/cases/{BIG32}", None, 404),
    ("page-diagram-huge", "GET", f"/cases/{HUGE}/diagram.bpmn", None, 404),
    ("page-comment-huge", "POST", f"/cases/{HUGE}/comments", ("form", {"text": "x"}), 404),
    ("page-comment-bad-task", "POST", "/cases/{case}/comments", ("form", {"text": "x", "task_id": "t" * 500}),
     (302, 404, 422)),
    ("page-notification-huge", "POST", f"/notifications/{HUGE}/open", ("form", {}), 404),
    ("page-task-xyz", "GET", "/tasks/xyz", None, 404),
    ("page-task-dotdot", "GET", "/tasks/../x", None, 404),
    ("page-task-claim-xyz", "POST", "/tasks/xyz/claim", ("form", {}), 404),
    ("page-task-complete-long", "POST", "/tasks/" + "b" * 300 + "/complete", ("form", {}), 404),
    ("page-document-long", "GET", "/documents/" + "d" * 300, None, 404),
    ("page-inbox-page-huge", "GET", "/?page=" + str(10 ** 20), None, 200),
    ("page-inbox-page-negative", "GET", "/?page=-3", None, 200),
    ("page-inbox-page-5000-digits", "GET", "/?page=" + "9" * 5000, None, (200, 400, 422)),
    ("page-inbox-from-0001", "GET", "/?tab=done&from=0001-01-01", None, (200, 400, 422)),
    ("page-inbox-to-9999", "GET", "/?tab=done&to=9999-12-31", None, (200, 400, 422)),
    ("page-inbox-from-9999", "GET", "/?from=9999-12-31&to=0001-01-01", None, (200, 400, 422)),
    ("page-start-long-business-key", "POST", "/start/major_decision_review",
     ("form", {**{k: str(v) for k, v in MAJOR.items()}, "business_key": "K" * 500}), 422),
    ("page-start-money-1e30", "POST", "/start/major_decision_review",
     ("form", {**{k: str(v) for k, v in MAJOR.items()}, "amount": "1e30"}), 422),
    ("page-start-money-huge-digits", "POST", "/start/major_decision_review",
     ("form", {**{k: str(v) for k, v in MAJOR.items()}, "amount": "9" * 5000}), 422),
    ("page-start-date-0001", "POST", "/start/major_decision_review",
     ("form", {**{k: str(v) for k, v in MAJOR.items()}, "filed_on": "0001-01-01"}), 422),
]

SUPERVISOR_PAGE_CASES = [
    ("dashboard-from-0001", "GET", "/dashboard?from=0001-01-01&to=9999-12-31", None, (200, 400, 422)),
    ("dashboard-to-9999", "GET", "/dashboard?to=9999-12-31", None, (200, 400, 422)),
    ("dashboard-export-0001", "GET", "/dashboard/export/units.xlsx?from=0001-01-01", None, (200, 400, 422)),
    ("dashboard-paging", "GET", f"/dashboard?page={HUGE}&per_page=-1", None, 200),
]

DESIGNER_PAGE_CASES = [
    ("modeler-version-huge", "GET", f"/designer/modeler?key=two_lane_review&version={HUGE}", None, 404),
    ("dmn-file-huge", "GET", f"/designer/dmn?file={HUGE}", None, 404),
    ("dmn-file-2^31", "GET", f"/designer/dmn?file={BIG32}", None, 404),
    ("diff-huge", "GET", f"/designer/two_lane_review/diff?a={HUGE}&b=1", None, 404),
    ("migrate-from-huge", "GET", f"/designer/two_lane_review/migrate?from={HUGE}", None, 404),
    ("source-huge", "GET", f"/designer/definitions/{HUGE}/source.bpmn", None, 404),
    ("download-huge", "GET", f"/designer/definitions/{BIG64}/x.bpmn", None, 404),
    ("migrate-post-huge", "POST", "/designer/two_lane_review/migrate?from=1", ("form", {"instance": HUGE}), 302),
    ("migrate-post-abc", "POST", "/designer/two_lane_review/migrate?from=1", ("form", {"instance": "abc"}), 302),
]


def _counts() -> tuple[int, int, int]:
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(ProcessInstance)),
            db.session.scalar(select(func.count()).select_from(AuditEvent)),
            db.session.scalar(select(func.count()).select_from(Comment)))


def _open_task(client, token) -> dict:
    resp = client.post("/api/instances", headers=token(HANDLER),
                       json={"process_key": "two_lane_review", "business_key": "OK-1", "data": {"title": "无照经营"}})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["open_tasks"][0]


def _send(client, method: str, path: str, body, headers: dict | None = None):
    kwargs = {"headers": headers or {}}
    if isinstance(body, str):
        kwargs.update(data=body.encode(), content_type="application/json")
    elif isinstance(body, tuple) and body[0] == "form":
        kwargs["data"] = {"csrf_token": csrf(client.get("/profile")), **body[1]}
    elif body is not None:
        kwargs["json"] = body
    return client.open(path, method=method, **kwargs)


def _expect(resp, expected, case_id: str) -> None:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert resp.status_code in allowed, (case_id, resp.status_code, resp.get_data(as_text=True)[:500])


def _assert_chinese_json(resp, case_id: str) -> None:
    body = resp.get_json()
    assert isinstance(body, dict) and CJK.search(body.get("message", "")), (case_id, resp.get_data(as_text=True)[:500])
    assert len(resp.get_data()) < 20_000, (case_id, len(resp.get_data()))      # no echo of the input's errors


def _assert_chinese_page(resp, case_id: str) -> None:
    page = resp.get_data(as_text=True)
    assert 'class="card narrow"' in page, (case_id, page[:500])            # the app's own error page
    message = re.search(r'<section class="card narrow">.*?<p>(.*?)</p>', page, re.S)
    assert message and CJK.search(message.group(1)), (case_id, page[:800])


@pytest.mark.parametrize("case_id,who,method,path,body,expected", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(client, token, case_id, who, method, path, body, expected):
    if "{task}" in path:
        path = path.replace("{task}", _open_task(client, token)["id"])
    before = _counts()
    resp = _send(client, method, path, body, token(who) if who else {})
    _expect(resp, expected, case_id)
    if resp.status_code >= 400:
        _assert_chinese_json(resp, case_id)
    assert _counts() == before, case_id


@pytest.mark.parametrize("case_id,method,path,body,expected", PAGE_CASES, ids=[c[0] for c in PAGE_CASES])
def test_page_bad_input(client, token, case_id, method, path, body, expected):
    if "{case}" in path:
        path = path.replace("{case}", str(_open_task(client, token)["instance_id"]))
    sign_in(client, MDR_HANDLER if path.startswith("/start/") else HANDLER)
    before = _counts()
    resp = _send(client, method, path, body)
    _expect(resp, expected, case_id)
    if resp.status_code in (400, 404) or (resp.status_code == 422 and not path.startswith("/start/")):
        _assert_chinese_page(resp, case_id)
    if resp.status_code == 422 and path.startswith("/start/"):          # the form again, with the messages
        assert CJK.search(resp.get_data(as_text=True))
    assert _counts() == before, case_id


@pytest.mark.parametrize("case_id,method,path,body,expected", SUPERVISOR_PAGE_CASES,
                         ids=[c[0] for c in SUPERVISOR_PAGE_CASES])
def test_supervisor_page_bad_input(client, case_id, method, path, body, expected):
    sign_in(client, SUP)
    resp = _send(client, method, path, body)
    _expect(resp, expected, case_id)
    if resp.status_code >= 400:
        _assert_chinese_page(resp, case_id)


@pytest.mark.parametrize("case_id,method,path,body,expected", DESIGNER_PAGE_CASES,
                         ids=[c[0] for c in DESIGNER_PAGE_CASES])
def test_designer_page_bad_input(client, case_id, method, path, body, expected):
    sign_in(client, "designer")
    before = _counts()
    resp = _send(client, method, path, body)
    _expect(resp, expected, case_id)
    if resp.status_code >= 400:
        _assert_chinese_page(resp, case_id)
    assert _counts() == before, case_id


# -- the same mechanisms, looked at one by one ---------------------------------------------------------------

def test_capped_error_list_and_translated_schema_messages(client, token):
    resp = client.post("/api/instances", headers=token(MDR_HANDLER), json={
        "process_key": "major_decision_review", "data": {**MAJOR, **{f"x{i}": 1 for i in range(1500)}}})
    fields = resp.get_json()["fields"]
    assert resp.status_code == 422 and len(fields) == 21 and "1480" in fields["_more"][0]
    assert all(CJK.search(m) for ms in fields.values() for m in ms)
    resp = client.post("/api/session", json={"username": ["a"], "password": ""})
    assert resp.get_json()["fields"] == {"username": ["应为文本。"], "password": ["请输入 1 至 256 个字符。"]}
    resp = client.post("/api/instances", headers=token("admin"),
                       json={"process_key": "two_lane_review", "data": {"case_unit": ["lf"]}})
    assert resp.get_json()["fields"] == {"data": {"case_unit": ["请选择已有的单位。"]}}
    resp = client.post("/api/designer/two_lane_review/migrations", headers=token("designer"),
                       json={"instances": ["abc", 10 ** 20]})
    assert resp.status_code == 422 and set(resp.get_json()["fields"]["instances"]) == {"0", "1"}


def test_limits_are_configurable_and_the_engine_bounds_data_too(ctx, client, token):
    """With the edge's limits raised, a 100,000-key start still is not stored: check_data refuses it, briefly."""
    before = _counts()
    saved = {k: ctx.config[k] for k in ("JSON_MAX_BYTES", "JSON_MAX_ITEMS")}
    ctx.config.update(JSON_MAX_BYTES=8 * 1024 * 1024, JSON_MAX_ITEMS=10 ** 6)
    try:
        resp = client.post("/api/instances", headers=token(HANDLER), json={
            "process_key": "two_lane_review", "data": {f"k{i}": i for i in range(100_000)}})
        assert resp.status_code == 422 and "最多 2000 个" in resp.get_json()["message"]
        assert len(resp.get_data()) < 1000
        ctx.config["JSON_MAX_ITEMS"] = 10
        resp = client.post("/api/instances", headers=token(HANDLER), json={
            "process_key": "two_lane_review", "data": {f"k{i}": i for i in range(11)}})
        assert resp.status_code == 400 and "最多 10 个" in resp.get_json()["message"]
    finally:
        ctx.config.update(saved)
    assert _counts() == before
    # one view takes a larger body: a diagram to validate may be up to the deployment limit
    resp = client.post("/api/designer/validate", headers=token("designer"),
                       json={"filename": "big.bpmn", "xml": "<x/>" + " " * 1_500_000})
    assert resp.status_code == 200 and resp.get_json()["ok"] is False


def test_check_data_bounds_what_pages_and_messages_bring():
    from datetime import datetime
    from decimal import Decimal
    from engine.runtime import check_data

    def refused(data):
        with pytest.raises(InvalidInput) as info:
            check_data(data)
        return info.value.message

    deep: list = []
    for _ in range(40):
        deep = [deep]
    assert "nested too deeply (at most 32" in refused({"a": deep})
    assert "too many fields and items (at most 2000" in refused({"a": list(range(2001))})
    assert "too many fields and items" in refused({f"k{i}": 1 for i in range(2001)})
    assert "too large (at most 1048576 bytes" in refused({"a": "x" * 1_100_000})
    assert "amount: a number must be finite" in refused({"amount": float("nan")})
    assert "a number must be finite" in refused({"a": {"b": [float("inf")]}})
    assert "amount: a number may have at most 15 digits" in refused({"amount": 1e30})
    assert "at most 15 digits" in refused({"amount": Decimal("7" * 5000)})
    assert "at most 15 digits" in refused({"amount": 10 ** 15})
    assert refused({"at": datetime(2026, 1, 1)}) == "Data must be JSON"
    assert refused({"a": {1: 2}}) == "Data must be JSON"
    assert refused([1]) == "Data must be an object"
    long_names = refused({f"_{i}": 1 for i in range(500)})
    assert long_names.endswith(" …") and len(long_names) < 200
    ok = {"amount": 999_999_999_999_999, "rate": -0.5, "items": [1, "x", None, True, {"k": [2]}], "t": (1, 2)}
    assert check_data(ok) == {**ok, "t": [1, 2]}


def test_form_fields_have_sane_bounds():
    from forms.definition import parse_form
    from forms.schema import validate
    form = parse_form({"key": "bounds", "title": "t", "fields": [
        {"name": "amount", "type": "money", "label": "金额"}, {"name": "count", "type": "integer", "label": "数量"},
        {"name": "ratio", "type": "number", "label": "比例"}, {"name": "day", "type": "date", "label": "日期"},
        {"name": "unit", "type": "unit", "label": "单位"}]})

    def errors(**data):
        with pytest.raises(InvalidInput) as info:
            validate(form, data, lookups={"unit": lambda code: code == "lf"})
        return info.value.fields

    assert errors(amount="1e30") == {"amount": ["The number is too large."]}
    assert errors(amount="9" * 5000) == {"amount": ["The number is too large."]}
    assert errors(amount=1e13) == {"amount": ["Must be at most 999999999999.99."]}
    assert errors(amount="NaN") == {"amount": ["Enter an amount in yuan, e.g. 1200.50."]}
    assert errors(amount=[1]) == {"amount": ["Enter an amount in yuan, e.g. 1200.50."]}
    assert errors(count=10 ** 20) == {"count": ["The number is too large."]}
    assert errors(ratio="1e400") == {"ratio": ["Enter a number."]}
    assert errors(ratio=-1e16) == {"ratio": ["The number is too large."]}
    assert errors(day="0001-01-01") == {"day": ["Enter a date between 1900-01-01 and 2200-12-31."]}
    assert errors(day="9999-12-31") == {"day": ["Enter a date between 1900-01-01 and 2200-12-31."]}
    assert errors(unit=["lf"]) == {"unit": ["Choose an existing unit."]}
    assert errors(unit={"code": "lf"}) == {"unit": ["Choose an existing unit."]}
    assert validate(form, {"amount": "999999999999.99", "count": 10 ** 14, "day": "2200-12-31", "unit": "lf"},
                    lookups={"unit": lambda code: code == "lf"})["amount"] == 999999999999.99


def test_engine_lookups_refuse_what_cannot_be_an_id(ctx):
    from datetime import datetime, timezone
    from engine.calendar import WorkCalendar, check_year
    from engine.errors import CalendarError, NotFound
    from engine.models import User
    from engine.notifications import mark_read
    from engine.org import Directory
    from web import services
    user = db.session.query(User).filter_by(username=HANDLER).one()
    svc = services.tasks()
    for task_id in ("xyz", "../x", "a" * 5000, None, 5):
        with pytest.raises(NotFound):
            svc.get_for(user, task_id)
    for instance_id in (0, -1, 2 ** 31, 10 ** 30, "abc"):
        with pytest.raises(NotFound):
            svc.instance_for(user, instance_id)
        with pytest.raises(NotFound):
            mark_read(db.session, user, instance_id, datetime.now(timezone.utc))
    for code in (["x"], {"a": 1}, 5, "", "u" * 500):
        with pytest.raises(NotFound):
            Directory(db.session).unit(code)
    for year in (0, 1899, 2201, 99999, 10 ** 20):
        with pytest.raises(CalendarError):
            check_year(year)
    calendar = WorkCalendar(db.session)
    for start in ("9999-12-31", "0001-01-01"):
        with pytest.raises(CalendarError):
            calendar.add_working_days(start, 1)
        with pytest.raises(CalendarError):
            calendar.working_days_between(start, "2026-06-01")


def test_headers_and_redirect_targets_that_are_not_what_they_claim(client):
    resp = client.post("/api/session", json={"username": HANDLER, "password": "demo1234"})
    assert resp.status_code == 200
    resp = client.post("/api/instances", json={"process_key": "two_lane_review"},
                       headers={"X-CSRF-Token": "令牌".encode().decode("latin-1")})
    assert resp.status_code == 400 and CJK.search(resp.get_json()["message"])
    token_ = csrf(client.get("/login"))
    resp = client.post("/login?next=//[", data={"csrf_token": token_, "username": HANDLER, "password": "demo1234"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    resp = client.get("/lang/en", headers={"Referer": "http://["})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_after_an_action_the_page_stays_on_this_site(client, token):
    task = _open_task(client, token)
    sign_in(client, HANDLER)
    token_ = csrf(client.get("/"))
    for target in ("http://evil.example/", "//evil.example/", "/\\evil.example", "//["):
        resp = client.post(f"/tasks/{task['id']}/claim", data={"csrf_token": token_, "next": target})
        assert resp.status_code == 302 and resp.headers["Location"] == "/", target
        resp = client.post(f"/cases/{task['instance_id']}/comments",
                           data={"csrf_token": token_, "text": "好", "next": target})
        assert resp.headers["Location"] == f"/cases/{task['instance_id']}", target
    resp = client.post(f"/tasks/{task['id']}/unclaim", data={"csrf_token": token_, "next": "/?tab=group"})
    assert resp.headers["Location"] == "/?tab=group"


@pytest.mark.nodb
def test_no_route_takes_an_unbounded_integer(app):
    """Every database id in a path goes through the bounded ``id`` converter, so a huge id is a 404, never an
    integer overflow in the database."""
    from werkzeug.routing import IntegerConverter
    unbounded = [rule.rule for rule in app.url_map.iter_rules()
                 if any(type(c) is IntegerConverter for c in rule._converters.values())]
    assert unbounded == []


@pytest.mark.parametrize("path", ["/api/assessment/detail?period=2026Q1&unit=lf%00x&indicator=on_time_rate",
                                  "/api/cases?parties=%E6%9F%90%00", "/api/tasks?scope=all&x%00=1"])
def test_a_nul_character_in_the_query_is_refused_before_the_database(client, token, path):
    """PostgreSQL cannot hold or compare text with NUL: every such query is a 422 naming the parameter, on any
    database, before a view runs (schemathesis found a 500 from /api/assessment/detail on PostgreSQL)."""
    resp = client.get(path, headers=token("city_sup"))
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert "含有不允许的字符" in resp.get_json()["message"] + json.dumps(resp.get_json(), ensure_ascii=False)
