"""Documents of a case on the pages: the preview shown inside the case and task pages (PDF in an <iframe>,
images), and deleting or replacing one's own upload before its step is completed. The official documents
themselves are issued by the steps (engine/documents.py, the forms' ``issues:``)."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _

from engine import documents as engine_documents
from engine.errors import EngineError

from .. import services
from ..extensions import db
from ..forms_web import store
from .common import check_csrf, me, safe_next, signed_in

bp = Blueprint("documents", __name__)
log = logging.getLogger(__name__)

# the preview is framed by this site's own pages only; it is a PDF or an image (never HTML: the type comes
# from the extension's whitelist), so it needs no script or style of its own
PREVIEW_HEADERS = {"Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                                              "object-src 'self'; frame-ancestors 'self'",
                   "X-Frame-Options": "SAMEORIGIN"}


def readable(user, att_id: str):
    """An attachment ``user`` may read: one of a case they may see, or their own upload not yet bound."""
    files = store()
    row = files.get(att_id)
    if row.instance_id is None:
        if row.uploaded_by_id != user.id:
            from engine.errors import N_, NotFound
            raise NotFound(N_("No such document"))
    else:
        services.tasks().instance_for(user, row.instance_id)
    return row


def send(row, inline: bool):
    files = store()
    try:
        content = files.open(row)
    except FileNotFoundError:
        log.error("the bytes of attachment %s (sha256 %s) are missing from the attachment storage", row.id,
                  row.sha256, extra={"attachment_id": row.id, "instance_id": row.instance_id})
        abort(404)
    inline = inline and files.previewable(row.filename)
    response = send_file(content, mimetype=files.content_type(row.filename), as_attachment=not inline,
                         download_name=row.filename)
    if inline:
        response.headers.update(PREVIEW_HEADERS)
    return response


@bp.get("/documents/<uid:att_id>/preview")
@signed_in
def preview(att_id: str):
    """The file shown in the page (PDFs and images); anything else is downloaded."""
    try:
        row = readable(me(), att_id)
    except EngineError:
        abort(404)
    return send(row, inline=True)


def _back(row) -> str:
    default = url_for("task.show", task_id=row.task_id) if row.task_id else url_for("inbox.index")
    return safe_next(request.form.get("next"), default)


@bp.post("/documents/<uid:att_id>/delete")
@signed_in
def delete(att_id: str):
    check_csrf()
    try:
        row = store().delete(me(), att_id, services.clock().now())
        target = _back(row)
        db.session.commit()
        flash(_("“%(name)s” was deleted.", name=row.filename), "success")
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.render(_)["message"], "error")
        target = safe_next(request.form.get("next"), url_for("inbox.index"))
    return redirect(target)


@bp.post("/documents/<uid:att_id>/replace")
@signed_in
def replace(att_id: str):
    check_csrf()
    upload = request.files.get("file")
    target = safe_next(request.form.get("next"), url_for("inbox.index"))
    if upload is None or not upload.filename:
        flash(_("Choose the file that is to take its place."), "error")
        return redirect(target)
    try:
        row = store().replace(me(), att_id, upload.filename, upload.read(), services.clock().now())
        db.session.commit()
        flash(_("Replaced by “%(name)s”.", name=row.filename), "success")
    except EngineError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.render(_)["message"], "error")
    return redirect(target)


def issued_by_attachment(attachments) -> dict:
    """attachment id -> its IssuedDocument, for the documents the steps issued (文号, kind)."""
    return engine_documents.by_attachment(db.session, [a.id for a in attachments])
