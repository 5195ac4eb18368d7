"""Start a procedure: the ones my roles may start, each with its start form."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import N_, EngineError, InvalidInput
from forms import default_registry

from .. import services
from ..extensions import db
from ..forms_web import attachment_names, parse, pickers, store
from .common import check_csrf, me, signed_in

bp = Blueprint("start", __name__)


def _startable():
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
    return render_template("start_list.html", items=_startable())


@bp.route("/start/<key>", methods=["GET", "POST"])
@signed_in
def form(key: str):
    found = [(d, f) for d, f in _startable() if d.key == key]
    if not found:
        abort(404)
    definition, start_form = found[0]
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        check_csrf()
        business_key = request.form.get("business_key", "").strip() or None
        try:
            if business_key and len(business_key) > 128:           # the column's width
                raise InvalidInput(N_("The business key can have at most %(max)s characters"), max=128)
            values = parse(start_form, me())
            db.session.commit()       # uploads are kept unbound (the uploader's only) if the form is refused
            instance = services.runtime().start(key, business_key=business_key or values.get("case_number"),
                                                data=values, user=me(), validate=services.start_validator(me()))
            for f in start_form.fields:
                if f.type == "files":
                    store().bind(values.get(f.name) or [], me(), instance.id, None)
            db.session.commit()
            flash(_("Started: %(name)s %(key)s.", name=definition.name, key=instance.business_key or ""), "success")
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
