"""Hardening §9: security headers, how attachments are served, the request size limit, files of a refused
form, and ``next`` parameters that only lead inside the site."""
from __future__ import annotations

import glob
import io
import os
import re

import pytest
from sqlalchemy import select

from config import Config
from engine.models import Attachment
from web.extensions import db

from .procedures import Case
from .test_pages import HANDLER, MAJOR, UNIT, csrf, sign_in

TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "web", "templates")


# --- headers --------------------------------------------------------------------------------------------

def _check_headers(resp):
    csp = resp.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("script-src") == ["'self'"], csp
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert directives.get("object-src") == ["'none'"], csp
    assert resp.headers.get("X-Frame-Options") == "DENY"
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    assert resp.headers.get("Referrer-Policy") in ("same-origin", "strict-origin-when-cross-origin", "no-referrer")


def test_every_response_carries_the_security_headers(client, token):
    for resp in (client.get("/login"), client.get("/"), client.get("/api/health"), client.get("/api/tasks"),
                 client.get("/static/app.css"), client.get("/no/such/page"),
                 client.get("/api/tasks", headers=token(HANDLER))):
        _check_headers(resp)
    sign_in(client, HANDLER)
    _check_headers(client.get("/"))
    _check_headers(client.get("/profile"))


@pytest.mark.nodb
def test_templates_have_no_inline_scripts_or_event_handlers():
    """script-src 'self' blocks inline code: scripts live in web/static (JSON data blocks are not code)."""
    found = []
    for path in glob.glob(os.path.join(TEMPLATES, "**", "*.html"), recursive=True):
        text = open(path, encoding="utf-8").read()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                found.append(f"{os.path.relpath(path, TEMPLATES)}: {tag}")
        for handler in re.findall(r"\son[a-z]+\s*=\s*[\"']", text):
            found.append(f"{os.path.relpath(path, TEMPLATES)}: {handler}")
        if "javascript:" in text:
            found.append(f"{os.path.relpath(path, TEMPLATES)}: javascript: URL")
    assert found == []


# --- attachments ----------------------------------------------------------------------------------------

