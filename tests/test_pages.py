"""The server-rendered pages through the Flask test client: sign-in, inbox, task actions, documents."""
from __future__ import annotations

import io
import re

from sqlalchemy import select

from engine.models import Attachment, Notification
from web.extensions import db

from .procedures import CASE, Case

HANDLER, UNIT = "guan_scjg_handler", "lf.guan.scjg"
MAJOR = {**CASE, "summary": "案情", "amount": 200000, "filed_on": "2026-05-20"}


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def sign_in(client, username, password="demo1234"):
    token = csrf(client.get("/login"))
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def test_sign_in_out_and_profile(client):
    assert client.get("/").status_code == 302
    resp = sign_in(client, HANDLER, "wrong")
    assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)
    assert sign_in(client, HANDLER).headers["Location"] == "/"
    page = client.get("/profile").get_data(as_text=True)
    assert "固安县市场监督管理局" in page and "承办人" in page
    token = csrf(client.get("/"))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_sign_in_attempts_are_limited(client):
    for _ in range(5):
        assert sign_in(client, "guan_sthj_handler", "wrong").status_code == 401
    resp = sign_in(client, "guan_sthj_handler")                  # even the right password is refused now
    assert resp.status_code == 429 and "登录失败次数过多" in resp.get_data(as_text=True)


def test_posts_without_the_csrf_token_are_refused(client):
    sign_in(client, HANDLER)
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400


