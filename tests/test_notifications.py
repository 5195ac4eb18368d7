"""Issue 10 §4: notifications that arrive — a new task for the people who may take it, 督办 received by the unit,
a task sent back to whoever did the step before, deadlines, 催办 / withdrawn / cancelled — each to exactly the
right people, once; the bell's JSON summary; the pages in Chinese; e-mail through an SMTP server the test starts,
and a down SMTP server that does not fail the step."""
from __future__ import annotations

import re
import socket
from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time
from sqlalchemy import func, select

from engine import notifications as notes
from engine.models import HumanTask, MailOutbox, Notification, User
from engine.org import Directory
from web.extensions import db

from .procedures import Case, tick
from .smtp_server import SMTPServer
from .test_case_referral import GA_SCJG, GA_SCJG_USER
from .test_pages import csrf, sign_in
from .test_supervision_notice import BUREAU, ISSUE, SUP, notice_case

SH = ZoneInfo("Asia/Shanghai")


def users_told(kind: str, task_id: str) -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(User.username).join(Notification, Notification.user_id == User.id).where(
        Notification.kind == kind, Notification.task_id == task_id)))


def holders(role: str, unit_code: str) -> list[str]:
    directory = Directory(db.session)
    return sorted(u.username for u in directory.candidates(role, directory.unit(unit_code).id))


def bell(client, token, who: str) -> int:
    resp = client.get("/api/notifications/summary", headers=token(who))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["unread"]


def issued(client, token) -> tuple[Case, dict]:
    case = notice_case(client, token)
    case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
    return case, case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)


def test_a_supervision_notice_reaches_the_unit_and_a_return_reaches_the_handler(ctx, client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)):
        unit_people = holders("handler", GA_SCJG)
        assert GA_SCJG_USER in unit_people
        before = bell(client, token, GA_SCJG_USER)
        case = notice_case(client, token)
        [issue] = case.open_tasks()
        assert users_told("new_task", issue["id"]) == []          # the starter's own next step: no news to them
        case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
        reply = case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)
        # 督办 received: every handler of the unit, once, and nobody else (not the bureau, not the issuer)
        assert users_told("supervision", reply["id"]) == unit_people
        assert users_told("new_task", reply["id"]) == []
        assert bell(client, token, GA_SCJG_USER) == before + 1
        task = db.session.get(HumanTask, reply["id"])
        assert notes.task_offered(db.session, Directory(db.session), task, datetime.now(SH), kind="supervision") == 0
        assert notes.notify(db.session, Directory(db.session), task, "supervision", datetime.now(SH)) == 0

        case.do("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER, {"rectification_measures": "已补正"})
        # done: the unit's calls to act on it are settled, the bell counts only what still waits
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.task_id == reply["id"], Notification.read_at.is_(None))) == 0
        assert bell(client, token, GA_SCJG_USER) == before
        check = case.expect("审查整改回复", "supervision_officer", BUREAU, SUP)
        assert users_told("new_task", check["id"]) == holders("supervision_officer", BUREAU)
        case.do("审查整改回复", "supervision_officer", BUREAU, SUP,
                {"reply_accepted": False, "check_opinion": "未附整改后的决定书"})
        again = case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)
        assert again["id"] != reply["id"]
        # sent back: to the handler who replied, as "returned"; the unit's other handlers see a 督办 again
        assert users_told("returned", again["id"]) == [GA_SCJG_USER]
        assert users_told("supervision", again["id"]) == [u for u in unit_people if u != GA_SCJG_USER]
        kinds = [n["kind"] for n in client.get("/api/notifications", headers=token(GA_SCJG_USER)).get_json()[
            "notifications"]]
        assert sorted(kinds) == ["returned", "supervision"]