def test_attachments_are_served_with_the_servers_content_type(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    data = {"csrf_token": csrf(client.get(f"/tasks/{task['id']}")), "investigation_report": "报告",
            "draft_decision": "代拟稿", "evidence_list": "证据", "application_form": "申请",
            "package_files__upload": [(io.BytesIO(b"<script>alert(1)</script>"), "scan.pdf", "text/html"),
                                      (io.BytesIO(b"<html><script>alert(2)</script>"), "note.txt", "text/html")]}
    resp = client.post(f"/tasks/{task['id']}/complete", data=data, content_type="multipart/form-data")
    assert resp.status_code == 302
    rows = {r.filename: r for r in db.session.scalars(select(Attachment).where(Attachment.instance_id == case.id))}
    assert rows["scan.pdf"].content_type == "application/pdf"
    assert rows["note.txt"].content_type.startswith("text/plain")
    pdf = client.get(f"/documents/{rows['scan.pdf'].id}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("attachment")
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    txt = client.get(f"/documents/{rows['note.txt'].id}")
    assert txt.mimetype == "text/plain" and txt.headers["Content-Disposition"].startswith("attachment")
    # a row stored with the uploader's type (before this change) is still served by its extension
    rows["scan.pdf"].content_type = "text/html"
    db.session.commit()
    assert client.get(f"/documents/{rows['scan.pdf'].id}").mimetype == "application/pdf"


def test_request_limit_leaves_room_for_the_largest_attachment(app):
    assert app.config["MAX_CONTENT_LENGTH"] > app.config["ATTACHMENT_MAX_BYTES"]
    assert Config.ATTACHMENT_MAX_BYTES < (Config.MAX_CONTENT_LENGTH or 0) or Config.MAX_CONTENT_LENGTH is None
    room = app.config["MAX_CONTENT_LENGTH"] - app.config["ATTACHMENT_MAX_BYTES"]
    assert 64 * 1024 <= room <= 4 * 1024 * 1024


def test_a_too_large_request_gets_a_translated_answer(ctx, client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    token_ = csrf(client.get(f"/tasks/{task['id']}"))
    limit = ctx.config["MAX_CONTENT_LENGTH"]
    ctx.config["MAX_CONTENT_LENGTH"] = 4096
    try:
        resp = client.post(f"/tasks/{task['id']}/complete", content_type="multipart/form-data",
                           data={"csrf_token": token_, "package_files__upload": (io.BytesIO(b"x" * 8192), "big.pdf")})
        page = resp.get_data(as_text=True)
        assert resp.status_code == 413 and "上传的内容过大" in page and "capacity" not in page
        resp = client.post("/api/deployments", headers=token("designer"), content_type="multipart/form-data",
                           data={"comment": "x", "files": (io.BytesIO(b"x" * 8192), "big.bpmn")})
        assert resp.status_code == 413 and "上传的内容过大" in resp.get_json()["message"]
    finally:
        ctx.config["MAX_CONTENT_LENGTH"] = limit


# --- files of a refused form ----------------------------------------------------------------------------

def test_a_refused_form_leaves_no_files_on_the_case_but_keeps_the_input(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    token_ = csrf(client.get(f"/tasks/{task['id']}"))
    resp = client.post(f"/tasks/{task['id']}/complete", content_type="multipart/form-data",
                       data={"csrf_token": token_, "evidence_list": "证据清单草稿",
                             "package_files__upload": (io.BytesIO(b"%PDF-1.4 draft"), "草稿.pdf")})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "证据清单草稿" in page and "草稿.pdf" in page   # nothing typed is lost
    assert db.session.scalars(select(Attachment).where(Attachment.instance_id == case.id)).all() == []
    assert "草稿.pdf" not in client.get(f"/cases/{case.id}").get_data(as_text=True)
    kept = re.search(r'name="package_files" value="([^"]+)"', page).group(1)
    resp = client.post(f"/tasks/{task['id']}/complete",
                       data={"csrf_token": token_, "investigation_report": "报告", "draft_decision": "代拟稿",
                             "evidence_list": "证据清单", "application_form": "申请", "package_files": kept})
    assert resp.status_code == 302
    bound = db.session.scalars(select(Attachment).where(Attachment.instance_id == case.id)).all()
    # the upload (besides it, the accepted package issued its 申请表, engine/documents.py)
    assert [a.filename for a in bound if not a.filename.startswith("重大执法决定法制审核申请表")] == ["草稿.pdf"]


# --- next parameters ------------------------------------------------------------------------------------

BAD_NEXT = ["//evil.example/x", "/\\evil.example", "\\\\evil.example", "https://evil.example/",
            "javascript:alert(1)", "/ok\\..\\evil", " //evil.example", "\t/\\evil.example", "http:/evil.example",
            "/%5C%5Cevil.example\\x"]


@pytest.mark.nodb
@pytest.mark.parametrize("target", BAD_NEXT + [None, "", "evil.example", "///evil.example"])
def test_safe_next_refuses_everything_outside_the_site(app, target):
    from web.views.common import safe_next
    with app.test_request_context("/"):
        assert safe_next(target, "/fallback") == "/fallback"


@pytest.mark.nodb
@pytest.mark.parametrize("target", ["/", "/cases/3", "/?tab=group&page=2", "/tasks/abc?x=%2F%2Fy"])
def test_safe_next_keeps_paths_of_the_site(app, target):
    from web.views.common import safe_next
    with app.test_request_context("/"):
        assert safe_next(target, "/fallback") == target


def _local(resp) -> bool:
    location = resp.headers["Location"]
    return location.startswith("/") and not location.startswith("//") and "evil" not in location \
        and "\\" not in location


@pytest.mark.parametrize("target", BAD_NEXT)
def test_every_next_parameter_stays_on_the_site(client, token, target):
    # sign-in
    page = client.get("/login", query_string={"next": target})
    resp = client.post("/login", query_string={"next": target},
                       data={"csrf_token": csrf(page), "username": HANDLER, "password": "demo1234"})
    assert resp.status_code == 302 and _local(resp), resp.headers["Location"]
    # language switch (by parameter and by a foreign Referer)
    assert _local(client.get("/lang/en", query_string={"next": target}))
    assert _local(client.get("/lang/zh", headers={"Referer": "https://evil.example/x"}))
    # comment form and claim / unclaim
    api = client.application.test_client()
    case = Case(api, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    token_ = csrf(client.get("/"))
    resp = client.post(f"/cases/{case.id}/comments", data={"csrf_token": token_, "text": "意见", "next": target})
    assert _local(resp), resp.headers["Location"]
    for action in ("claim", "unclaim"):
        resp = client.post(f"/tasks/{task['id']}/{action}", data={"csrf_token": token_, "next": target})
        assert _local(resp), resp.headers["Location"]