def test_inbox_claim_unclaim_and_counts(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    group = client.get("/?tab=group").get_data(as_text=True)
    assert task["id"] in group and 'id="count-group">1<' in group
    token_ = csrf(client.get("/"))
    client.post(f"/tasks/{task['id']}/claim", data={"csrf_token": token_})
    mine = client.get("/?tab=mine").get_data(as_text=True)
    assert task["id"] in mine and 'id="count-mine">1<' in mine and "已认领" in mine
    assert task["id"] not in client.get("/?tab=group").get_data(as_text=True)
    client.post(f"/tasks/{task['id']}/unclaim", data={"csrf_token": token_})
    assert task["id"] in client.get("/?tab=group").get_data(as_text=True)
    # another county's handler sees nothing of it and cannot open it
    client.post("/logout", data={"csrf_token": csrf(client.get("/"))})
    sign_in(client, "sanhe_scjg_handler")
    assert task["id"] not in client.get("/?tab=group").get_data(as_text=True)
    assert client.get(f"/tasks/{task['id']}").status_code == 404
    assert client.get(f"/cases/{case.id}").status_code == 404


def test_task_form_errors_keep_input_and_completion_redirects(client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    page = client.get(f"/tasks/{task['id']}")
    assert page.status_code == 200 and "情况说明或案件调查终结报告" in page.get_data(as_text=True)
    token_ = csrf(page)
    resp = client.post(f"/tasks/{task['id']}/complete", data={"csrf_token": token_, "evidence_list": "证据清单一"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "此项为必填项。" in body and "证据清单一" in body
    data = {"csrf_token": token_, "investigation_report": "报告", "draft_decision": "代拟稿", "evidence_list": "证据",
            "application_form": "申请", "package_files__upload": (io.BytesIO(b"%PDF-1.4 test"), "证据.pdf")}
    resp = client.post(f"/tasks/{task['id']}/complete", data=data, content_type="multipart/form-data")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert "已完成" in client.get("/").get_data(as_text=True)
    # the upload (the submitted package also issued its 申请表, a generated document of the case)
    doc = db.session.scalars(select(Attachment).where(Attachment.instance_id == case.id,
                                                      Attachment.filename.not_like("%申请表%"))).one()
    assert doc.filename == "证据.pdf"
    download = client.get(f"/documents/{doc.id}")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 test"
    # the same task again: someone (here: me) already completed it
    resp = client.post(f"/tasks/{task['id']}/complete", data={"csrf_token": token_})
    assert resp.status_code in (404, 409)
    # people who cannot see the case cannot download its documents
    client.post("/logout", data={"csrf_token": csrf(client.get("/"))})
    sign_in(client, "sanhe_scjg_handler")
    assert client.get(f"/documents/{doc.id}").status_code == 404


def test_attachment_type_and_size_are_checked(client, token, ctx):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    token_ = csrf(client.get(f"/tasks/{task['id']}"))
    resp = client.post(f"/tasks/{task['id']}/complete", content_type="multipart/form-data",
                       data={"csrf_token": token_, "package_files__upload": (io.BytesIO(b"MZ..."), "tool.exe")})
    assert resp.status_code == 422 and "不接受 .exe 类型的文件" in resp.get_data(as_text=True)
    ctx.config["ATTACHMENT_MAX_BYTES"] = 10
    try:
        resp = client.post(f"/tasks/{task['id']}/complete", content_type="multipart/form-data",
                           data={"csrf_token": token_, "package_files__upload": (io.BytesIO(b"x" * 11), "big.pdf")})
        assert resp.status_code == 422 and "文件超过" in resp.get_data(as_text=True)
    finally:
        ctx.config["ATTACHMENT_MAX_BYTES"] = 20 * 1024 * 1024


def test_comments_delegation_and_case_page(client, token):
    case = Case(client, token, "major_decision_review", "guan_guanzhen_handler", MAJOR)
    sign_in(client, "guan_guanzhen_handler")
    token_ = csrf(client.get(f"/cases/{case.id}"))
    client.post(f"/cases/{case.id}/comments", data={"csrf_token": token_, "text": "请尽快审核", "next": f"/cases/{case.id}"})
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "请尽快审核" in page and "发起案件" in page and "固安镇综合行政执法队" in page
    assert client.get(f"/cases/{case.id}/diagram.bpmn").data.startswith(b"<?xml")
    resp = client.post(f"/cases/{case.id}/comments", data={"csrf_token": token_, "text": "  "})
    assert resp.status_code == 302
    assert "意见不能为空" in client.get(f"/cases/{case.id}").get_data(as_text=True)


def test_the_bell_lists_and_opens_notifications(client, token, ctx):
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from freezegun import freeze_time
    from .procedures import tick
    sh = ZoneInfo("Asia/Shanghai")
    with freeze_time(datetime(2026, 6, 1, 9, 0, tzinfo=sh)) as frozen:
        case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
        frozen.move_to(datetime(2026, 6, 9, 9, 0, tzinfo=sh))           # 5 working days for the package
        tick(ctx)
        sign_in(client, HANDLER)
        menu = client.get("/notifications/menu").get_data(as_text=True)
        assert "提交法制审核材料" in menu and "已逾期" in menu
        from engine.models import User
        mine = db.session.query(User).filter_by(username=HANDLER).one()
        note = db.session.scalars(select(Notification).where(Notification.kind == "overdue",
                                                             Notification.user_id == mine.id)).one()
        resp = client.post(f"/notifications/{note.id}/open", data={"csrf_token": csrf(client.get("/"))})
        task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
        assert resp.headers["Location"] == f"/tasks/{task['id']}"      # the open task it is about (issue 10)
        db.session.expire_all()
        assert db.session.get(Notification, note.id).read_at is not None


def test_supervisors_read_tasks_of_their_area_but_cannot_act(ctx, client, token):
    case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
    sign_in(client, "guan_sup")
    page = client.get(f"/tasks/{task['id']}")
    assert page.status_code == 200 and 'id="task-form"' not in page.get_data(as_text=True)
    api = ctx.test_client()                        # token calls, no session
    assert api.get(f"/api/tasks/{task['id']}", headers=token("guan_sup")).status_code == 200
    assert api.post(f"/api/tasks/{task['id']}/claim", headers=token("guan_sup")).status_code == 403
    assert api.get(f"/api/tasks/{task['id']}", headers=token("sanhe_sup")).status_code == 404


def test_revisit_officer_pickers_offer_the_units_revisit_officers_only(client, token):
    from .test_case_revisit import CLOSED
    case = Case(client, token, "case_revisit", "guan_scjg_revisit", CLOSED)
    task = case.expect("开展回访", "revisit_officer", UNIT, "guan_scjg_revisit")
    browser = client.application.test_client()
    sign_in(browser, "guan_scjg_revisit")
    page = browser.get(f"/tasks/{task['id']}").get_data(as_text=True)
    picker = page[page.index('id="in-officer_1"'):page.index("</select>", page.index('id="in-officer_1"'))]
    assert re.findall(r'<option value="([^"]+)"', picker) == ["guan_scjg_revisit", "guan_scjg_revisit2"]


def test_a_referral_is_started_with_the_moment_it_was_found_and_refused_for_a_received_case(client, token):
    browser = client.application.test_client()
    sign_in(browser, "guan_guanzhen_handler")
    page = browser.get("/start/case_referral")
    assert 'type="datetime-local"' in page.get_data(as_text=True)
    form = {"csrf_token": csrf(page), **{k: str(v) for k, v in CASE.items()}, "case_number": "GZ-2026-300",
            "referral_target": UNIT, "referral_kind": "serious", "referral_reason": "食品安全", "found_at": "2026-05-29T08:30"}
    resp = browser.post("/start/case_referral", data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)[-2000:]
    sender = Case.found(client, token, "case_referral", "guan_guanzhen_handler", "GZ-2026-300")
    prep = sender.expect("制作移送函并移送材料", "handler", "lf.guan.guanzhen.zfd", "guan_guanzhen_handler")
    assert prep["due_at"].startswith("2026-05-30T00:30:00")             # 24 hours after it was found
    sender.do("制作移送函并移送材料", "handler", "lf.guan.guanzhen.zfd", "guan_guanzhen_handler",
              {"letter_number": "移〔2026〕1号", "handover_list": "案卷"})
    receiver = client.application.test_client()
    sign_in(receiver, HANDLER)
    page = receiver.get("/start/case_referral")
    resp = receiver.post("/start/case_referral", data={**form, "csrf_token": csrf(page), "referral_target": "lf.guan.sthj"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "不得自行再次移送" in body and "2026-05-29T08:30" in body   # input kept
