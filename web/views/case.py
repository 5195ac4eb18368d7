"""The case page: what the case is, who did what when, its documents, its open tasks, and the diagram
with the steps done and the current step highlighted."""
from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Response, abort, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from SpiffWorkflow.util.task import TaskState

from engine import history
from engine.errors import N_, EngineError
from engine.models import HumanTask, OrgUnit, User
from forms import default_registry

from .. import display, services
from ..extensions import db
from ..forms_web import store
from .common import annotate, local, me, signed_in

bp = Blueprint("case", __name__)
log = logging.getLogger(__name__)

ACTIONS = {
    "instance_started": N_("Case started"), "task_created": N_("Task offered"), "task_claimed": N_("Task claimed"),
    "task_unclaimed": N_("Task given back"), "task_delegated": N_("Task delegated"), "task_completed": N_("Task completed"),
    "task_cancelled": N_("Task withdrawn"), "timer_fired": N_("Time limit reached"), "task_escalated": N_("Escalated"),
    "task_due_soon": N_("Due soon"), "task_overdue": N_("Overdue"), "message_sent": N_("Message sent"),
    "message_received": N_("Message received"), "comment_added": N_("Comment"), "instance_completed": N_("Case closed"),
    "instance_terminated": N_("Case terminated"), "revisit_sampling": N_("Revisit draw"),
    "message_received_external": N_("Message from another system"),
    "timer_incident": N_("Timer failed repeatedly (incident)"),
    "timer_incident_retried": N_("Failed timer retried"), "timer_incident_cancelled": N_("Failed timer cancelled"),
    "deadlines_recomputed": N_("Provisional deadlines recomputed with the holiday calendar"),
    "instance_withdrawn": N_("Case withdrawn"), "instance_cancelled": N_("Case cancelled"), "task_urged": N_("Urged"),
    "document_issued": N_("Document issued"), "attachment_deleted": N_("File deleted"),
    "attachment_replaced": N_("File replaced"),
    "finding_recorded": N_("Finding recorded by an invited supervisor"),
}

REVISIT = "case_revisit"          # a closed case's page offers to start its revisit
REVISIT_PROCEDURES = {"case_revisit", "revisit_closed", "revisit_clue", "revisit_quarterly", "discipline_referral"}

SYSTEM_ACTORS = {"timer": N_("Scheduler"), "scheduler": N_("Scheduler"), "system": N_("System")}


def _load(instance_id: int):
    try:
        return services.tasks().instance_for(me(), instance_id)
    except EngineError:
        abort(404)


def _labelled(form_key: str | None, data: dict) -> list[tuple[str, object]]:
    """Submitted form data as (label, value) in the page's language (see web.display.labelled)."""
    return display.labelled(form_key, data)


def _recomputed(changes: list[dict]) -> list[tuple[str, str]]:
    """What a recomputation moved, as (step, "old → new"): task deadlines, reminders and timers (case-data
    variables are internal names and stay in the audit record)."""
    out = []
    for change in changes:
        what = change.get("what")
        if what not in ("due", "remind", "timer"):
            continue
        name = change.get("name") or _("Time limit")
        label = _("%(step)s: reminder", step=name) if what == "remind" else name
        try:
            moved = f"{local(datetime.fromisoformat(change['from']))} → {local(datetime.fromisoformat(change['to']))}"
        except (KeyError, TypeError, ValueError):
            continue
        out.append((label, _("%(time)s (provisional)", time=moved) if change.get("provisional") else moved))
    return out


def _steps(instance) -> tuple[list[str], list[str]]:
    """Element ids done and element ids waiting, read from the workflow."""
    from engine.serialization import done_in_pruned
    workflow = services.runtime().load(instance)
    done, current = done_in_pruned(workflow), set()     # with what finished loop rounds did
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        if task.state == TaskState.COMPLETED:
            done.add(bpmn_id)
        elif task.state in (TaskState.READY, TaskState.STARTED, TaskState.WAITING):
            current.add(bpmn_id)
    return sorted(done - current), sorted(current)


