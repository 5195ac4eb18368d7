"""The JSON API. Status codes: 201 created, 400/422 invalid input (with field or element errors),
401 not signed in, 403 not allowed, 404 not found (or not yours to see), 409 conflict, 503 database unreachable.
Every changing call builds its answer before it commits: a 2xx was committed, a 503 was not."""
from __future__ import annotations

import hashlib
import json

from flask import Blueprint, jsonify, request
from flask_babel import gettext
from flask_login import login_required
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from engine import history
from engine.errors import N_, Conflict, EngineError, Forbidden, NotFound, cap_fields, render_problem
from engine.models import User

from . import services
from .auth import csrf_ok, csrf_token, current, end_every_session, keep_this_session, start_session
from .extensions import db
from .edge import arg_datetime, arg_id, arg_int, json_body
from .schemas import (AssignSchema, AuditSchema, CompleteSchema, DelegateSchema, InstanceSchema, LoginSchema,
                      MigrateSchema, ProcessSchema, StartInstanceSchema, TaskSchema, UserSchema)

bp = Blueprint("api", __name__, url_prefix="/api")
DESIGN_ROLES = {"process_designer", "admin"}


@bp.errorhandler(EngineError)
def _engine_error(exc: EngineError):
    db.session.rollback()
    return jsonify(exc.render(gettext)), exc.status


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    db.session.rollback()
    messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
    return jsonify(message=gettext("Invalid input"), fields=cap_fields(messages, gettext)), 422


@bp.errorhandler(StaleDataError)
def _stale(exc):
    return _engine_error(Conflict(N_("The case was changed by someone else at the same moment; reload and try again")))


@bp.before_request
def _csrf():
    if not csrf_ok():
        return jsonify(message=gettext("Missing or wrong CSRF token")), 400


def _json() -> dict:
    if not request.content_length:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError({"_body": [gettext("The request body must be a JSON object")]})
    return body


def _require_roles(roles: set[str]) -> User:
    user = current()
    if not roles & {ra.role_code for ra in user.roles}:
        raise Forbidden(N_("Your roles do not allow this"))
    return user


# -- session --------------------------------------------------------------------------------------------
@bp.post("/session")
def login():
    from engine.org import sign_in
    from .views.auth import limits
    creds = LoginSchema().load(_json())
    try:
        user = sign_in(db.session, creds["username"], creds["password"], services.clock().now(), request.remote_addr,
                       **limits())
    except EngineError as exc:
        db.session.commit()                     # the failed attempt counts
        return jsonify(exc.render(gettext)), (429 if isinstance(exc, Forbidden) else 401)
    body = UserSchema().dump(user)          # built before the commit: a committed sign-in is reported as such
    db.session.commit()
    start_session(user)
    return jsonify(user=body, csrf_token=csrf_token())


@bp.delete("/session")
@login_required
def logout():
    """Sign out: this session and every other session of the user end (API tokens stay valid)."""
    end_every_session(current())
    return "", 204


@bp.get("/me")
@login_required
def me():
    return jsonify(user=UserSchema().dump(current()), csrf_token=csrf_token())


@bp.post("/me/password")
@login_required
def change_my_password():
    """{current_password, new_password}: every other session of the user ends; API tokens stay valid."""
    from flask import g
    from engine.org import WrongPassword, change_password
    from .schemas import PasswordChangeSchema
    from .views.auth import limits
    body = PasswordChangeSchema().load(_json())
    user = current()
    try:
        change_password(db.session, user, body["current_password"], body["new_password"], services.clock().now(),
                        request.remote_addr, **limits())
    except WrongPassword as exc:
        db.session.commit()                     # counts as a failed sign-in
        return jsonify(exc.render(gettext)), exc.status
    db.session.commit()
    if not g.get("token_auth"):
        keep_this_session(user)
    return jsonify(message=gettext("Password changed. You stay signed in here; every other session has ended."))


@bp.get("/me/tokens")
@login_required
def my_tokens():
    from engine.org import tokens_of
    from .schemas import TokenSchema
    return jsonify(tokens=TokenSchema(many=True).dump(tokens_of(db.session, current())))