def test_overdue_and_escalation_reach_the_unit_and_the_supervisors_once(ctx, client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)) as frozen:
        case, reply = issued(client, token)
        frozen.move_to(datetime(2026, 4, 17, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        tick(ctx)
        told = users_told("overdue", reply["id"]) or users_told("escalated", reply["id"])
        assert set(holders("handler", GA_SCJG)) <= set(told)
        assert SUP in told                                      # the supervision officers of the bureau above
        rows = db.session.execute(select(Notification.user_id, Notification.kind).where(
            Notification.task_id == reply["id"])).all()
        assert len(rows) == len(set(rows))                      # once per person and kind


def test_urged_withdrawn_cancelled_reach_the_holder_and_candidates_once(ctx, client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)):
        case, reply = issued(client, token)
        task = db.session.get(HumanTask, reply["id"])
        directory, now = Directory(db.session), datetime.now(SH)
        unit_people = holders("handler", GA_SCJG)
        assert notes.notify(db.session, directory, task, "urged", now) == len(unit_people)
        assert notes.notify(db.session, directory, task, "urged", now) == 0
        assert users_told("urged", reply["id"]) == unit_people          # not the supervisors who urged
        assert client.post(f"/api/tasks/{reply['id']}/claim", headers=token(GA_SCJG_USER)).status_code == 200
        db.session.expire_all()
        task = db.session.get(HumanTask, reply["id"])
        for kind in ("withdrawn", "cancelled"):
            assert notes.notify(db.session, directory, task, kind, now) == 1
            assert users_told(kind, reply["id"]) == [GA_SCJG_USER]     # the holder
        db.session.commit()

        sign_in(client, GA_SCJG_USER)
        page = client.get("/notifications").get_data(as_text=True)
        for words in ("收到督办", "催办", "已撤回", "已撤销", "整改并书面回复"):
            assert words in page, words
        text = re.sub(r"<[^>]+>", " ", page.split("<main>")[1])       # what a person reads
        for raw in ("supervision", "withdrawn", "cancelled", "urged", "new_task", "lf.guan", GA_SCJG_USER):
            assert raw not in text, raw
        menu = client.get("/notifications/menu").get_data(as_text=True)
        assert "收到督办" in menu and "全部通知" in menu


def test_opening_a_notification_goes_to_its_task_or_to_the_case(ctx, client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)):
        case, reply = issued(client, token)
        mine = db.session.scalars(select(Notification).join(User, User.id == Notification.user_id).where(
            User.username == GA_SCJG_USER)).one()
        sign_in(client, GA_SCJG_USER)
        token_ = csrf(client.get("/notifications"))
        resp = client.post(f"/notifications/{mine.id}/open", data={"csrf_token": token_})
        assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/tasks/{reply['id']}")
        assert client.get("/api/notifications/summary").get_json()["unread"] == 0
        done = ctx.test_client().post(f"/api/tasks/{reply['id']}/complete", headers=token(GA_SCJG_USER),
                                      json={"data": {"rectification_measures": "已补正"}})
        assert done.status_code == 200, done.get_json()
        resp = client.post(f"/notifications/{mine.id}/open", data={"csrf_token": token_})
        assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/cases/{case.id}")
        other = client.post("/notifications/999999/open", data={"csrf_token": token_})
        assert other.status_code == 404


def test_the_summary_needs_a_signed_in_user(client):
    assert client.get("/api/notifications/summary").status_code == 401


# -- e-mail ------------------------------------------------------------------------------------------------

def _wants_mail(username: str, address: str) -> None:
    user = db.session.scalars(select(User).where(User.username == username)).one()
    user.email, user.email_notifications = address, True
    db.session.commit()


def _no_mail(username: str) -> None:
    db.session.rollback()
    user = db.session.scalars(select(User).where(User.username == username)).one()
    user.email, user.email_notifications = None, False
    db.session.commit()


def _smtp(ctx, port: int, **extra):
    saved = {k: ctx.config.get(k) for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_FROM", "SMTP_TIMEOUT",
                                            "MAIL_MAX_ATTEMPTS")}
    ctx.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none", SMTP_FROM="noreply@example.gov.cn",
                      SMTP_TIMEOUT=5, **extra)
    return saved


def test_a_notification_is_mailed_after_the_step(ctx, client, token):
    from web.mail import send_outbox
    _wants_mail(GA_SCJG_USER, "zhang@example.gov.cn")
    with SMTPServer() as server:
        saved = _smtp(ctx, server.port)
        try:
            with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)):
                case, reply = issued(client, token)
                assert server.box == []                          # nothing sent inside the step
                [row] = db.session.scalars(select(MailOutbox)).all()
                assert (row.address, row.status, row.attempts) == ("zhang@example.gov.cn", "pending", 0)
                report = send_outbox(ctx)
                assert (report.sent, report.failed) == (1, 0)
                assert send_outbox(ctx).sent == 0                 # once
            [(sender, rcpts, message)] = server.box
            assert (sender, rcpts) == ("noreply@example.gov.cn", ["zhang@example.gov.cn"])
            assert "收到督办" in message["Subject"] and "整改并书面回复" in message["Subject"]
            assert "JD-2026-001" in message.get_content()
            db.session.expire_all()
            assert db.session.get(MailOutbox, row.id).status == "sent"
        finally:
            ctx.config.update(saved)
            _no_mail(GA_SCJG_USER)


