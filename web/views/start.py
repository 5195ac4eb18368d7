"""Start a procedure: the ones my roles may start, each with its start form."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.errors import N_, EngineError, InvalidInput
from forms import default_registry

from .. import display, services
from ..extensions import db
from ..forms_web import attachment_names, parse, pickers, store
from .common import check_csrf, me, signed_in

bp = Blueprint("start", __name__)


def startable():
    runtime = services.runtime()
    out = []
    for definition in services.repository().list_latest():
        props = runtime.start_properties(definition)
        if props.get("formKey") and runtime.may_start(me(), definition):
            out.append((definition, default_registry().get(props["formKey"])))
    return out


@bp.get("/start")
@signed_in
def index():
    return render_template("start_list.html", items=startable(),
                           may_enter_clue=bool(services.EXTERNAL_SENDERS & {ra.role_code for ra in me().roles}))


@bp.route("/start/<key>", methods=["GET", "POST"])
@signed_in
def form(key: str):
    found = [(d, f) for d, f in startable() if d.key == key]
    if not found:
        abort(404)
    definition, start_form = found[0]
    values, errors, status = {}, {}, 200
    if request.method == "GET" and request.args.get("from"):
        values = _carried(start_form, request.args.get("from", ""))
    if request.method == "POST":
        check_csrf()
        business_key = request.form.get("business_key", "").strip() or None
        try:
            if business_key and len(business_key) > 128:           # the column's width
                raise InvalidInput(N_("The business key can have at most %(max)s characters"), max=128)
            refused: dict = {}
            values = parse(start_form, me(), refused)
            db.session.commit()       # uploads are kept unbound (the uploader's only) if the form is refused
            if refused:
                raise InvalidInput(N_("The form has errors; see the messages next to the fields"), fields=refused)
            instance = services.runtime().start(key, business_key=business_key or values.get("case_number"),
                                                data=values, user=me(), validate=services.start_validator(me()))
            for f in start_form.fields:
                if f.type == "files":
                    store().bind(values.get(f.name) or [], me(), instance.id, None)
            db.session.commit()
            flash(_("Started: %(name)s %(key)s.", name=definition.name, key=display.case_name(instance)), "success")
            return redirect(url_for("case.show", instance_id=instance.id))
        except InvalidInput as exc:
            db.session.rollback()
            errors = exc.fields or {"_": [exc.render(_)["message"]]}
            status = 422
        except EngineError as exc:
            db.session.rollback()
            errors = {"_": [exc.render(_)["message"]]}
            status = exc.status
    file_ids = [i for f in start_form.fields if f.type == "files" for i in (values.get(f.name) or [])]
    return render_template("start_form.html", definition=definition, form=start_form, values=values, errors=errors,
                           pickers=pickers(start_form), attachments=attachment_names(file_ids)), status


def _carried(start_form, source: str) -> dict:
    """A new case's start form filled from an earlier case the user may read (e.g. a revisit started from a
    closed case): the fields of the form that case's data holds, and who handled it."""
    from engine import casefile
    from engine.limits import is_db_id
    number = int(source) if source.isdigit() and len(source) <= 12 else None
    if not is_db_id(number):
        abort(404)
    try:
        earlier = services.tasks().instance_for(me(), number)
        data = services.runtime().data_of(earlier)
    except EngineError:
        abort(404)
    values = {f.name: data[f.name] for f in start_form.fields
              if not f.readonly and f.type != "files" and data.get(f.name) not in (None, "", [])}
    if start_form.field("case_handlers") is not None and earlier.business_key and not values.get("case_handlers"):
        values["case_handlers"] = ",".join(casefile.handlers(db.session, earlier.business_key))
    return values


CLUE_FORM, CLUE_MESSAGE = "revisit_clue_entry", "revisit_clue"


@bp.route("/clues/new", methods=["GET", "POST"])
@signed_in
def clue():
    """A 12345 hotline, 信访 or 复议应诉 clue entered on a page: the same message /api/messages takes from
    another system, starting a revisit at the unit concerned."""
    if not services.EXTERNAL_SENDERS & {ra.role_code for ra in me().roles}:
        abort(403)
    clue_form = default_registry().get(CLUE_FORM)
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        check_csrf()
        try:
            values = parse(clue_form, me())
            clean = services.start_validator(me())(CLUE_FORM, values)
            payload = {k: v for k, v in clean.items() if v is not None}
            instance = services.receive_external(me(), CLUE_MESSAGE, payload)
            db.session.commit()
            flash(_("Clue registered: %(key)s.", key=payload.get("case_number", "")), "success")
            if instance is not None:
                return redirect(url_for("case.show", instance_id=instance.id))
            return redirect(url_for("start.index"))
        except InvalidInput as exc:
            db.session.rollback()
            errors = exc.fields or {"_": [exc.render(_)["message"]]}
            status = 422
        except EngineError as exc:
            db.session.rollback()
            errors = {"_": [exc.render(_)["message"]]}
            status = exc.status
    return render_template("clue_form.html", form=clue_form, values=values, errors=errors,
                           pickers=_supervised_units(clue_form)), status


def _supervised_units(clue_form) -> dict:
    """The unit picker offers the user's own unit and those they supervise."""
    from engine.org import Directory
    options = pickers(clue_form)
    area = Directory(db.session).supervised_area(me())
    if area is not None:
        from engine.models import OrgUnit
        codes = set(db.session.scalars(select(OrgUnit.code).where(OrgUnit.id.in_(area | {me().unit_id}))))
        options["units"] = [u for u in options.get("units", []) if u[0] in codes]
    return options