@bp.delete("/me/tokens/<id:token_id>")
@login_required
def revoke_my_token(token_id: int):
    from engine.org import revoke_token
    revoke_token(db.session, current(), token_id)
    db.session.commit()
    return "", 204


# -- repository -----------------------------------------------------------------------------------------
@bp.post("/deployments")
@login_required
def deploy():
    user = _require_roles(DESIGN_ROLES)
    comment = (request.form.get("comment") or "").strip()
    if not comment:
        raise ValidationError({"comment": [gettext("Say why this version is deployed")]})
    uploads = [(f.filename or "upload.bpmn", f.read()) for f in request.files.getlist("files")]
    result = services.repository().deploy(uploads, actor=user.username, comment=comment)
    body = {"deployment_id": result.deployment_id,
            "created": [{"key": d.key, "version": d.version} for d in result.created],
            "unchanged": [{"key": d.key, "version": d.version} for d in result.unchanged],
            "warnings": [render_problem(w, gettext) for w in result.warnings]}
    db.session.commit()
    return jsonify(body), (201 if result.created else 200)


@bp.post("/designer/validate")
@login_required
@json_body(max_bytes=3 * 2 * 1024 * 1024)      # a diagram of up to 2 MB (the deployment limit), JSON-escaped
def validate_model():
    """The deployment checks without deploying: multipart ``files`` or JSON {filename, xml}."""
    _require_roles(DESIGN_ROLES)
    if request.files:
        uploads = [(f.filename or "upload.bpmn", f.read()) for f in request.files.getlist("files")]
    else:
        body = _json()
        uploads = [(str(body.get("filename") or "diagram.bpmn"), str(body.get("xml") or "").encode("utf-8"))]
    from engine.repository import waiting_without_limit
    try:
        _parser, files = services.repository().check(uploads)
    except EngineError as exc:
        db.session.rollback()
        return jsonify(ok=False, **exc.render(gettext))
    db.session.rollback()
    warnings = [render_problem(w, gettext) for src in files for w in waiting_without_limit(src)]
    return jsonify(ok=True, message=gettext("No problems found") if not warnings else
                   gettext("No errors; %(n)s warnings", n=len(warnings)), errors=[], warnings=warnings)


@bp.get("/designer/meta")
@login_required
def designer_meta():
    from .views.designer import meta
    _require_roles(DESIGN_ROLES)
    return jsonify(meta())


@bp.get("/designer/<key>/migrations")
@login_required
def migration_preview(key: str):
    from engine import versions
    from engine.models import ProcessDefinition, ProcessInstance
    _require_roles(DESIGN_ROLES)
    version = arg_id("from")
    source = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                               ProcessDefinition.version == version)) if version else None
    if source is None:
        raise NotFound(N_("No process definition %(id)s"), id=f"{key} v{version or ''}")
    target = services.repository().latest(key)
    runtime = services.runtime()
    running = db.session.scalars(select(ProcessInstance).where(ProcessInstance.definition_id == source.id,
                                                               ProcessInstance.status == "running")).all()
    return jsonify(target_version=target.version, instances=[versions.preview(runtime, i, target) for i in running])


@bp.post("/designer/<key>/migrations")
@login_required
def migrate_instances(key: str):
    """Move the listed running instances to the latest version; each one its own transaction."""
    from engine import versions
    from engine.models import ProcessInstance
    user = _require_roles(DESIGN_ROLES)
    body = MigrateSchema().load(_json())
    target = services.repository().latest(key)
    results = []
    for instance_id in body["instances"]:
        instance = db.session.get(ProcessInstance, instance_id)
        if instance is None or instance.process_key != key:
            results.append({"instance_id": instance_id, "migrated": False, "message": gettext("No such case")})
            continue
        try:
            versions.migrate(services.runtime(), instance, target, actor=user.username)
            db.session.commit()
            results.append({"instance_id": instance_id, "migrated": True, "version": target.version})
        except EngineError as exc:
            db.session.rollback()
            results.append({"instance_id": instance_id, "migrated": False, "message": exc.render(gettext)["message"]})
    return jsonify(results=results)