def test_a_down_smtp_server_does_not_fail_the_step(ctx, client, token):
    from web.mail import send_outbox
    from web.scheduler import tick as scheduler_tick
    with socket.socket() as s:                                   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _wants_mail(GA_SCJG_USER, "zhang@example.gov.cn")
    saved = _smtp(ctx, port, MAIL_MAX_ATTEMPTS=2)
    try:
        with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)) as frozen:
            case, reply = issued(client, token)                  # the step went through
            assert case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)
            scheduler_tick(ctx)                                  # the scheduler tries, fails, keeps going
            [row] = db.session.scalars(select(MailOutbox)).all()
            assert (row.status, row.attempts) == ("pending", 1) and "Connection" in row.last_error
            assert send_outbox(ctx).sent == 0                    # not before its next attempt
            frozen.move_to(datetime(2026, 4, 1, 9, 5, tzinfo=SH))
            assert send_outbox(ctx).failed == 1
            db.session.expire_all()
            assert db.session.get(MailOutbox, row.id).status == "failed"
            case.do("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER, {"rectification_measures": "已补正"})
    finally:
        ctx.config.update(saved)
        _no_mail(GA_SCJG_USER)


def test_profile_sets_the_address_and_the_choice(ctx, client):
    sign_in(client, GA_SCJG_USER)
    try:
        token_ = csrf(client.get("/profile"))
        resp = client.post("/profile/notifications", data={"csrf_token": token_, "email": "不是地址",
                                                           "email_notifications": "1"}, follow_redirects=True)
        assert "电子邮件地址" in resp.get_data(as_text=True)
        resp = client.post("/profile/notifications", data={"csrf_token": token_, "email": "zhang@example.gov.cn",
                                                           "email_notifications": "1"}, follow_redirects=True)
        assert resp.status_code == 200 and 'value="zhang@example.gov.cn"' in resp.get_data(as_text=True)
        db.session.expire_all()
        user = db.session.scalars(select(User).where(User.username == GA_SCJG_USER)).one()
        assert (user.email, user.email_notifications) == ("zhang@example.gov.cn", True)
    finally:
        _no_mail(GA_SCJG_USER)


def test_a_task_offered_when_already_due_soon_says_so_at_once(ctx, client, token):
    """Before issue 10 the SLA sweep only told of a change of state: a task offered after its reminder date
    (here the review given back after a refused extension) was due soon from the start and nobody was told."""
    from .test_major_decision_review import HEAD, PACKAGE, REVIEWER, UNIT, start
    with freeze_time(datetime(2026, 3, 31, 9, 0, tzinfo=SH)) as frozen:
        case = start(client, token)
        case.do("提交法制审核材料", "handler", UNIT, case.starter, PACKAGE)
        case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {"request_extension": True, "extension_reason": "复杂"})
        frozen.move_to(datetime(2026, 4, 9, 9, 0, tzinfo=SH))             # past the reminder (5 working days)
        case.do("审批延长审核期限", "agency_head", UNIT, HEAD, {"extension_approved": False, "extension_note": "不同意"})
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        assert review["sla_state"] == "due_soon"
        assert REVIEWER in users_told("due_soon", review["id"])
        assert REVIEWER in users_told("returned", review["id"])            # the reviewer's own step, back again
        tick(ctx)
        rows = db.session.execute(select(Notification.user_id, Notification.kind).where(
            Notification.task_id == review["id"])).all()
        assert len(rows) == len(set(rows))


def test_a_step_offered_again_is_returned_to_whoever_did_it_last(ctx, client, token):
    """Two handlers take turns at 补正材料: each time the step comes back it is "returned" to the one who did it
    last and a new task to the other. Who did each step last is read with the case (engine.tasks), not per task."""
    from engine.models import OrgUnit, RoleAssignment
    from .test_major_decision_review import HANDLER, MAJOR, PACKAGE, REVIEWER, UNIT
    other = "guan_guanzhen_handler"                # a handler elsewhere, given the role at this unit as well
    unit_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == UNIT))
    other_id = db.session.scalar(select(User.id).where(User.username == other))
    db.session.add(RoleAssignment(user_id=other_id, role_code="handler", unit_id=unit_id))
    db.session.commit()
    try:
        with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH), tick=True):       # each step its own moment
            case = Case(client, token, "major_decision_review", HANDLER, MAJOR)
            case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
            incomplete = {"package_complete": False, "missing_items": "缺少送达回证"}
            case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, incomplete)
            first = case.expect("补正材料", "handler", UNIT, HANDLER)
            assert users_told("returned", first["id"]) == []             # nobody did this step before
            assert users_told("new_task", first["id"]) == sorted([HANDLER, other])
            for doer, waiting in ((other, HANDLER), (HANDLER, other), (HANDLER, other)):
                case.do("补正材料", "handler", UNIT, doer, {"supplement_note": f"{doer} 已补充"})
                case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, incomplete)
                again = case.expect("补正材料", "handler", UNIT, HANDLER)
                assert users_told("returned", again["id"]) == [doer]
                assert users_told("new_task", again["id"]) == [waiting]
    finally:
        db.session.rollback()
        db.session.query(RoleAssignment).filter_by(user_id=other_id, role_code="handler", unit_id=unit_id).delete()
        db.session.commit()
