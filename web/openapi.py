"""The OpenAPI 3 document of the JSON API, generated with apispec from the marshmallow schemas of
web/schemas.py and the routes the app really has: every route of the ``api`` blueprint must be described
in ``OPERATIONS`` (a test checks it), its path parameters come from the URL converters, and every operation
lists the error answers the API gives (the same JSON error body everywhere). Served at /api/openapi.json;
/api/docs shows it with Swagger UI (npm package swagger-ui-dist, served by the app)."""
from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from engine.limits import MAX_DB_ID

from . import schemas as s

ERROR = {"type": "object", "required": ["message"], "properties": {
    "message": {"type": "string", "description": "what went wrong, in the user's language"},
    "errors": {"type": "array", "items": {"type": "object", "properties": {
        "file": {"type": "string", "nullable": True}, "element_id": {"type": "string", "nullable": True},
        "line": {"type": "integer", "nullable": True}, "message": {"type": "string"}}}},
    "fields": {"type": "object", "description": "field name -> messages", "additionalProperties": True}}}

# What any call may answer besides its success: bad request (CSRF, JSON), not signed in, not allowed, not
# found (or not yours to see), conflict, too large, invalid input, too many attempts, database unavailable.
COMMON_ERRORS = {"400": "Bad request (unparsable or too deeply nested JSON, missing CSRF token)",
                 "401": "Not signed in", "403": "Your roles do not allow this",
                 "404": "Not found, or not yours to see", "405": "Method not allowed",
                 "409": "Someone else changed it first", "413": "Request too large",
                 "415": "Not JSON", "422": "Invalid input (field or element errors)",
                 "429": "Too many attempts", "503": "The database is unreachable or busy; nothing was kept"}

OBJ = {"type": "object", "additionalProperties": True}
MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}}