@bp.get("/processes")
@login_required
def processes():
    return jsonify(processes=ProcessSchema(many=True).dump(services.repository().list_latest()))


# -- instances ------------------------------------------------------------------------------------------
@bp.post("/instances")
@login_required
def start_instance():
    """Start a case. With an ``Idempotency-Key`` header, a retry with the same key (after an answer that got
    lost) starts nothing new and answers with the case the first request started."""
    from engine.models import IdempotencyKey, ProcessInstance
    user = current()
    raw = _json()
    body = StartInstanceSchema().load(raw)
    key = request.headers.get("Idempotency-Key")
    fingerprint = None
    if key is not None:
        key = key.strip()
        if not key or len(key) > 128 or not key.isprintable():
            raise ValidationError({"Idempotency-Key": [gettext("Give at most 128 printable characters")]})
        fingerprint = hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
                                     .encode()).hexdigest()

    def replay():
        prior = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user.id,
                                                               IdempotencyKey.key == key))
        if prior is None:
            return None
        if prior.fingerprint != fingerprint:
            raise ValidationError({"Idempotency-Key": [gettext("This key was already used for a different request")]})
        answer = jsonify(_instance_body(db.session.get(ProcessInstance, prior.instance_id)))
        answer.headers["Idempotent-Replayed"] = "true"
        return answer, 201

    if key is not None:
        again = replay()
        if again is not None:
            return again
    instance = services.runtime().start(body["process_key"], business_key=body["business_key"], data=body["data"],
                                        user=user, validate=services.start_validator(user))
    if key is not None:
        db.session.add(IdempotencyKey(user_id=user.id, key=key, fingerprint=fingerprint, instance_id=instance.id,
                                      created_at=services.clock().now()))
    try:
        db.session.flush()                   # the key first: a second request with it waits here, then fails
        answer = _instance_body(instance)    # built before the commit: a committed start is reported as such
        db.session.commit()
    except IntegrityError:
        db.session.rollback()                # the same key, started at the same moment by a second request
        again = replay() if key is not None else None
        if again is None:
            raise
        return again
    return jsonify(answer), 201


@bp.get("/instances/<id:instance_id>")
@login_required
def get_instance(instance_id: int):
    instance = services.tasks().instance_for(current(), instance_id)
    return jsonify(_instance_body(instance))


def _instance_body(instance) -> dict:
    body = InstanceSchema().dump(instance)
    body["case_file"] = [{"id": i.id, "process_key": i.process_key, "process_name": i.definition.name,
                          "status": i.status, "started_at": i.started_at.isoformat(),
                          "unit": i.unit.code if i.unit else None}
                         for i in services.tasks().case_file(current(), instance)]
    body["open_tasks"] = TaskSchema(many=True).dump(_annotate(services.tasks().open_tasks(instance.id)))
    body["history"] = AuditSchema(many=True).dump(history.for_instance(db.session, instance.id))
    return body


@bp.post("/messages")
@login_required
def external_message():
    """A message from another system (e.g. a 12345 hotline clue) starting a procedure for a unit the
    caller may act for."""
    from flask import current_app
    from .schemas import MessageSchema
    user = _require_roles(services.EXTERNAL_SENDERS)
    body = MessageSchema().load(_json())
    if body["name"] not in current_app.config["EXTERNAL_MESSAGES"]:
        raise ValidationError({"name": [gettext("This message cannot be sent from outside")]})
    payload = body["payload"]
    if not payload.get("case_number") or not payload.get("case_unit"):
        raise ValidationError({"payload": [gettext("case_number and case_unit are required")]})
    instance = services.receive_external(user, body["name"], payload)
    answer = _instance_body(instance) if instance else {"queued": True}
    db.session.commit()
    return jsonify(answer), 201


# -- tasks ----------------------------------------------------------------------------------------------
TASK_PAGE, MAX_TASK_PAGE, MAX_OFFSET = 100, 500, 1_000_000    # /api/tasks: rows per page by default, at most


