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

CASE_ROW = {"type": "object", "properties": {
    "id": {"type": "integer"}, "case_number": {"type": "string", "nullable": True},
    "title": {"type": "string", "nullable": True}, "parties": {"type": "string", "nullable": True},
    "process_key": {"type": "string"}, "process_name": {"type": "string", "nullable": True},
    "unit": {"type": "object", "nullable": True, "properties": {"code": {"type": "string"}, "name": {"type": "string"}}},
    "status": {"type": "string"}, "started_at": {"type": "string", "format": "date-time"},
    "started_by": {"type": "string", "nullable": True},
    "ended_at": {"type": "string", "format": "date-time", "nullable": True},
    "ending": {"type": "object", "nullable": True, "additionalProperties": True}}}
ENDED = {"type": "object", "properties": {"id": {"type": "integer"}, "status": {"type": "string"},
                                          "ending": {"type": "object", "additionalProperties": True}}}
BATCH = {"type": "object", "required": ["tasks"], "properties": {
    "tasks": {"type": "array", "items": {"type": "string", "format": "uuid"}, "minItems": 1, "maxItems": 50},
    "data": OBJ}}
BATCH_RESULTS = {"type": "object", "properties": {"done": {"type": "integer"}, "results": {"type": "array", "items": {
    "type": "object", "properties": {"task_id": {"type": "string"}, "ok": {"type": "boolean"},
                                     "status": {"type": "integer"}, "message": {"type": "string"}},
    "additionalProperties": True}}}}
ATTACHMENT = {"type": "object", "properties": {
    "id": {"type": "string", "format": "uuid"}, "filename": {"type": "string"}, "content_type": {"type": "string"},
    "size": {"type": "integer"}, "uploaded_at": {"type": "string", "format": "date-time"},
    "uploaded_by": {"type": "string"}, "task_id": {"type": "string", "nullable": True},
    "instance_id": {"type": "integer", "nullable": True},
    "document": {"type": "object", "nullable": True, "description": "set for an official document a step issued",
                 "properties": {"kind": {"type": "string"}, "title": {"type": "string"},
                                "doc_number": {"type": "string", "description": "文号, e.g. 固司审〔2026〕12号"},
                                "issued_at": {"type": "string", "format": "date-time"},
                                "unit": {"type": "string", "description": "the issuing unit's name"}}}}}
_DAY = {"type": "string", "format": "date", "nullable": True}
PERSONNEL_RECORD = {"type": "object", "properties": {
    "cert_no": {"type": "string", "maxLength": 32, "nullable": True, "description": "执法证号"},
    "cert_valid_from": _DAY, "cert_valid_until": _DAY,
    "area": {"type": "string", "maxLength": 200, "nullable": True, "description": "执法区域"},
    "legal_cert_no": {"type": "string", "maxLength": 64, "nullable": True, "description": "法律职业资格证书编号"},
    "legal_cert_date": _DAY, "reviewer_since": _DAY}}
