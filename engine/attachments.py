"""Case documents: the bytes of each file kept once under their content hash (sha256) in a ``BlobStore``,
indexed by the ``attachments`` table.

Two stores: ``DatabaseBlobs`` (table ``attachment_blobs``, in the caller's transaction — every app node
sees a file the moment its upload is committed, and a database backup holds it) and ``FileBlobs`` (a folder
outside the web root; one machine, the SQLite demo). The configuration chooses (ATTACHMENT_STORAGE).

An attachment is uploaded unbound (on a start form before its case exists, on a task form before the form is
accepted); it is bound to the case only when the form that names it is accepted, so the files of a refused
form never join the case. Only people who may see the case (or the uploader, before binding) can download it.

The content type is the server's, chosen by the file's extension from ``CONTENT_TYPES`` (the type the
uploader's browser sent is ignored): a file is never served as HTML or script."""
from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from datetime import datetime, timezone
from typing import BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import history
from .errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from .limits import is_uuid
from .models import Attachment, AttachmentBlob, HumanTask, User

DEFAULT_ALLOWED = (".pdf", ".doc", ".docx", ".wps", ".xls", ".xlsx", ".jpg", ".jpeg", ".png", ".txt", ".ofd", ".zip")
CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".ofd": "application/ofd",
    ".wps": "application/vnd.ms-works",        # WPS 文字 (Kingsoft); an office format like .doc
    ".zip": "application/zip",
}
FALLBACK_TYPE = "application/octet-stream"
# what a page may show inline (in an <iframe> or <img>): never HTML, SVG or script
PREVIEWABLE = frozenset({"application/pdf", "image/jpeg", "image/png"})
_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff（）()〔〕]+")


class BlobStore(Protocol):
    """Where the bytes of attachments live, by sha256. ``put`` of content already there is a no-op."""

    def put(self, sha256: str, content: bytes) -> None: ...

    def open(self, sha256: str) -> BinaryIO:
        """The content; FileNotFoundError when it is not there."""

    def has(self, sha256: str) -> bool: ...