@bp.get("/tasks")
@login_required
def list_tasks():
    scope = request.args.get("scope", "all")
    status = request.args.get("status", "open")
    if scope not in ("mine", "group", "all") or status not in ("open", "completed", "cancelled", "any"):
        raise ValidationError({"scope": [gettext("Unknown value")]})
    limit = arg_int("limit", TASK_PAGE, 1, MAX_TASK_PAGE)
    offset = arg_int("offset", 0, 0, MAX_OFFSET)
    rows, total = services.tasks().page(current(), scope, status, limit=limit, offset=offset)
    return jsonify(tasks=TaskSchema(many=True).dump(_annotate(rows)), total=total, limit=limit, offset=offset)


@bp.get("/queue")
@login_required
def assign_queue():
    """待分派: open tasks nobody can take that the caller may assign (supervision officers: their area;
    administrators: all), oldest first."""
    user = _require_roles({"supervision_officer", "admin"})
    return jsonify(tasks=TaskSchema(many=True).dump(_annotate(services.tasks().queue(user))))


@bp.get("/tasks/<uid:task_id>")
@login_required
def get_task(task_id: str):
    return jsonify(TaskSchema().dump(_annotate([services.tasks().get_for(current(), task_id)])[0]))


@bp.post("/tasks/<uid:task_id>/<action>")
@login_required
def task_action(task_id: str, action: str):
    svc = services.tasks()
    user = current()
    if action == "claim":
        task = svc.claim(user, task_id)
    elif action == "unclaim":
        task = svc.unclaim(user, task_id)
    elif action == "delegate":
        task = svc.delegate(user, task_id, DelegateSchema().load(_json())["username"])
    elif action == "complete":
        task = svc.complete(user, task_id, CompleteSchema().load(_json())["data"])
    elif action == "assign":
        body = AssignSchema().load(_json())
        task = svc.assign(user, task_id, body["unit"], body.get("username"))
    else:
        return jsonify(message=gettext("Unknown action")), 404
    body = TaskSchema().dump(_annotate([task])[0])
    db.session.commit()
    return jsonify(body)


# -- documents of a case: uploads and the official documents (文书) the steps issued -----------------------
def _attachment_body(row, doc) -> dict:
    return {"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size,
            "uploaded_at": row.uploaded_at.isoformat(), "uploaded_by": row.uploaded_by.display_name,
            "task_id": row.task_id, "instance_id": row.instance_id,
            "document": None if doc is None else {"kind": doc.kind, "title": doc.title, "doc_number": doc.doc_number,
                                                  "issued_at": doc.issued_at.isoformat(),
                                                  "unit": doc.unit.name}}


@bp.get("/instances/<id:instance_id>/documents")
@login_required
def instance_documents(instance_id: int):
    """The files of a case (every procedure of it the caller may see), official documents with their 文号."""
    from engine.documents import by_attachment

    from .forms_web import store
    instance = services.tasks().instance_for(current(), instance_id)
    rows = [a for m in services.tasks().case_file(current(), instance) for a in store().for_instance(m.id)]
    issued = by_attachment(db.session, [a.id for a in rows])
    return jsonify(documents=[_attachment_body(a, issued.get(a.id)) for a in rows])


@bp.get("/attachments/<uid:attachment_id>")
@login_required
def download_attachment(attachment_id: str):
    """The file itself (``?inline=1``: shown rather than downloaded, for PDFs and images)."""
    from .views.documents import readable, send
    return send(readable(current(), attachment_id), inline=request.args.get("inline") == "1")


@bp.delete("/attachments/<uid:attachment_id>")
@login_required
def delete_attachment(attachment_id: str):
    from .forms_web import store
    store().delete(current(), attachment_id, services.clock().now())
    db.session.commit()
    return "", 204


@bp.post("/attachments/<uid:attachment_id>/replace")
@login_required
def replace_attachment(attachment_id: str):
    from engine.errors import InvalidInput

    from .forms_web import store
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput(N_("Invalid input"), fields={"file": [gettext("Choose the file that is to take its place.")]})
    row = store().replace(current(), attachment_id, upload.filename, upload.read(), services.clock().now())
    body = _attachment_body(row, None)
    db.session.commit()
    return jsonify(body)