TRAINING = {"type": "object", "required": ["day", "course", "hours"], "properties": {
    "day": {"type": "string", "format": "date"}, "course": {"type": "string", "maxLength": 200},
    "hours": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 999.9},
    "organiser": {"type": "string", "maxLength": 200, "nullable": True}}}

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
    ("get", "/api/instances/{instance_id}/documents"): dict(
        summary="The files of a case, official documents (文书) with their 文号", tags=["documents"],
        ok={"200": _list_of("documents", ATTACHMENT)}),
    ("get", "/api/attachments/{attachment_id}"): dict(
        summary="Download a file of a case (inline=1: shown in the browser, for PDFs and images)",
        tags=["documents"], query={"inline": {"type": "string", "enum": ["0", "1"]}}, ok={"200": None},
        binary=True),
    ("delete", "/api/attachments/{attachment_id}"): dict(
        summary="Delete my own upload before its step is completed (audited)", tags=["documents"], ok={"204": None}),
    ("post", "/api/attachments/{attachment_id}/replace"): dict(
        summary="Replace my own upload before its step is completed (audited; the same file twice is refused)",
        tags=["documents"], multipart={"file": {"type": "string", "format": "binary"}}, ok={"200": ATTACHMENT}),
    ("post", "/api/messages"): dict(summary="A message from another system (e.g. a 12345 hotline clue)",
                                    tags=["cases"], body=_ref("Message"), ok={"201": OBJ}),
    ("get", "/api/tasks"): dict(summary="My inbox, paged by limit/offset, with the total", tags=["tasks"],
                                query={"scope": {"type": "string", "enum": ["mine", "group", "all"]},
                                       "status": {"type": "string", "enum": ["open", "completed", "cancelled", "any"]},
                                       "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                                       "offset": {"type": "integer", "minimum": 0, "maximum": 1000000}},
                                ok={"200": {"type": "object", "properties": {
                                    "tasks": {"type": "array", "items": _ref("Task")}, "total": {"type": "integer"},
                                    "limit": {"type": "integer"}, "offset": {"type": "integer"}}}}),
    ("get", "/api/tasks/{task_id}"): dict(summary="One task", tags=["tasks"], ok={"200": _ref("Task")}),
    ("get", "/api/queue"): dict(summary="待分派: tasks nobody can take, that I may assign (supervisors, admins)",
                                tags=["tasks"], ok={"200": _list_of("tasks", _ref("Task"))}),
    ("post", "/api/tasks/{task_id}/{action}"): dict(
        summary="Claim, unclaim, delegate ({username}), complete ({data}) or — for a task nobody could take — "
                "assign ({unit, username}) a task", tags=["tasks"],
        body={"type": "object", "properties": {"username": {"type": "string"}, "data": OBJ,
                                               "unit": {"type": "string"}}},
        enums={"action": ["claim", "unclaim", "delegate", "complete", "assign"]}, ok={"200": _ref("Task")}),
    ("get", "/api/notifications"): dict(summary="My notices: new tasks, tasks sent back, 督办, reminders, overdue, escalation, 催办, withdrawn and cancelled cases", tags=["tasks"],
                                        query={"unread": {"type": "string", "enum": ["0", "1"]}},
                                        ok={"200": {"type": "object", "properties": {
                                            "notifications": {"type": "array", "items": _ref("Notification")},
                                            "unread": {"type": "integer"}}}}),
    ("get", "/api/notifications/summary"): dict(
        summary="The bell: how many notices are unread, and the newest one's id (polled by the pages)", tags=["tasks"],
        ok={"200": {"type": "object", "properties": {"unread": {"type": "integer"},
                                                     "latest": {"type": "integer", "nullable": True}}}}),
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
    # finding and moving work (web/api_casework.py)
    ("get", "/api/cases"): dict(
        summary="Case search: cases I may see (scope all) or started (scope mine), newest first, paged",
        tags=["cases"], query={"scope": {"type": "string", "enum": ["all", "mine"]},
                               "case_number": {"type": "string", "maxLength": 100},
                               "title": {"type": "string", "maxLength": 100},
                               "parties": {"type": "string", "maxLength": 100},
                               "unit": {"type": "string", "description": "unit code"},
                               "process": {"type": "string", "maxLength": 100},
                               "status": {"type": "string", "enum": ["running", "completed", "terminated",
                                                                     "withdrawn", "cancelled"]},
                               "from": {"type": "string", "format": "date"},
                               "to": {"type": "string", "format": "date"},
                               "limit": {"type": "integer", "minimum": 1, "maximum": 200},
                               "offset": {"type": "integer", "minimum": 0, "maximum": 100000}},
        ok={"200": {"type": "object", "properties": {"cases": {"type": "array", "items": CASE_ROW},
                                                     "total": {"type": "integer"}, "limit": {"type": "integer"},
                                                     "offset": {"type": "integer"}}}}),
    ("post", "/api/cases/{instance_id}/withdraw"): dict(
        summary="撤回: the starter withdraws the procedure while no other unit has acted", tags=["cases"],
        body={"type": "object", "properties": {"reason": {"type": "string", "nullable": True}}}, ok={"200": ENDED}),
    ("post", "/api/cases/{instance_id}/cancel"): dict(
        summary="撤销: the agency head of the case's unit or a supervising officer cancels the case with a reason",
        tags=["cases"], body={"type": "object", "required": ["reason"],
                              "properties": {"reason": {"type": "string"}}}, ok={"200": ENDED}),
    ("post", "/api/tasks/{task_id}/urge"): dict(
        summary="催办: notify the holder (or candidates) of an open task (supervision officers of its area)",
        tags=["supervision"], ok={"200": {"type": "object", "properties": {
            "task_id": {"type": "string"}, "notified": {"type": "integer"}}}}),
    ("post", "/api/tasks/batch-claim"): dict(
        summary="Claim several tasks; a result per task", tags=["tasks"], body=BATCH, ok={"200": BATCH_RESULTS}),
    ("post", "/api/tasks/batch-complete"): dict(
        summary="Complete several tasks of one form with the same data; each its own transaction, a result per task",
        tags=["tasks"], body=BATCH, ok={"200": BATCH_RESULTS}),
    ("get", "/api/personnel"): dict(summary="People of the units I manage, with 执法证 and training hours "
                                           "(administrators, supervision officers)", tags=["personnel"],
                                   ok={"200": _list_of("people", OBJ)}),
    ("get", "/api/personnel/{user_id}"): dict(summary="One person's 执法证, 法律职业资格 and training records",
                                             tags=["personnel"], ok={"200": OBJ}),
    ("put", "/api/personnel/{user_id}"): dict(summary="Record a person's 执法证 and 法律职业资格 (dates YYYY-MM-DD; "
                                                     "an empty value clears the field)", tags=["personnel"],
                                             body=PERSONNEL_RECORD, ok={"200": OBJ}),
    ("post", "/api/personnel/{user_id}/training"): dict(summary="Add (or correct) a training record",
                                                       tags=["personnel"], body=TRAINING, ok={"201": OBJ}),
    ("delete", "/api/personnel/{user_id}/training/{training_id}"): dict(summary="Delete a training record",
                                                                       tags=["personnel"], ok={"204": None}),
    ("get", "/api/personnel/shortfall"): dict(summary="Legal reviewers per unit: how many, how many qualified, "
                                                     "training hours missing (supervisors)", tags=["personnel"],
                                             ok={"200": OBJ}),
    ("get", "/api/personnel/me"): dict(summary="My 执法证, this year's training hours and whether I am a qualified "
                                              "legal reviewer", tags=["personnel"], ok={"200": OBJ}),
    ("get", "/api/health"): dict(summary="Liveness, scheduler heartbeat, incidents and warnings",
                                 tags=["operations"], public=True, ok={"200": {"type": "object", "properties": {
                                     "status": {"type": "string", "enum": ["ok", "warning"]},
                                     "warnings": {"type": "array", "items": {"type": "string"}},
                                     "incidents": {"type": "integer"}, "scheduler": OBJ}}}),
}

