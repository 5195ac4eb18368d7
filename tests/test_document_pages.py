"""Documents on the pages and the API: the issued 文书 in the case page with 文号, preview (framed by our own
pages only) and download; the API lists and downloads them; one's own upload is deleted or replaced before
the step completes (audited); the same file twice is refused; .wps and .ofd files are accepted."""
from __future__ import annotations

import io

from sqlalchemy import select

from engine.models import Attachment, AuditEvent
from web.extensions import db

from .test_documents import AGREE, HANDLER, REVIEWER, UNIT, pdf_text, reviewed_case
from .test_pages import csrf, sign_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(client, task_id: str, *files, extra=None):
    page = client.get(f"/tasks/{task_id}")
    data = {"csrf_token": csrf(page), "package_files__upload": list(files), **(extra or {})}
    return client.post(f"/tasks/{task_id}/complete", content_type="multipart/form-data", data=data)


def test_case_page_lists_the_document_with_its_number_preview_and_download(client, token):
    case = reviewed_case(client, token)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    sign_in(client, HANDLER)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "法制审核意见书" in page and "固市监审〔2026〕1号" in page and "固市监申〔2026〕1号" in page
    assert 'class="document-preview"' in page and "<iframe" in page
    [row] = [d for d in db.session.scalars(select(Attachment).where(Attachment.instance_id == case.id))
             if d.filename.startswith("法制审核意见书")]
    preview = client.get(f"/documents/{row.id}/preview")
    assert preview.status_code == 200 and preview.mimetype == "application/pdf"
    assert "attachment" not in preview.headers.get("Content-Disposition", "")
    assert "frame-ancestors 'self'" in preview.headers["Content-Security-Policy"]
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "固市监审〔2026〕1号" in pdf_text(preview.data)
    download = client.get(f"/documents/{row.id}")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    # the case page itself may still not be framed by anyone
    assert client.get(f"/cases/{case.id}").headers["X-Frame-Options"] == "DENY"
    # the timeline names the issued document
    assert "签发文书" in page


def test_api_lists_and_downloads_the_documents(client, token):
    case = reviewed_case(client, token)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    resp = client.get(f"/api/instances/{case.id}/documents", headers=token(HANDLER))
    assert resp.status_code == 200
    docs = {d["document"]["doc_number"]: d for d in resp.get_json()["documents"] if d["document"]}
    assert set(docs) == {"固市监申〔2026〕1号", "固市监审〔2026〕1号"}
    opinion = docs["固市监审〔2026〕1号"]
    assert opinion["document"]["title"] == "法制审核意见书" and opinion["document"]["unit"] == "固安县市场监督管理局"
    pdf = client.get(f"/api/attachments/{opinion['id']}", headers=token(HANDLER))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "固市监审〔2026〕1号" in pdf_text(pdf.data)
    # someone of another county sees neither the list nor the file
    other = "guangyang_scjg_handler"
    assert client.get(f"/api/instances/{case.id}/documents", headers=token(other)).status_code == 404
    assert client.get(f"/api/attachments/{opinion['id']}", headers=token(other)).status_code == 404


def test_the_same_file_twice_on_a_step_is_refused(client, token):
    from .procedures import Case
    from .test_major_decision_review import MAJOR
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    # first try: the form is refused (required fields missing), the file is kept for the step
    resp = upload(client, task["id"], (io.BytesIO(PDF), "证据.pdf"))
    assert resp.status_code == 422
    again = upload(client, task["id"], (io.BytesIO(PDF), "证据-副本.pdf"))
    assert again.status_code == 422
    assert "已作为“证据.pdf”附在本案中" in again.get_data(as_text=True)
    assert len(db.session.scalars(select(Attachment).where(Attachment.task_id == task["id"])).all()) == 1


def test_wps_and_ofd_files_are_accepted(client, token):
    from .procedures import Case
    from .test_major_decision_review import MAJOR
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    resp = upload(client, task["id"], (io.BytesIO(b"wps document"), "说明.wps"), (io.BytesIO(b"ofd"), "决定.ofd"))
    assert resp.status_code == 422 and "不接受" not in resp.get_data(as_text=True)
    names = {a.filename for a in db.session.scalars(select(Attachment).where(Attachment.task_id == task["id"]))}
    assert names == {"说明.wps", "决定.ofd"}