# -- SLA: notifications, timers ------------------------------------------------------------------------
def _annotate(tasks):
    from .views.common import annotate
    return annotate(tasks)


@bp.get("/notifications")
@login_required
def notifications():
    from engine import notifications as notes
    from .schemas import NotificationSchema
    rows = notes.for_user(db.session, current(), unread_only=request.args.get("unread") == "1")
    _annotate([n.task for n in rows])
    return jsonify(notifications=NotificationSchema(many=True).dump(rows),
                   unread=sum(1 for n in rows if n.read_at is None))


@bp.get("/notifications/summary")
@login_required
def notification_summary():
    """What the bell shows, polled by every page: the unread count and the newest notification's id."""
    from sqlalchemy import func, select
    from engine import notifications as notes
    from engine.models import Notification
    user = current()
    latest = db.session.scalar(select(func.max(Notification.id)).where(Notification.user_id == user.id))
    return jsonify(unread=notes.unread_count(db.session, user), latest=latest)


@bp.post("/notifications/<id:notification_id>/read")
@login_required
def notification_read(notification_id: int):
    from engine import notifications as notes
    from .schemas import NotificationSchema
    note = notes.mark_read(db.session, current(), notification_id, services.clock().now())
    _annotate([note.task])
    body = NotificationSchema().dump(note)
    db.session.commit()
    return jsonify(body)


@bp.get("/timers")
@login_required
def timers():
    """Waiting timers of the cases a supervisor oversees, soonest first."""
    from engine.models import ProcessInstance, Timer
    from engine.org import Directory
    from .schemas import TimerSchema
    user = _require_roles({"supervision_officer", "admin"})
    stmt = select(Timer).join(ProcessInstance).where(Timer.status == "waiting")
    before = arg_datetime("due_before")
    if before is not None:
        stmt = stmt.where(Timer.due_at <= before)
    area = Directory(db.session).supervised_area(user)
    if area is not None:
        stmt = stmt.where(ProcessInstance.unit_id.in_(area))
    rows = db.session.scalars(stmt.order_by(Timer.due_at).limit(1000)).all()
    return jsonify(timers=TimerSchema(many=True).dump(rows))


# -- calendar administration ----------------------------------------------------------------------------
@bp.get("/calendar/<year:year>")
@login_required
def calendar_year(year: int):
    from engine.calendar import check_year, year_overrides
    from engine.models import CalendarYear
    from .schemas import HolidaySchema
    check_year(year)
    covered = db.session.get(CalendarYear, year)
    return jsonify(year=year, covered=covered is not None, source=covered.source if covered else None,
                   days=HolidaySchema(many=True).dump(year_overrides(db.session, year)))


@bp.put("/calendar/days/<day>")
@login_required
def calendar_day(day: str):
    from engine.calendar import set_day
    from .schemas import HolidaySchema
    user = _require_roles({"admin"})
    body = HolidaySchema().load({**_json(), "day": day})
    row = set_day(db.session, body["day"], body["is_workday"], body.get("name"))
    history.record(db.session, services.clock().now(), "calendar_day_set", actor=user.username,
                   data={"day": day, "is_workday": body["is_workday"], "name": body.get("name")})
    answer = HolidaySchema().dump(row)
    db.session.commit()
    return jsonify(answer)


@bp.put("/calendar/years/<year:year>")
@login_required
def calendar_set_year(year: int):
    from engine.calendar import check_year
    from engine.provisional import enter_year
    from .schemas import CalendarYearSchema
    user = _require_roles({"admin"})
    check_year(year)
    body = CalendarYearSchema().load(_json())
    count, report = enter_year(db.session, services.clock(), year, body["days"], actor=user.username)
    db.session.commit()
    return jsonify(year=year, days=count, recomputed=report.counts())