# -- outside oversight (issue 12 §1–2): web/api_oversight.py ------------------------------------------------------
_APPOINTMENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "username": {"type": "string"}, "name": {"type": "string"},
    "organisation": {"type": "string"}, "bureau": OBJ, "term_from": {"type": "string", "format": "date"},
    "term_to": {"type": "string", "format": "date"}, "active": {"type": "boolean"},
    "units": {"type": "array", "items": OBJ}, "note": {"type": "string", "nullable": True}}}
_UNIT_CODES = {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 64}}
_FINDING = {"type": "object", "properties": {
    "id": {"type": "integer"}, "case_number": {"type": "string", "nullable": True}, "status": {"type": "string"},
    "unit": {"type": "object", "nullable": True, "additionalProperties": True},
    "recorded_at": {"type": "string", "format": "date-time"},
    "state": {"type": "string", "enum": ["awaiting_answer", "under_review", "notice", "closed", "withdrawn",
                                         "in_progress"]},
    "answer_due_at": {"type": "string", "format": "date-time", "nullable": True},
    "answered_at": {"type": "string", "format": "date-time", "nullable": True},
    "answered_on_time": {"type": "boolean", "nullable": True}, "answer_overdue": {"type": "boolean"},
    "notice_id": {"type": "integer", "nullable": True}}}
_EXPERT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "username": {"type": "string"}, "name": {"type": "string"},
    "organisation": {"type": "string"}, "fields": {"type": "array", "items": {"type": "string"}},
    "contact": {"type": "string", "nullable": True}, "active": {"type": "boolean"}}}
_EXPERT_FIELDS = {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 50}}
_OPINION = {"type": "object", "properties": {
    "task_id": {"type": "string"}, "instance_id": {"type": "integer"},
    "status": {"type": "string", "enum": ["answered", "open", "missing"]},
    "username": {"type": "string", "nullable": True}, "name": {"type": "string", "nullable": True},
    "organisation": {"type": "string", "nullable": True}, "opinion": {"type": "string", "nullable": True},
    "basis": {"type": "string", "nullable": True}, "asked_at": {"type": "string", "format": "date-time"},
    "due_at": {"type": "string", "format": "date-time", "nullable": True},
    "answered_at": {"type": "string", "format": "date-time", "nullable": True}}}