def _list_of(key: str, schema) -> dict:
    return {"type": "object", "properties": {key: {"type": "array", "items": schema}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


INSTANCE_BODY = {"allOf": [_ref("Instance"), {"type": "object", "properties": {
    "open_tasks": {"type": "array", "items": _ref("Task")},
    "history": {"type": "array", "items": _ref("AuditEvent")}}}]}

# (method, rule) -> operation: summary, tags, request body schema, success answers {status: schema}
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/session"): dict(summary="Sign in (session cookie and CSRF token)", tags=["session"],
                                   body=_ref("Login"), ok={"200": {"type": "object", "properties": {
                                       "user": _ref("User"), "csrf_token": {"type": "string"}}}}, public=True),
    ("delete", "/api/session"): dict(summary="Sign out: every session of the user ends", tags=["session"],
                                     ok={"204": None}),
    ("get", "/api/me"): dict(summary="Who I am", tags=["session"], ok={"200": {"type": "object", "properties": {
        "user": _ref("User"), "csrf_token": {"type": "string"}}}}),
    ("post", "/api/me/password"): dict(summary="Change my password", tags=["session"], body=_ref("PasswordChange"),
                                       ok={"200": MESSAGE}),
    ("get", "/api/me/tokens"): dict(summary="My API tokens", tags=["session"], ok={"200": _list_of("tokens", _ref("Token"))}),
    ("delete", "/api/me/tokens/{token_id}"): dict(summary="Revoke one of my tokens", tags=["session"], ok={"204": None}),
    ("post", "/api/deployments"): dict(summary="Deploy BPMN/DMN files (process designers)", tags=["repository"],
                                       multipart=True, ok={"201": OBJ, "200": OBJ}),
    ("post", "/api/designer/validate"): dict(summary="Check models without deploying", tags=["repository"],
                                             body={"type": "object", "properties": {
                                                 "filename": {"type": "string"}, "xml": {"type": "string"}}},
                                             ok={"200": OBJ}),
    ("get", "/api/designer/meta"): dict(summary="Roles, forms and helpers for the modeler", tags=["repository"],
                                        ok={"200": OBJ}),
    ("get", "/api/designer/{key}/migrations"): dict(summary="Preview moving running cases to the latest version",
                                                    tags=["repository"], query={"from": {"type": "integer"}},
                                                    ok={"200": OBJ}),
    ("post", "/api/designer/{key}/migrations"): dict(summary="Move running cases to the latest version",
                                                     tags=["repository"], body=_ref("Migrate"), ok={"200": OBJ}),
    ("get", "/api/processes"): dict(summary="Latest version of every procedure", tags=["repository"],
                                    ok={"200": _list_of("processes", _ref("Process"))}),
    ("post", "/api/instances"): dict(summary="Start a case", tags=["cases"], body=_ref("StartInstance"),
                                     headers={"Idempotency-Key": {"type": "string", "maxLength": 128}},
                                     ok={"201": INSTANCE_BODY}),
    ("get", "/api/instances/{instance_id}"): dict(summary="A case: status, open tasks, history", tags=["cases"],
                                                  ok={"200": INSTANCE_BODY}),
    ("post", "/api/messages"): dict(summary="A message from another system (e.g. a 12345 hotline clue)",
                                    tags=["cases"], body=_ref("Message"), ok={"201": OBJ}),
    ("get", "/api/tasks"): dict(summary="My inbox", tags=["tasks"],
                                query={"scope": {"type": "string", "enum": ["mine", "group", "all"]},
                                       "status": {"type": "string", "enum": ["open", "completed", "cancelled", "any"]}},
                                ok={"200": _list_of("tasks", _ref("Task"))}),
    ("get", "/api/tasks/{task_id}"): dict(summary="One task", tags=["tasks"], ok={"200": _ref("Task")}),
    ("get", "/api/queue"): dict(summary="待分派: tasks nobody can take, that I may assign (supervisors, admins)",
                                tags=["tasks"], ok={"200": _list_of("tasks", _ref("Task"))}),
    ("post", "/api/tasks/{task_id}/{action}"): dict(
        summary="Claim, unclaim, delegate ({username}), complete ({data}) or — for a task nobody could take — "
                "assign ({unit, username}) a task", tags=["tasks"],
        body={"type": "object", "properties": {"username": {"type": "string"}, "data": OBJ,
                                               "unit": {"type": "string"}}},
        enums={"action": ["claim", "unclaim", "delegate", "complete", "assign"]}, ok={"200": _ref("Task")}),
    ("get", "/api/notifications"): dict(summary="My reminders, overdue and escalation notices", tags=["tasks"],
                                        query={"unread": {"type": "string", "enum": ["0", "1"]}},
                                        ok={"200": {"type": "object", "properties": {
                                            "notifications": {"type": "array", "items": _ref("Notification")},
                                            "unread": {"type": "integer"}}}}),
    ("post", "/api/notifications/{notification_id}/read"): dict(summary="Mark a notice read", tags=["tasks"],
                                                                ok={"200": _ref("Notification")}),
    ("get", "/api/timers"): dict(summary="Waiting timers of the cases I oversee", tags=["supervision"],
                                 query={"due_before": {"type": "string", "format": "date-time"}},
                                 ok={"200": _list_of("timers", _ref("Timer"))}),
    ("get", "/api/calendar/{year}"): dict(summary="A year of the working-day calendar", tags=["calendar"],
                                          ok={"200": {"type": "object", "properties": {
                                              "year": {"type": "integer"}, "covered": {"type": "boolean"},
                                              "source": {"type": "string", "nullable": True},
                                              "days": {"type": "array", "items": _ref("Holiday")}}}}),
    ("put", "/api/calendar/days/{day}"): dict(summary="Set one day (admin)", tags=["calendar"],
                                              body={"type": "object", "required": ["is_workday"], "properties": {
                                                  "is_workday": {"type": "boolean"},
                                                  "name": {"type": "string", "nullable": True}}},
                                              ok={"200": _ref("Holiday")}),
    ("put", "/api/calendar/years/{year}"): dict(summary="Enter a year's holidays (admin)", tags=["calendar"],
                                                body=_ref("CalendarYear"), ok={"200": OBJ}),
    ("get", "/api/incidents"): dict(summary="Timer incidents (admin)", tags=["operations"], ok={"200": OBJ}),
    ("post", "/api/incidents/{timer_id}/{action}"): dict(summary="Retry or cancel a timer incident (admin)",
                                                         tags=["operations"], enums={"action": ["retry", "cancel"]},
                                                         ok={"200": OBJ}),
    ("get", "/api/health"): dict(summary="Liveness, scheduler heartbeat, incidents and warnings",
                                 tags=["operations"], public=True, ok={"200": {"type": "object", "properties": {
                                     "status": {"type": "string", "enum": ["ok", "warning"]},
                                     "warnings": {"type": "array", "items": {"type": "string"}},
                                     "incidents": {"type": "integer"}, "scheduler": OBJ}}}),
}