# -- timer incidents (administrators) ---------------------------------------------------------------------
def _incident_body(incident) -> dict:
    from .views.incidents import error_text, step_label
    row, instance = incident.timer, incident.instance
    iso = lambda dt: dt.isoformat() if dt else None   # noqa: E731
    return {"id": row.id, "instance_id": instance.id, "business_key": instance.business_key,
            "process_key": instance.process_key, "process_name": incident.process_name,
            "element_id": row.element_id, "step": step_label(incident), "status": row.status,
            "due_at": iso(row.due_at), "attempts": row.attempts, "error": error_text(row.last_error),
            "error_class": row.last_error_class, "error_detail": (row.last_error or {}).get("detail"),
            "first_failed_at": iso(row.first_failed_at), "last_failed_at": iso(row.last_failed_at),
            "incident_at": iso(row.incident_at)}


@bp.get("/incidents")
@login_required
def incidents():
    """Open timer incidents: timers that failed on every attempt and wait for an administrator."""
    from engine.incidents import list_open
    _require_roles({"admin"})
    return jsonify(incidents=[_incident_body(i) for i in list_open(db.session)])


@bp.post("/incidents/<id:timer_id>/<action>")
@login_required
def incident_action(timer_id: int, action: str):
    """``retry`` (attempts reset, due now) or ``cancel`` (the timer is withdrawn); both audited."""
    from engine import incidents as inc
    user = _require_roles({"admin"})
    if action not in ("retry", "cancel"):
        return jsonify(message=gettext("Unknown action")), 404
    row = (inc.retry if action == "retry" else inc.cancel)(db.session, timer_id, services.clock().now(),
                                                           user.username)
    body = dict(id=row.id, status=row.status, attempts=row.attempts, due_at=row.due_at.isoformat(),
                incident=row.incident_at is not None and row.status == "waiting")
    db.session.commit()
    return jsonify(body)


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document of this API (generated from the routes and the marshmallow schemas)."""
    from flask import current_app
    from .openapi import document
    return jsonify(document(current_app))


@bp.get("/docs")
def openapi_page():
    """The API document, browsable (Swagger UI, served by the app)."""
    from flask import render_template
    return render_template("api_docs.html")


@bp.get("/health")
def health():
    """Liveness plus warnings an operator must act on: next year's holidays missing, no recent successful
    scheduler tick, open timer incidents."""
    from flask import current_app
    from engine.calendar import LOCAL_TZ
    from engine.jobs import calendar_warning, scheduler_health
    db.session.execute(select(1))
    now = services.clock().now()
    warnings = []
    warning = calendar_warning(db.session, now.astimezone(LOCAL_TZ).date())
    if warning:
        warnings.append(gettext(warning[0]) % warning[1])
    sched = scheduler_health(db.session, now, current_app.config["SCHEDULER_POLL_SECONDS"],
                             current_app.config["SCHEDULER_EXPECTED"])
    if sched.stale:
        warnings.append(gettext("The timer scheduler has not completed a run recently: timers and deadlines are "
                                "not being processed"))
    if sched.open_incidents:
        warnings.append(gettext("%(n)s timers failed repeatedly and wait for an administrator (timer incidents)")
                        % {"n": sched.open_incidents})
    db.session.rollback()
    return jsonify(status="warning" if warnings else "ok", warnings=warnings,
                   scheduler={"last_tick_at": sched.last_ok_at.isoformat() if sched.last_ok_at else None,
                              "last_attempted_tick_at": sched.last_tick_at.isoformat() if sched.last_tick_at else None,
                              "stale": sched.stale, "max_age_seconds": 3 * current_app.config["SCHEDULER_POLL_SECONDS"]},
                   incidents=sched.open_incidents)


from . import api_casework  # noqa: E402,F401  (case search, 撤回/撤销, 催办, batch work: routes of this blueprint)
from .api_personnel import bp as personnel_bp  # noqa: E402  (the personnel register: /api/personnel…)
bp.register_blueprint(personnel_bp)
# -- outside oversight (issue 12): registers, findings, expert opinions — web/api_oversight.py ---------------------
from .api_oversight import bp as _oversight_bp  # noqa: E402

bp.register_blueprint(_oversight_bp)
# -- contact points, surveys and the assessment (issue 12 §3–4): their own module, nested in this blueprint
from .api_assessment import bp as _assessment_bp  # noqa: E402

bp.register_blueprint(_assessment_bp)