OPERATIONS.update({
    ("get", "/api/supervisors"): dict(summary="The invited-supervisor register my bureau keeps", tags=["oversight"],
                                      ok={"200": _list_of("supervisors", _APPOINTMENT)}),
    ("post", "/api/supervisors"): dict(summary="Enter an invited supervisor's term and assigned units", tags=["oversight"],
                                       body={"type": "object", "required": ["username", "organisation", "term_from",
                                                                            "term_to", "units"], "properties": {
                                           "username": {"type": "string", "minLength": 1, "maxLength": 64},
                                           "organisation": {"type": "string", "minLength": 1, "maxLength": 200},
                                           "term_from": {"type": "string", "format": "date"},
                                           "term_to": {"type": "string", "format": "date"},
                                           "units": _UNIT_CODES,
                                           "note": {"type": "string", "nullable": True, "maxLength": 2000}}},
                                       ok={"201": _APPOINTMENT}),
    ("put", "/api/supervisors/{appointment_id}"): dict(
        summary="Change a term (dates, organisation, units, active)", tags=["oversight"],
        body={"type": "object", "properties": {
            "organisation": {"type": "string", "minLength": 1, "maxLength": 200},
            "term_from": {"type": "string", "format": "date"}, "term_to": {"type": "string", "format": "date"},
            "units": _UNIT_CODES, "active": {"type": "boolean"}}}, ok={"200": _APPOINTMENT}),
    ("get", "/api/supervisors/me"): dict(summary="My current terms as an invited supervisor", tags=["oversight"],
                                         ok={"200": _list_of("terms", _APPOINTMENT)}),
    ("post", "/api/instances/{instance_id}/findings"): dict(
        summary="Record a finding (监督意见) on a case (invited supervisors, within the assigned area and term)",
        tags=["oversight"], body={"type": "object", "required": ["finding_text"], "properties": {
            "finding_text": {"type": "string", "minLength": 1, "maxLength": 5000}}}, ok={"201": _FINDING}),
    ("get", "/api/findings"): dict(summary="My findings and where each stands", tags=["oversight"],
                                   ok={"200": _list_of("findings", _FINDING)}),
    ("get", "/api/experts"): dict(summary="The expert register (optionally of one field of expertise)",
                                  tags=["oversight"], query={"field": {"type": "string", "maxLength": 50},
                                                             "active": {"type": "string", "enum": ["0", "1"]}},
                                  ok={"200": {"type": "object", "properties": {
                                      "experts": {"type": "array", "items": _EXPERT},
                                      "fields": {"type": "array", "items": {"type": "string"}}}}}),
    ("post", "/api/experts"): dict(summary="Enter an expert (the account must hold the expert role)", tags=["oversight"],
                                   body={"type": "object", "required": ["username", "name", "organisation", "fields"],
                                         "properties": {
                                             "username": {"type": "string", "minLength": 1, "maxLength": 64},
                                             "name": {"type": "string", "minLength": 1, "maxLength": 100},
                                             "organisation": {"type": "string", "minLength": 1, "maxLength": 200},
                                             "fields": _EXPERT_FIELDS,
                                             "contact": {"type": "string", "nullable": True, "maxLength": 200}}},
                                   ok={"201": _EXPERT}),
    ("put", "/api/experts/{expert_id}"): dict(summary="Change an expert's entry", tags=["oversight"],
                                              body={"type": "object", "properties": {
                                                  "name": {"type": "string", "minLength": 1, "maxLength": 100},
                                                  "organisation": {"type": "string", "minLength": 1, "maxLength": 200},
                                                  "fields": _EXPERT_FIELDS,
                                                  "contact": {"type": "string", "nullable": True, "maxLength": 200},
                                                  "active": {"type": "boolean"}}}, ok={"200": _EXPERT}),
    ("get", "/api/instances/{instance_id}/expert-opinions"): dict(
        summary="The expert opinions of a case: given, open, or missing after the deadline", tags=["oversight"],
        ok={"200": {"type": "object", "properties": {"opinions": {"type": "array", "items": _OPINION},
                                                     "missing": {"type": "array", "items": {"type": "string"}}}}}),
})
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
        if op.get("binary"):
            responses[status] = {"description": "The file, with the type its extension has", "content": {
                "*/*": {"schema": {"type": "string", "format": "binary"}}}}
    for status, text in COMMON_ERRORS.items():
        responses.setdefault(status, {"description": text,
                                      "content": {"application/json": {"schema": _ref("Error")}}})
    out: dict[str, Any] = {"summary": op["summary"], "tags": op.get("tags", []), "parameters": params,
                           "responses": responses}
    if op.get("public"):
        out["security"] = []
    else:
        out["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    if isinstance(op.get("multipart"), dict):
        out["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": op["multipart"]}}}}
    elif op.get("multipart"):
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