# -- issue 12 §3–4: contact points, surveys, assessment (web/api_assessment.py) -----------------------------------
CONTACT_POINT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"},
    "credit_code": {"type": "string", "description": "统一社会信用代码, 18 characters with a GB 32100-2015 check"},
    "sector": {"type": "string", "nullable": True}, "address": {"type": "string", "nullable": True},
    "contact_name": {"type": "string", "nullable": True}, "contact_phone": {"type": "string", "nullable": True},
    "active": {"type": "boolean"}, "owner": OBJ, "units": {"type": "array", "items": OBJ}}}
CONTACT_POINT_BODY = {"type": "object", "properties": {
    "name": {"type": "string"}, "credit_code": {"type": "string"}, "sector": {"type": "string"},
    "address": {"type": "string"}, "contact_name": {"type": "string"}, "contact_phone": {"type": "string"},
    "active": {"type": "boolean"}, "units": {"type": "array", "items": {"type": "string"}},
    "owner": {"type": "string", "description": "admins only: the code of the keeping justice bureau"}}}
PERIOD_QUERY = {"period": {"type": "string", "description": "2026 or 2026Q1; the current quarter by default"}}
OPERATIONS.update({
    ("get", "/api/contact-points"): dict(summary="Enterprise contact points of my county or city",
                                         tags=["contact points"], ok={"200": _list_of("contact_points", CONTACT_POINT)}),
    ("post", "/api/contact-points"): dict(summary="Add a contact point (supervision officers of its justice bureau)",
                                          tags=["contact points"], body=CONTACT_POINT_BODY, ok={"201": CONTACT_POINT}),
    ("get", "/api/contact-points/{point_id}"): dict(summary="One contact point", tags=["contact points"],
                                                    ok={"200": CONTACT_POINT}),
    ("patch", "/api/contact-points/{point_id}"): dict(summary="Change a contact point (the keys given)",
                                                      tags=["contact points"], body=CONTACT_POINT_BODY,
                                                      ok={"200": CONTACT_POINT}),
    ("get", "/api/surveys/rounds"): dict(summary="Survey rounds of the contact points", tags=["contact points"],
                                         ok={"200": _list_of("rounds", OBJ)}),
    ("get", "/api/surveys/results"): dict(summary="Satisfaction per enforcement unit (of one round or all)",
                                          tags=["contact points"], query={"round": {"type": "integer", "minimum": 1}},
                                          ok={"200": _list_of("units", OBJ)}),
    ("get", "/api/assessment"): dict(summary="Assessment ranking of a period (frozen once closed)", tags=["assessment"],
                                     query={**PERIOD_QUERY, "tier": {"type": "string", "enum": ["city", "county", "township"]},
                                            "kind": {"type": "string"}}, ok={"200": OBJ}),
    ("get", "/api/assessment/detail"): dict(summary="The cases behind one unit's indicator", tags=["assessment"],
                                            query={**PERIOD_QUERY, "unit": {"type": "string"},
                                                   "indicator": {"type": "string"}}, ok={"200": OBJ}),
    ("get", "/api/assessment/periods"): dict(summary="Closed (published) assessment periods", tags=["assessment"],
                                             ok={"200": _list_of("periods", OBJ)}),
    ("post", "/api/assessment/periods/{period}/close"): dict(summary="Close and freeze an ended period (admin)",
                                                             tags=["assessment"], ok={"201": OBJ}),
})