class FileBlobs:
    """Files under ``root/<first two hex digits>/<sha256>``, written atomically (temporary file, rename)."""

    def __init__(self, root: str):
        self.root = root

    def path(self, sha256: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
            raise FileNotFoundError(sha256)
        return os.path.join(self.root, sha256[:2], sha256)

    def put(self, sha256: str, content: bytes) -> None:
        path = self.path(sha256)
        if os.path.exists(path):
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def has(self, sha256: str) -> bool:
        return os.path.exists(self.path(sha256))


class DatabaseBlobs:
    """Rows of ``attachment_blobs``, written in the session's transaction (so a file and the row naming it
    are committed together). Two nodes storing the same content at once both succeed (insert … on conflict
    do nothing)."""

    def __init__(self, session: Session):
        self.session = session

    def put(self, sha256: str, content: bytes) -> None:
        values = {"sha256": sha256, "size": len(content), "content": content,
                  "created_at": datetime.now(timezone.utc)}
        dialect = self.session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            self.session.execute(insert(AttachmentBlob).values(**values).on_conflict_do_nothing(
                index_elements=["sha256"]))
        elif not self.has(sha256):
            self.session.add(AttachmentBlob(**values))
            self.session.flush()

    def open(self, sha256: str) -> BinaryIO:
        content = self.session.scalar(select(AttachmentBlob.content).where(AttachmentBlob.sha256 == sha256))
        if content is None:
            raise FileNotFoundError(sha256)
        return io.BytesIO(content)

    def has(self, sha256: str) -> bool:
        return self.session.scalar(select(AttachmentBlob.sha256).where(AttachmentBlob.sha256 == sha256)) is not None


class AttachmentStore:
    def __init__(self, session: Session, blobs: BlobStore | str, max_bytes: int = 20 * 1024 * 1024,
                 allowed: tuple[str, ...] = DEFAULT_ALLOWED):
        """``blobs``: where the bytes go (a folder path means ``FileBlobs`` there)."""
        self.session, self.max_bytes, self.allowed = session, max_bytes, allowed
        self.blobs: BlobStore = FileBlobs(blobs) if isinstance(blobs, str) else blobs

    def content_type(self, filename: str) -> str:
        """The type a file is served with: by its extension, for whitelisted extensions only."""
        ext = os.path.splitext(filename or "")[1].lower()
        return CONTENT_TYPES.get(ext, FALLBACK_TYPE) if ext in self.allowed else FALLBACK_TYPE

    def previewable(self, filename: str) -> bool:
        return self.content_type(filename) in PREVIEWABLE

    def save(self, user: User, filename: str, content: bytes, content_type: str | None, now: datetime,
             instance_id: int | None = None, task_id: str | None = None, generated: bool = False) -> Attachment:
        """Store an upload. ``content_type`` (what the uploader sent) is not trusted: the stored type comes
        from the extension. Pass ``instance_id`` only for a file that belongs to the case right away, and
        ``task_id`` for a file uploaded for that step (the same content twice on a step or a case is refused).
        ``generated``: a document the system made (engine.documents), not an upload."""
        name = _SAFE_NAME.sub("_", os.path.basename(filename or "")).strip("._") or "file"
        ext = os.path.splitext(name)[1].lower()
        if ext not in self.allowed and not generated:
            raise InvalidInput(N_("Files of type %(ext)s are not accepted (allowed: %(allowed)s)"),
                               ext=ext or "-", allowed=" ".join(self.allowed))
        if len(content) > self.max_bytes and not generated:
            raise InvalidInput(N_("The file is larger than %(limit)s MB"), limit=self.max_bytes // (1024 * 1024))
        if not content:
            raise InvalidInput(N_("The file is empty"))
        digest = hashlib.sha256(content).hexdigest()
        if not generated:
            self._refuse_duplicate(user, digest, name, instance_id, task_id)
        self.blobs.put(digest, content)
        row = Attachment(id=str(uuid.uuid4()), instance_id=instance_id, task_id=task_id, filename=name,
                         content_type=(CONTENT_TYPES.get(ext, FALLBACK_TYPE) if generated
                                       else self.content_type(name))[:100], size=len(content),
                         sha256=digest, uploaded_by_id=user.id, uploaded_at=now)
        self.session.add(row)
        self.session.flush()
        return row

    def _refuse_duplicate(self, user: User, digest: str, name: str, instance_id: int | None,
                          task_id: str | None, ignore: str | None = None) -> None:
        """The same content already on this step (uploaded for it, by anyone) or on this case is refused."""
        if task_id is not None and instance_id is None:
            instance_id = self.session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task_id))
        clauses = []
        if task_id is not None:
            clauses.append(Attachment.task_id == task_id)
        if instance_id is not None:
            clauses.append(Attachment.instance_id == instance_id)
        if not clauses:
            return
        from sqlalchemy import or_
        stmt = select(Attachment).where(Attachment.sha256 == digest, or_(*clauses))
        if ignore is not None:
            stmt = stmt.where(Attachment.id != ignore)
        twin = self.session.scalars(stmt.limit(1)).first()
        if twin is not None:
            raise InvalidInput(N_("This file is already attached to this case as “%(name)s”; the same file "
                                  "is not accepted twice."), name=twin.filename)

    def _own_pending(self, user: User, att_id: str) -> Attachment:
        """One of ``user``'s uploads whose step has not been completed: still unbound (its form not yet
        accepted), or bound to a task that is still open."""
        row = self.session.get(Attachment, att_id) if is_uuid(att_id) else None
        if row is None or (row.instance_id is None and row.uploaded_by_id != user.id):
            raise NotFound(N_("No such document"))
        if row.uploaded_by_id != user.id:
            raise Forbidden(N_("Only the person who uploaded a file can delete or replace it"))
        if row.instance_id is not None:
            status = self.session.scalar(select(HumanTask.status).where(HumanTask.id == row.task_id)) \
                if row.task_id else None
            if status != "open":
                raise Conflict(N_("This file belongs to a completed step and can no longer be changed"))
        return row

    def _instance_of(self, row: Attachment) -> int | None:
        if row.instance_id is not None or row.task_id is None:
            return row.instance_id
        return self.session.scalar(select(HumanTask.instance_id).where(HumanTask.id == row.task_id))

    def delete(self, user: User, att_id: str, now: datetime) -> Attachment:
        """Delete one's own upload before its step is completed; audited (the bytes stay while other rows
        name them; the store keeps each content once)."""
        row = self._own_pending(user, att_id)
        history.record(self.session, now, "attachment_deleted", actor=user.username,
                       instance_id=self._instance_of(row), task_id=row.task_id,
                       data={"attachment_id": row.id, "filename": row.filename, "sha256": row.sha256})
        self.session.delete(row)
        self.session.flush()
        return row

    def replace(self, user: User, att_id: str, filename: str, content: bytes, now: datetime) -> Attachment:
        """Put another file in the place of one's own upload before its step is completed; audited. The new
        file takes the old one's step and case."""
        old = self._own_pending(user, att_id)
        instance_id, task_id = old.instance_id, old.task_id
        record = {"attachment_id": old.id, "filename": old.filename, "sha256": old.sha256}
        audit_instance = self._instance_of(old)
        self.session.delete(old)
        self.session.flush()
        new = self.save(user, filename, content, None, now, instance_id=instance_id, task_id=task_id)
        history.record(self.session, now, "attachment_replaced", actor=user.username, instance_id=audit_instance,
                       task_id=task_id, data={"old": record, "new": {"attachment_id": new.id,
                                                                     "filename": new.filename, "sha256": new.sha256}})
        return new

    def pending(self, user: User, task_id: str) -> list[Attachment]:
        """``user``'s uploads for a step whose form has not been accepted yet."""
        return list(self.session.scalars(select(Attachment).where(
            Attachment.task_id == task_id, Attachment.instance_id.is_(None), Attachment.uploaded_by_id == user.id)
            .order_by(Attachment.uploaded_at)))

    def bind(self, ids: list[str], user: User, instance_id: int, task_id: str | None) -> None:
        """Attach files named in an accepted form to its case; only the uploader's unbound files qualify."""
        for att_id in ids or []:
            row = self.session.get(Attachment, att_id) if is_uuid(att_id) else None
            if row is None or row.uploaded_by_id != user.id or row.instance_id not in (None, instance_id):
                raise InvalidInput(N_("Unknown attachment %(id)s"), id=str(att_id)[:64])
            row.instance_id, row.task_id = instance_id, row.task_id or task_id
        self.session.flush()

    def get(self, att_id: str) -> Attachment:
        row = self.session.get(Attachment, att_id) if is_uuid(att_id) else None
        if row is None:
            raise NotFound(N_("No such document"))
        return row

    def open(self, row: Attachment) -> BinaryIO:
        """The file's content; FileNotFoundError when its bytes are missing from the store."""
        return self.blobs.open(row.sha256)

    def for_instance(self, instance_id: int) -> list[Attachment]:
        return list(self.session.scalars(select(Attachment).where(Attachment.instance_id == instance_id)
                                         .order_by(Attachment.uploaded_at)))
