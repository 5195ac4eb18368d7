"""Process designers: the modeler, validation, deployment, versions, diff, migration, downloads.
Only users with the designer (or admin) role; every deployment and migration is audited."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine import versions
from engine.errors import EngineError
from engine.errors import N_
from engine.models import OrgUnit, ProcessDefinition, ProcessInstance, Role
from engine.org import Directory
from forms import default_registry

from .. import display, services
from ..edge import arg_id, as_id
from ..extensions import db
from .common import check_csrf, me, roles_of, signed_in

bp = Blueprint("designer", __name__)
DESIGNERS = {"process_designer", "admin"}


def _designer():
    if not roles_of(me()) & DESIGNERS:
        abort(403)


def _definition(key: str, version: int | None) -> ProcessDefinition:
    row = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                             ProcessDefinition.version == version)) if version else None
    if row is None:
        abort(404)
    return row


def meta() -> dict:
    """What the properties panel offers: roles, forms, the routing and time helpers."""
    helpers = sorted(set(Directory(db.session).helpers()) | {
        "case_unit", "add_working_days", "working_days_between", "working_days", "calendar_days", "hours",
        "deadline", "end_of_day", "start_of_day", "end_of_working_day", "add_days", "now", "initiator_unit",
        "handlers_of_case", "procedures_of_case", "new_id", "step_done"})
    return {"roles": [{"code": r.code, "name": r.name} for r in db.session.scalars(select(Role).order_by(Role.code))],
            "forms": sorted(({"key": f.key, "title": f.title} for f in default_registry().forms.values()),
                            key=lambda f: f["key"]),
            "helpers": helpers}


@bp.get("/designer")
@signed_in
def index():
    _designer()
    definitions = services.repository().list_latest()
    return render_template("designer/index.html", definitions=definitions)


TIER_LABELS = {"city": N_("City level"), "county": N_("County level"), "township": N_("Township level")}
KIND_LABELS = {"government": N_("People's governments"), "justice_bureau": N_("Justice bureaus"),
               "justice_office": N_("Justice offices (司法所)"), "enforcement_dept": N_("Enforcement departments"),
               "enforcement_team": N_("Comprehensive enforcement teams"), "police": N_("Public security organs"),
               "establishment_office": N_("Establishment offices")}


@bp.get("/designer/org-check")
@signed_in
def org_check():
    """For the deployed procedures and the loaded organisation: every role × kind of unit a step can be
    routed to where no active user holds the role (see engine.route_check), routing failures, and steps the
    check could not evaluate."""
    _designer()
    keys = [k for k in request.args.getlist("process") if k][:100] or None    # ?process=KEY: only these
    report = services.route_check(keys)
    role_names = {r.code: r.name for r in db.session.scalars(select(Role))}
    units = {u.code: u.name for u in db.session.scalars(select(OrgUnit))}
    label = lambda table, key: _(table[key]) if key in table else key  # noqa: E731
    return render_template("designer/org_check.html", report=report, groups=report.gap_groups(),
                           role_names=role_names, unit_names=units, tier=lambda k: label(TIER_LABELS, k),
                           kind=lambda k: label(KIND_LABELS, k), message=lambda f: _(f.msgid) % f.params)


@bp.get("/designer/modeler")
@signed_in
def modeler():
    """Open a deployed version (key, version) or a new diagram."""
    _designer()
    key, version = request.args.get("key"), arg_id("version")
    definition = None
    if key:
        definition = _definition(key, version) if version else services.repository().latest(key, missing_ok=True)
        if definition is None:
            abort(404)
    source = None
    if definition is not None:
        source = next((f for f in definition.deployment.files
                       if f.filename.endswith(".bpmn") and f'id="{definition.key}"' in f.content), None)
    return render_template("designer/modeler.html", definition=definition, source=source, meta=meta(),
                           decision_tables=_decision_tables())


def _decision_tables():
    """The newest deployed file of each decision table (DMN), for the modeler's links to the DMN editor."""
    from engine.models import DeploymentFile
    newest: dict[str, DeploymentFile] = {}
    for f in db.session.scalars(select(DeploymentFile).where(DeploymentFile.filename.like("%.dmn"))
                                .order_by(DeploymentFile.id)):
        newest[f.filename] = f
    return sorted(newest.values(), key=lambda f: f.filename)


@bp.get("/designer/dmn")
@signed_in
def dmn_editor():
    """Open a deployed DMN file (``?file=<deployment file id>``) or a new decision table."""
    from engine.models import DeploymentFile
    _designer()
    source = None
    if request.args.get("file"):
        file_id = arg_id("file")
        source = db.session.get(DeploymentFile, file_id) if file_id else None
        if source is None or not source.filename.endswith(".dmn"):
            abort(404)
    return render_template("designer/dmn.html", source=source)


@bp.get("/designer/<key>/versions")
@signed_in
def version_list(key: str):
    _designer()
    rows = db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                              .order_by(ProcessDefinition.version.desc())).all()
    if not rows:
        abort(404)
    return render_template("designer/versions.html", key=key, rows=rows,
                           counts=versions.instance_counts(db.session, key))


@bp.get("/designer/<key>/diff")
@signed_in
def diff(key: str):
    _designer()
    a = _definition(key, arg_id("a"))
    b = _definition(key, arg_id("b"))
    return render_template("designer/diff.html", key=key, a=a, b=b, result=versions.diff(a, b))


@bp.route("/designer/<key>/migrate", methods=["GET", "POST"])
@signed_in
def migrate(key: str):
    _designer()
    source = _definition(key, arg_id("from", request.values))
    target = services.repository().latest(key)
    runtime = services.runtime()
    if request.method == "POST":
        check_csrf()
        moved, refused = [], []
        for instance_id in request.form.getlist("instance"):
            instance_id = as_id(instance_id)
            instance = db.session.get(ProcessInstance, instance_id) if instance_id else None
            if instance is None or instance.definition_id != source.id:
                continue
            try:
                versions.migrate(runtime, instance, target, actor=me().username)
                db.session.commit()
                moved.append(display.case_name(instance))
            except EngineError as exc:
                db.session.rollback()
                refused.append(f"{display.case_name(instance)}: {exc.render(_)['message']}")
        if moved:
            flash(_("Moved to version %(v)s: %(cases)s", v=target.version, cases="、".join(moved)), "success")
        for line in refused:
            flash(line, "error")
        return redirect(url_for("designer.migrate", key=key, **{"from": source.version}))
    running = db.session.scalars(select(ProcessInstance).where(ProcessInstance.definition_id == source.id,
                                                               ProcessInstance.status == "running")).all()
    previews = [versions.preview(runtime, i, target) for i in running] if target.id != source.id else []
    return render_template("designer/migrate.html", key=key, source=source, target=target, previews=previews)


@bp.get("/designer/definitions/<id:definition_id>/source.bpmn")
@signed_in
def source(definition_id: int):
    """The BPMN file that defines this version's process (for the viewers and the modeler)."""
    _designer()
    definition = db.session.get(ProcessDefinition, definition_id) or abort(404)
    return Response(versions.source_of(definition), mimetype="application/xml")


@bp.get("/designer/definitions/<id:definition_id>/<path:filename>")
@signed_in
def download(definition_id: int, filename: str):
    _designer()
    definition = db.session.get(ProcessDefinition, definition_id) or abort(404)
    for f in definition.deployment.files:
        if f.filename == filename:
            mimetype = "application/xml"
            return Response(f.content, mimetype=mimetype,
                            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"})
    abort(404)