SCHEMAS = {"Login": s.LoginSchema, "PasswordChange": s.PasswordChangeSchema, "Token": s.TokenSchema,
           "StartInstance": s.StartInstanceSchema, "Message": s.MessageSchema, "Migrate": s.MigrateSchema,
           "Unit": s.UnitSchema, "User": s.UserSchema, "Process": s.ProcessSchema, "Task": s.TaskSchema,
           "Notification": s.NotificationSchema, "Timer": s.TimerSchema, "Holiday": s.HolidaySchema,
           "CalendarYear": s.CalendarYearSchema, "AuditEvent": s.AuditSchema, "Instance": s.InstanceSchema}

_CONVERTERS = {
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_DB_ID},
    "year": {"type": "integer", "minimum": 1900, "maximum": 2200},
    "uid": {"type": "string", "format": "uuid"},
    "default": {"type": "string", "minLength": 1, "maxLength": 128},
}


def api_rules(app: Flask) -> list[tuple[str, str, Any]]:
    """(method, OpenAPI path, werkzeug rule) of every route of the JSON API."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in ("api.openapi_json", "api.openapi_page"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method.lower(), path, rule))
    return out


def build(app: Flask) -> dict:
    spec = APISpec(title="行政执法协调监督工作平台 API · Law-enforcement supervision platform API", version="1",
                   openapi_version="3.0.3", plugins=[MarshmallowPlugin()],
                   info={"description": "Messages come in the caller's language (Simplified Chinese unless "
                                        "`?lang=en`). Sign in with `POST /api/session` (cookie; then send the "
                                        "`X-CSRF-Token` it returns on every change) or use a bearer token."})
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("cookieAuth", {"type": "apiKey", "in": "cookie", "name": "session"})
    spec.components.schema("Error", ERROR)
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    paths: dict[str, dict] = {}
    for method, path, rule in api_rules(app):
        op = OPERATIONS.get((method, path))
        if op is None:
            raise KeyError(f"{method.upper()} {path} is not described in web/openapi.py OPERATIONS")
        paths.setdefault(path, {})[method] = _operation(op, rule)
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(op: dict, rule) -> dict:
    params = []
    for name, converter in rule._converters.items():
        key = {"IdConverter": "id", "YearConverter": "year", "UidConverter": "uid"}.get(
            type(converter).__name__, "default")
        schema = dict(_CONVERTERS[key])
        if name in op.get("enums", {}):
            schema = {"type": "string", "enum": op["enums"][name]}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, schema in op.get("query", {}).items():
        params.append({"name": name, "in": "query", "required": False, "schema": schema})
    for name, schema in op.get("headers", {}).items():
        params.append({"name": name, "in": "header", "required": False, "schema": schema})
    responses: dict[str, Any] = {}
    for status, schema in op["ok"].items():
        responses[status] = {"description": "OK"} if schema is None else \
            {"description": "OK", "content": {"application/json": {"schema": schema}}}
    for status, text in COMMON_ERRORS.items():
        responses.setdefault(status, {"description": text,
                                      "content": {"application/json": {"schema": _ref("Error")}}})
    out: dict[str, Any] = {"summary": op["summary"], "tags": op.get("tags", []), "parameters": params,
                           "responses": responses}
    if op.get("public"):
        out["security"] = []
    else:
        out["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    if op.get("multipart"):
        out["requestBody"] = {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "comment": {"type": "string"}}}}}}
    elif op.get("body") is not None:
        out["requestBody"] = {"required": False, "content": {"application/json": {"schema": op["body"]}}}
    return out


_cache: dict[int, dict] = {}


def document(app: Flask) -> dict:
    if id(app) not in _cache:
        _cache[id(app)] = build(app)
    return _cache[id(app)]