def test_own_upload_is_deleted_or_replaced_before_the_step_completes(client, token):
    from .procedures import Case
    from .test_major_decision_review import MAJOR, PACKAGE
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    upload(client, task["id"], (io.BytesIO(PDF), "旧版.pdf"), (io.BytesIO(PDF + b"2"), "多余.pdf"))
    rows = {a.filename: a.id for a in db.session.scalars(select(Attachment).where(Attachment.task_id == task["id"]))}
    page = client.get(f"/tasks/{task['id']}")
    text = page.get_data(as_text=True)
    assert 'id="pending-uploads"' in text and "旧版.pdf" in text
    # delete one, replace the other: both audited in the case's history
    resp = client.post(f"/documents/{rows['多余.pdf']}/delete", data={"csrf_token": csrf(page),
                                                                      "next": f"/tasks/{task['id']}"})
    assert resp.status_code == 302
    resp = client.post(f"/documents/{rows['旧版.pdf']}/replace", content_type="multipart/form-data",
                       data={"csrf_token": csrf(page), "next": f"/tasks/{task['id']}",
                             "file": (io.BytesIO(PDF + b"new"), "新版.pdf")})
    assert resp.status_code == 302
    left = {a.filename: a.id for a in db.session.scalars(select(Attachment).where(Attachment.task_id == task["id"]))}
    assert set(left) == {"新版.pdf"}
    actions = [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == case.id))]
    assert "attachment_deleted" in actions and "attachment_replaced" in actions
    # the task page keeps the replacement in the form; submitting binds it to the case
    page = client.get(f"/tasks/{task['id']}")
    assert f'value="{left["新版.pdf"]}" checked' in page.get_data(as_text=True)
    resp = client.post(f"/tasks/{task['id']}/complete", data={"csrf_token": csrf(page), **PACKAGE,
                                                              "package_files": left["新版.pdf"]})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Attachment, left["新版.pdf"]).instance_id == case.id
    # once the step is completed the file can no longer be changed
    resp = client.delete(f"/api/attachments/{left['新版.pdf']}",
                         headers={**token(HANDLER), "X-CSRF-Token": csrf(client.get("/"))})
    assert resp.status_code == 409 and "已办结" in resp.get_json()["message"]


def test_only_the_uploader_deletes_or_replaces(client, token):
    from .procedures import Case
    from .test_major_decision_review import MAJOR
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    upload(client, task["id"], (io.BytesIO(PDF), "证据.pdf"))
    [att] = db.session.scalars(select(Attachment).where(Attachment.task_id == task["id"])).all()
    client = client.application.test_client()          # the API with tokens only (no page session)
    assert client.delete(f"/api/attachments/{att.id}", headers=token(REVIEWER)).status_code == 404
    resp = client.post(f"/api/attachments/{att.id}/replace", headers=token(REVIEWER),
                       content_type="multipart/form-data", data={"file": (io.BytesIO(b"x"), "x.pdf")})
    assert resp.status_code == 404
    resp = client.post(f"/api/attachments/{att.id}/replace", headers=token(HANDLER),
                       content_type="multipart/form-data", data={"file": (io.BytesIO(PDF + b"v2"), "证据v2.pdf")})
    assert resp.status_code == 200 and resp.get_json()["filename"] == "证据v2.pdf"
    assert client.delete(f"/api/attachments/{resp.get_json()['id']}", headers=token(HANDLER)).status_code == 204
    assert db.session.scalars(select(Attachment).where(Attachment.task_id == task["id"])).all() == []


def test_images_are_previewed_in_the_page_and_other_files_only_downloaded(client, token):
    from .procedures import Case
    from .test_major_decision_review import MAJOR, PACKAGE
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    resp = upload(client, task["id"], (io.BytesIO(b"\x89PNG\r\n\x1a\n-photo"), "现场照片.png"),
                  (io.BytesIO(b"notes"), "说明.txt"), extra=PACKAGE)
    assert resp.status_code == 302
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    rows = {a.filename: a.id for a in db.session.scalars(select(Attachment).where(Attachment.instance_id == case.id))}
    assert f'<img class="document-preview" src="/documents/{rows["现场照片.png"]}/preview"' in page
    assert f'/documents/{rows["说明.txt"]}/preview' not in page
    image = client.get(f"/documents/{rows['现场照片.png']}/preview")
    assert image.status_code == 200 and image.mimetype == "image/png"
    text = client.get(f"/documents/{rows['说明.txt']}/preview")       # not previewable: a download
    assert "attachment" in text.headers["Content-Disposition"]