@bp.get("/cases/<id:instance_id>")
@signed_in
def show(instance_id: int):
    instance = _load(instance_id)
    members = services.tasks().case_file(me(), instance)      # the case's instances this user may read
    several = len(members) > 1
    events = sorted(((e, m) for m in members for e in history.for_instance(db.session, m.id)),
                    key=lambda pair: (pair[0].at, pair[0].id))
    all_tasks = {t.id: t for t in db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id.in_([m.id for m in members])))}
    tasks = {k: t for k, t in all_tasks.items() if t.instance_id == instance.id}
    users = {u.username: u.display_name for u in db.session.scalars(
        select(User).where(User.username.in_({e.actor for e, _m in events if e.actor})))}
    start_forms = {m.id: services.runtime().start_properties(m.definition).get("formKey") for m in members}
    timeline = []
    for e, member in events:
        data = e.data or {}
        task = all_tasks.get(e.task_id) if e.task_id else None
        if e.action == "task_completed":
            details = _labelled(task.form_key if task else None, data.get("data"))
        elif e.action == "instance_started":
            details = _labelled(start_forms.get(member.id), data.get("data"))
        else:
            details = []
        if e.action == "deadlines_recomputed":
            details = _recomputed(data.get("changes") or [])
        if e.action in ("instance_withdrawn", "instance_cancelled") and data.get("reason"):
            details = [(_("Reason"), data["reason"])]
        if e.action == "comment_added":
            details = [(_("Comment"), data.get("text"))]
        if e.action == "document_issued":
            details = [(data.get("title") or _("Document"), data.get("doc_number"))]
        timeline.append({"at": e.at, "who": users.get(e.actor) or (_(SYSTEM_ACTORS[e.actor]) if e.actor in SYSTEM_ACTORS else display.person(e.actor)), "what": _(ACTIONS.get(e.action, e.action)),
                         "step": data.get("name") or (task.name if task else data.get("element_id")),
                         "details": details, "procedure": member.definition.name if several else None,
                         "instance_id": member.id})
    unit_ids = {t.unit_id for t in tasks.values() if t.unit_id} | ({instance.unit_id} if instance.unit_id else set())
    units = db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(unit_ids)).order_by(OrgUnit.code)).all()
    open_tasks = annotate([t for t in tasks.values() if t.status == "open"])
    try:
        done, current = _steps(instance)
    except Exception:              # a case whose state cannot be loaded (a timer incident) still shows its record
        log.exception("case %s: the workflow state could not be loaded", instance.id)
        done, current = [], []
    documents = [d for m in members for d in store().for_instance(m.id)]
    sent = {v for m in members for value in display.start_data(m, sent_only=True).values() if isinstance(value, list)
            for v in value if isinstance(v, str)} - {d.id for d in documents}
    if sent:          # files another unit sent along with the message that started one of these cases
        from engine.models import Attachment
        documents += list(db.session.scalars(select(Attachment).where(Attachment.id.in_(sent),
                                                                      Attachment.instance_id.is_not(None))))
    revisit = None
    if instance.status == "completed" and instance.process_key not in REVISIT_PROCEDURES:
        from .start import startable
        if any(d.key == REVISIT for d, _f in startable()):
            revisit = url_for("start.form", key=REVISIT, **{"from": instance.id})
    summary = display.labelled("case_basics", display.start_data(instance))
    from .documents import issued_by_attachment
    from .oversight import case_extras
    return render_template("case.html", instance=instance, revisit=revisit, summary=summary, timeline=timeline, units=units, open_tasks=open_tasks,
                           documents=documents, issued=issued_by_attachment(documents), comments=services.tasks().comments(instance.id),
                           done=done, current=current, case_file=members if several else [],
                           **case_extras(instance, members))


@bp.get("/cases/<id:instance_id>/diagram.bpmn")
@signed_in
def diagram(instance_id: int):
    """The BPMN file of the case's version: the one defining its process."""
    instance = _load(instance_id)
    for f in instance.definition.deployment.files:
        if f'id="{instance.process_key}"' in f.content and f.filename.endswith(".bpmn"):
            return Response(f.content, mimetype="application/xml")
    abort(404)
