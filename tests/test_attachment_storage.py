"""Issue 13 §3: the bytes of attachments behind one interface — in the database (every app node sees them;
the default in production and in the tests) or in a folder (the SQLite demo) — chosen by ATTACHMENT_STORAGE.
Uploads, downloads and de-duplication behave the same with both."""
from __future__ import annotations

import io
import logging
import os

import pytest
from sqlalchemy import func, select

from engine.attachments import DatabaseBlobs
from engine.models import Attachment, AttachmentBlob, IssuedDocument
from web.extensions import db

from .procedures import Case
from .test_pages import HANDLER, MAJOR, UNIT, csrf, sign_in

CONTENT = os.urandom(256 * 1024) + "证据材料".encode()


@pytest.fixture(params=["database", "filesystem"])
def storage(request, ctx, tmp_path, monkeypatch):
    monkeypatch.setitem(ctx.config, "ATTACHMENT_STORAGE", request.param)
    monkeypatch.setitem(ctx.config, "ATTACHMENT_DIR", str(tmp_path / "attachments"))
    return request.param, tmp_path / "attachments"


def upload(client, token, filename: str, content: bytes) -> Attachment:
    """A case started by API, its first task completed on the page with ``content`` attached (``client``
    stays signed in as the handler)."""
    client.delete_cookie("session")                # the API call authenticates by token alone
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    data = {"csrf_token": csrf(client.get(f"/tasks/{task['id']}")), "investigation_report": "报告",
            "draft_decision": "代拟稿", "evidence_list": "证据", "application_form": "申请",
            "package_files__upload": (io.BytesIO(content), filename)}
    resp = client.post(f"/tasks/{task['id']}/complete", data=data, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    # the upload, not the 申请表 the submitted package issued (engine/documents.py)
    return db.session.scalars(select(Attachment).where(Attachment.instance_id == case.id,
                                                       Attachment.id.not_in(select(IssuedDocument.attachment_id)))).one()


def generated() -> set[str]:
    """The contents of issued documents (their blobs and files are not the uploads')."""
    return set(db.session.scalars(select(Attachment.sha256).join(IssuedDocument,
                                                                 IssuedDocument.attachment_id == Attachment.id)))


def test_upload_and_download_are_byte_identical_and_stored_once(storage, client, token):
    kind, folder = storage
    first = upload(client, token, "证据.pdf", CONTENT)
    second = upload(client, token, "再次上传.pdf", CONTENT)          # the same bytes for another case
    assert first.sha256 == second.sha256 and first.id != second.id
    for row in (first, second):
        download = client.get(f"/documents/{row.id}")
        assert download.status_code == 200 and download.data == CONTENT
    blobs = db.session.scalar(select(func.count()).select_from(AttachmentBlob)
                              .where(AttachmentBlob.sha256.not_in(generated())))
    files = [f for _d, _s, names in os.walk(folder) for f in names if f not in generated()]
    if kind == "database":
        assert (blobs, files) == (1, [])
    else:
        assert (blobs, files) == (0, [first.sha256])


def test_a_missing_file_is_a_404_and_an_error_in_the_log(storage, client, token, caplog):
    kind, folder = storage
    row = upload(client, token, "证据.pdf", b"%PDF-1.4 gone")
    if kind == "database":
        db.session.execute(AttachmentBlob.__table__.delete())
        db.session.commit()
    else:
        os.remove(folder / row.sha256[:2] / row.sha256)
    with caplog.at_level(logging.ERROR, logger="web.views.task"):
        assert client.get(f"/documents/{row.id}").status_code == 404
    assert any("missing" in r.getMessage() for r in caplog.records)


def test_two_nodes_storing_the_same_bytes_at_once_both_succeed(ctx):
    blobs = DatabaseBlobs(db.session)
    blobs.put("ab" * 32, b"same")
    blobs.put("ab" * 32, b"same")                                  # insert … on conflict do nothing
    db.session.commit()
    assert blobs.has("ab" * 32) and blobs.open("ab" * 32).read() == b"same"
    with pytest.raises(FileNotFoundError):
        blobs.open("cd" * 32)
