"""Between HTML form posts and form definitions: choices for pickers, parsing a post into typed data,
saving uploaded files, and which fields the case data hides."""
from __future__ import annotations

import re

from flask import current_app, request
from sqlalchemy import select

from engine.attachments import AttachmentStore, BlobStore, DatabaseBlobs, FileBlobs
from engine.models import OrgUnit, User
from forms import Form

from . import services
from .extensions import db


def blobs(session=None, config=None) -> BlobStore:
    """Where this installation keeps the bytes of attachments (ATTACHMENT_STORAGE)."""
    cfg = config or current_app.config
    if cfg["ATTACHMENT_STORAGE"] == "database":
        return DatabaseBlobs(session or db.session)
    return FileBlobs(cfg["ATTACHMENT_DIR"])


def store() -> AttachmentStore:
    cfg = current_app.config
    return AttachmentStore(db.session, blobs(), cfg["ATTACHMENT_MAX_BYTES"], tuple(cfg["ATTACHMENT_TYPES"]))


def pickers(form: Form, case_data: dict | None = None) -> dict:
    """Options for unit and user fields; a user field with ``user_role`` offers only the active holders of
    that role (at the unit its ``user_unit`` case variable names), under ``users:<field>``."""
    from engine.models import RoleAssignment
    out = {}
    for f in form.fields:
        if f.type == "group":               # the items the group is asked for (e.g. a contact point's units)
            out[f"group:{f.name}"] = [i for i in (case_data or {}).get(f.repeat_for) or [] if isinstance(i, dict)]
    if any(f.type == "unit" for f in form.fields):
        out["units"] = db.session.execute(select(OrgUnit.code, OrgUnit.name, OrgUnit.kind).order_by(OrgUnit.code)).all()
    if any(f.type == "user" and not f.user_role for f in form.fields):
        out["users"] = db.session.execute(select(User.username, User.display_name).where(User.active.is_(True))
                                          .order_by(User.username)).all()
    for f in form.fields:
        if f.type == "user" and f.user_role:
            stmt = select(User.username, User.display_name).join(RoleAssignment).where(
                User.active.is_(True), RoleAssignment.role_code == f.user_role)
            unit = (case_data or {}).get(f.user_unit) if f.user_unit else None
            if unit:
                stmt = stmt.join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id).where(OrgUnit.code == unit)
            out[f"users:{f.name}"] = db.session.execute(stmt.distinct().order_by(User.username)).all()
    return out


def parse(form: Form, user) -> dict:
    """The posted values as the form's schema expects them; uploaded files are stored — unbound, visible to
    the uploader only, until ``store().bind`` attaches them to the case of an accepted form — and replaced
    by their ids."""
    data: dict = {}
    for f in form.fields:
        if f.readonly:
            continue
        if f.type == "multi_choice":
            values = request.form.getlist(f.name)
            if values:
                data[f.name] = values
        elif f.type == "group":
            data[f.name] = _group_post(f)
        elif f.type == "files":
            ids = [v for v in request.form.getlist(f.name) if v]
            for upload in request.files.getlist(f"{f.name}__upload"):
                if upload and upload.filename:
                    row = store().save(user, upload.filename, upload.read(), None, services.clock().now())
                    ids.append(row.id)
            if ids:
                data[f.name] = ids
        elif f.name in request.form:
            value = request.form.get(f.name, "")
            if f.type == "integer" and re.fullmatch(r"\s*-?\d{1,18}\s*", value):   # longer: refused as text
                value = int(value)
            data[f.name] = value
    return data


def _group_post(f) -> list[dict]:
    """``name.index.__key`` and ``name.index.field`` inputs as the list of per-item answers."""
    rows: dict[int, dict] = {}
    prefix = f"{f.name}."
    for key in request.form:
        if not key.startswith(prefix):
            continue
        index, _, sub = key[len(prefix):].partition(".")
        if not index.isdigit() or len(index) > 4:
            continue
        if sub == "__key":
            rows.setdefault(int(index), {})[f.item_key] = request.form.get(key, "")
        elif any(s.name == sub for s in f.fields):
            rows.setdefault(int(index), {})[sub] = request.form.get(key, "")
    return [rows[i] for i in sorted(rows)]


def hidden_by_case(form: Form, case_data: dict) -> set[str]:
    """Fields whose visibility depends on case data (not on the form) and which are hidden for this case."""
    names = {f.name for f in form.fields}
    return {f.name for f in form.fields
            if f.visible_if is not None and f.visible_if.field not in names and not f.visible_if.holds(case_data)}


def attachment_names(ids: list[str]) -> dict[str, str]:
    from engine.models import Attachment
    if not ids:
        return {}
    return dict(db.session.execute(select(Attachment.id, Attachment.filename).where(Attachment.id.in_(ids))).all())
