"""Between HTML form posts and form definitions: choices for pickers, parsing a post into typed data,
saving uploaded files, and which fields the case data hides."""
from __future__ import annotations

import re

from flask import current_app, request
from sqlalchemy import select

from engine.attachments import AttachmentStore, BlobStore, DatabaseBlobs, FileBlobs
from engine.models import OrgUnit, User
from engine.registers.experts import EXPERT_ROLE
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
        for f in form.fields:
            if f.type == "unit":
                out[f"units:{f.name}"] = unit_choices(f)
    # administrators administer the platform: they never hold a step, so no user picker offers them
    admins = select(RoleAssignment.user_id).where(RoleAssignment.role_code == "admin")
    if any(f.type == "user" and not f.user_role for f in form.fields):
        out["users"] = db.session.execute(select(User.username, User.display_name).where(
            User.active.is_(True), User.id.not_in(admins)).order_by(User.username)).all()
    if any(f.type == "matter" for f in form.fields):
        from flask_login import current_user
        out["matters"] = services.unit_matters(current_user.row.unit_id) if current_user.is_authenticated else []
    names = {f.name for f in form.fields}
    for f in form.fields:
        if f.type == "user" and f.user_role:
            stmt = select(User.username, User.display_name).join(RoleAssignment).where(
                User.active.is_(True), RoleAssignment.role_code == f.user_role, User.id.not_in(admins))
            unit = (case_data or {}).get(f.user_unit) if f.user_unit else None
            if unit:
                stmt = stmt.join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id).where(OrgUnit.code == unit)
            # people the field must differ from by the case data (e.g. who handled the case) cannot hold it
            barred: set[str] = set()
            for other, _label in f.differs_from:
                held = (case_data or {}).get(other) if other not in names else None
                barred.update(held if isinstance(held, list) else [held] if isinstance(held, str) else [])
            out[f"users:{f.name}"] = [row for row in db.session.execute(stmt.distinct().order_by(User.username)).all()
                                      if row[0] not in barred]
            if f.user_role == EXPERT_ROLE:       # experts: with their fields of expertise, active ones only
                out[f"users:{f.name}"] = expert_choices(out[f"users:{f.name}"])
    return out


def expert_choices(rows) -> list[tuple[str, str]]:
    """(user name, "name（fields of expertise）") of the active experts of the register among ``rows``."""
    from engine.registers.oversight_models import Expert
    found = {e.user.username: e for e in db.session.scalars(select(Expert).where(Expert.active.is_(True)))}
    return [(username, f"{found[username].name}（{'、'.join(found[username].fields or [])}）")
            for username, _name in rows if username in found]


def unit_choices(field) -> list[tuple[OrgUnit, bool]]:
    """The organisation tree of a unit field, as (unit, selectable) in tree order: the units the signed-in
    user may address with it (its ``unit_kinds``; with ``unit_scope: supervised`` only their own unit and the
    units they supervise), and the units above them as headings that cannot be chosen."""
    from flask_login import current_user
    from engine.org import Directory
    units = {u.id: u for u in db.session.scalars(select(OrgUnit))}
    allowed = {i for i, u in units.items() if not field.unit_kinds or u.kind in field.unit_kinds}
    if field.unit_scope == "supervised" and current_user.is_authenticated:
        area = Directory(db.session).supervised_area(current_user.row)
        if area is not None:
            allowed &= area | {current_user.row.unit_id}
    shown = set(allowed)
    for i in allowed:
        parent = units[i].parent_id
        while parent is not None and parent not in shown:
            shown.add(parent)
            parent = units[parent].parent_id
    from .views.casework import unit_tree_order
    return [(u, u.id in allowed) for u in unit_tree_order([units[i] for i in shown])]


def parse(form: Form, user, refused: dict | None = None, task_id: str | None = None) -> dict:
    """The posted values as the form's schema expects them; uploaded files are stored — unbound, visible to
    the uploader only, until ``store().bind`` attaches them to the case of an accepted form — and replaced
    by their ids. A file the store refuses (type, size, empty) raises InvalidInput — or, given ``refused``,
    its message is put there under the field's name and the rest of the post is still read, so the page can
    show everything typed again. ``task_id``: the step the files are uploaded for (the same file twice there is
    refused)."""
    from flask_babel import gettext
    from engine.errors import InvalidInput
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
                    try:
                        row = store().save(user, upload.filename, upload.read(), None, services.clock().now(),
                                           task_id=task_id)
                    except InvalidInput as exc:
                        if refused is None:
                            raise
                        refused.setdefault(f.name, []).append(
                            f"{upload.filename}: {exc.render(gettext)['message']}")
                        continue
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
