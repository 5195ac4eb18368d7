"""The personnel register (issue 11 §1): only qualified legal reviewers are offered review tasks (法律职业资格 and
30 training hours this year), a unit without one sends its review to the bureau's 待分派 queue, handlers need a
valid 执法证, the October reminder is sent once, the dashboard shows the shortfall, Excel import is all or
nothing. Real database, real engine, the demo organisation (安次区市场监督管理局 has a qualified reviewer and
an unqualified new one)."""
from __future__ import annotations

import io
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from openpyxl import Workbook, load_workbook
from sqlalchemy import delete, select

from engine.clock import FixedClock
from engine.models import HumanTask, Notification, OrgUnit, User
from engine.org import Directory
from engine.registers import personnel as reg
from engine.registers.personnel_models import PersonnelRecord, TrainingRecord, TrainingReminder
from web.extensions import db

from .procedures import CASE, Case
from .test_pages import csrf, sign_in

SH = ZoneInfo("Asia/Shanghai")
UNIT = "lf.anci.scjg"                                    # 安次区市场监督管理局
HANDLER, REVIEWER, NEWBIE, HEAD = "anci_scjg_handler", "anci_scjg_review", "anci_scjg_review_new", "anci_scjg_head"
SUP, OTHER_SUP = "anci_sup", "guan_sup"                  # 安次区司法局 / 固安县司法局 supervision officers
MAJOR = {**CASE, "case_number": "安市监罚〔2026〕7号", "summary": "无证经营，拟罚款20万元", "amount": 200000}
PACKAGE = {"investigation_report": "调查终结报告……", "draft_decision": "行政处罚决定书（代拟稿）……",
           "evidence_list": "现场笔录", "application_form": "申请法制审核"}
CHECK = "审查材料是否齐全"


def user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


@contextmanager
def kept(*usernames):
    """Whatever a test changes in these people's records and training is put back afterwards."""
    ids = [user(n).id for n in usernames]
    recs = {r.user_id: {c: getattr(r, c) for c in reg.RECORD_FIELDS}
            for r in db.session.scalars(select(PersonnelRecord).where(PersonnelRecord.user_id.in_(ids)))}
    training = [(t.user_id, t.day, t.course, t.hours, t.organiser)
                for t in db.session.scalars(select(TrainingRecord).where(TrainingRecord.user_id.in_(ids)))]
    db.session.commit()                    # no transaction left open (SQLite: a live server may want to write)
    try:
        yield
    finally:
        db.session.rollback()
        db.session.execute(delete(TrainingRecord).where(TrainingRecord.user_id.in_(ids)))
        db.session.execute(delete(PersonnelRecord).where(PersonnelRecord.user_id.in_(ids)))
        db.session.execute(delete(TrainingReminder))
        db.session.flush()
        for uid, values in recs.items():
            db.session.add(PersonnelRecord(user_id=uid, **values))
        for uid, day, course, hours, organiser in training:
            db.session.add(TrainingRecord(user_id=uid, day=day, course=course, hours=hours, organiser=organiser))
        db.session.commit()


def set_hours(name: str, hours: str, year: int = 2026) -> None:
    uid = user(name).id
    db.session.execute(delete(TrainingRecord).where(TrainingRecord.user_id == uid))
    db.session.add(TrainingRecord(user_id=uid, day=date(year, 1, 1), course="培训", hours=Decimal(hours)))
    db.session.commit()


def set_record(name: str, **values) -> None:
    rec = db.session.scalar(select(PersonnelRecord).where(PersonnelRecord.user_id == user(name).id))
    if rec is None:
        rec = PersonnelRecord(user_id=user(name).id)
        db.session.add(rec)
    for k, v in values.items():
        setattr(rec, k, v)
    db.session.commit()


def review_case(client, token, number: str) -> Case:
    case = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": number})
    case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    return case


def offered(client, token, who: str) -> list[str]:
    resp = client.get("/api/tasks?scope=group", headers=token(who))
    assert resp.status_code == 200
    return [t["name"] for t in resp.get_json()["tasks"]]


def queue(client, token, who: str) -> list[dict]:
    resp = client.get("/api/queue", headers=token(who))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["tasks"]


# -- who is offered a review task ----------------------------------------------------------------------------

def test_an_unqualified_reviewer_is_not_offered_a_review_task_and_a_qualified_colleague_is(ctx, client, token):
    with kept(NEWBIE, REVIEWER):
        case = review_case(client, token, "安市监罚〔2026〕701号")
        task = case.expect(CHECK, "legal_reviewer", UNIT, REVIEWER)
        assert not task["unassigned"]
        assert CHECK in offered(client, token, REVIEWER)
        assert CHECK not in offered(client, token, NEWBIE)                  # no 法律职业资格, 12 hours
        resp = client.post(f"/api/tasks/{task['id']}/claim", headers=token(NEWBIE))
        assert resp.status_code == 403 and "法律职业资格" in resp.get_json()["message"]
        browser = ctx.test_client()                               # his page says why, and offers no action
        sign_in(browser, NEWBIE)
        page = browser.get(f"/tasks/{task['id']}").get_data(as_text=True)
        assert 'id="qualification-note"' in page and "没有您的法律职业资格记录" in page
        assert "/complete" not in page

        # a certificate, but 29.5 hours: still not offered, and told why
        set_record(NEWBIE, legal_cert_no="A20211310000999", legal_cert_date=date(2021, 3, 1))
        set_hours(NEWBIE, "29.5")
        assert CHECK not in offered(client, token, NEWBIE)
        resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(NEWBIE),
                           json={"data": {"package_complete": True}})
        assert resp.status_code == 403
        assert resp.get_json()["message"] == "您不是合格的法制审核人员：本年度已记录培训 29.5 学时，要求 30 学时。"
        # 30 hours: qualified, offered, and he can do it
        set_hours(NEWBIE, "30")
        assert CHECK in offered(client, token, NEWBIE)
        case.do(CHECK, "legal_reviewer", UNIT, NEWBIE, {"package_complete": True})


def test_with_no_qualified_reviewer_the_review_waits_in_the_bureaus_queue(ctx, client, token):
    with kept(NEWBIE, REVIEWER):
        set_hours(REVIEWER, "29.5")                      # the qualified colleague falls short too
        case = review_case(client, token, "安市监罚〔2026〕702号")
        task = case.expect(CHECK, "legal_reviewer", UNIT, SUP)
        assert task["unassigned"] and task["unassigned_reason"] == "no_qualified"
        assert CHECK not in offered(client, token, REVIEWER) and CHECK not in offered(client, token, NEWBIE)
        assert task["id"] in [t["id"] for t in queue(client, token, SUP)]          # 安次区司法局's 待分派
        assert task["id"] not in [t["id"] for t in queue(client, token, OTHER_SUP)]
        row = db.session.get(HumanTask, task["id"])
        told = {n.user_id for n in db.session.scalars(select(Notification).where(Notification.task_id == row.id))}
        assert user(SUP).id in told and user(REVIEWER).id not in told and user(NEWBIE).id not in told
        # the bureau cannot hand it to an unqualified reviewer, but to its own qualified reviewer
        resp = client.post(f"/api/tasks/{task['id']}/assign", headers=token(SUP),
                           json={"unit": UNIT, "username": NEWBIE})
        assert resp.status_code == 422
        resp = client.post(f"/api/tasks/{task['id']}/assign", headers=token(SUP), json={"unit": UNIT})
        assert resp.status_code == 422                  # nobody qualified there
        resp = client.post(f"/api/tasks/{task['id']}/assign", headers=token(SUP),
                           json={"unit": "lf.anci.sfj", "username": "anci_review"})
        assert resp.status_code == 200, resp.get_json()


def test_org_check_reports_a_unit_without_a_qualified_reviewer(ctx):
    runner = ctx.test_cli_runner()
    with kept(NEWBIE, REVIEWER):
        set_hours(REVIEWER, "10")
        result = runner.invoke(args=["org", "check", "--process", "major_decision_review"])
        assert result.exit_code == 1
        assert "NO QUALIFIED legal_reviewer" in result.output and "lf.anci.scjg 安次区市场监督管理局" in result.output
        assert "GAP legal_reviewer" in result.output
    result = runner.invoke(args=["org", "check", "--process", "major_decision_review"])
    assert result.exit_code == 0, result.output
    assert "0 units without a qualified legal reviewer" in result.output


def test_first_time_rule_is_configuration(ctx):
    """With REVIEWER_CERTIFICATE_REQUIRED_FROM set, a reviewer appointed before it needs no certificate."""
    with kept(NEWBIE):
        set_hours(NEWBIE, "40")
        set_record(NEWBIE, reviewer_since=date(2018, 5, 1))
        on = date(2026, 6, 1)
        assert not reg.status_of(db.session, user(NEWBIE), on, reg.ReviewerRule()).qualified
        grandfathered = reg.ReviewerRule(certificate_required_from=date(2020, 1, 1))
        assert reg.status_of(db.session, user(NEWBIE), on, grandfathered).qualified
        set_record(NEWBIE, reviewer_since=date(2022, 5, 1))          # a first-time reviewer after the date
        assert not reg.status_of(db.session, user(NEWBIE), on, grandfathered).qualified
        assert reg.status_of(db.session, user(NEWBIE), on, reg.ReviewerRule(min_hours=Decimal("40"),
                                                                            certificate_required_from=date(2020, 1, 1))
                             ).certificate_ok is False


# -- 执法证 --------------------------------------------------------------------------------------------------

def test_a_handler_with_an_expired_or_no_enforcement_certificate_cannot_start_or_complete(ctx, client, token):
    with kept(HANDLER):
        case = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": "安市监罚〔2026〕703号"})
        set_record(HANDLER, cert_valid_until=date(2026, 5, 31))              # expired yesterday
        resp = client.post("/api/instances", headers=token(HANDLER), json={
            "process_key": "major_decision_review", "business_key": "X-1", "data": {**MAJOR, "case_number": "X-1"}})
        assert resp.status_code == 403
        assert "执法证" in resp.get_json()["message"] and "2026-05-31" in resp.get_json()["message"]
        task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
        resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={"data": PACKAGE})
        assert resp.status_code == 403 and "已于 2026-05-31 过期" in resp.get_json()["message"]
        set_record(HANDLER, cert_no=None)
        resp = client.post(f"/api/tasks/{task['id']}/complete", headers=token(HANDLER), json={"data": PACKAGE})
        assert resp.status_code == 403 and "没有执法证记录" in resp.get_json()["message"]
        set_record(HANDLER, cert_no="13100000123", cert_valid_until=date(2030, 1, 1))
        case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)


def test_the_task_page_shows_the_refusal_and_keeps_the_input(ctx, client, token):
    with kept(HANDLER):
        case = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, "case_number": "安市监罚〔2026〕704号"})
        task = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
        set_record(HANDLER, cert_valid_until=date(2026, 1, 1))
        sign_in(client, HANDLER)
        page = client.get(f"/tasks/{task['id']}")
        resp = client.post(f"/tasks/{task['id']}/complete", data={"csrf_token": csrf(page), **PACKAGE})
        text = resp.get_data(as_text=True)
        assert resp.status_code == 403 and "已于 2026-01-01 过期" in text and "调查终结报告……" in text


# -- the October reminder --------------------------------------------------------------------------------------

def test_from_october_a_reviewer_below_the_hours_and_his_supervisors_are_told_once(ctx, client):
    rule = reg.ReviewerRule()
    with kept(NEWBIE):
        directory = Directory(db.session)
        sept = datetime(2026, 9, 30, 12, 0, tzinfo=SH)
        assert reg.remind_training(db.session, directory, sept, rule) == 0
        octo = datetime(2026, 10, 1, 8, 0, tzinfo=SH)
        assert reg.remind_training(db.session, directory, octo, rule) == 1       # only NEWBIE (12 hours)
        db.session.commit()
        notes = list(db.session.scalars(select(Notification).where(Notification.kind == "training_due")))
        assert {(n.user_id, n.audience) for n in notes} == {(user(NEWBIE).id, "assignee"), (user(SUP).id, "supervisor")}
        assert all(n.subject_user_id == user(NEWBIE).id and n.task_id is None for n in notes)
        assert reg.remind_training(db.session, directory, octo + timedelta(days=20), rule) == 0   # once a year
        assert db.session.scalar(select(TrainingReminder).where(TrainingReminder.year == 2026)).user_id == user(NEWBIE).id
        # the reviewer sees it in the bell and it leads to the profile
        sign_in(client, NEWBIE)
        menu = client.get("/notifications/menu").get_data(as_text=True)
        assert "培训学时" in menu
        note = next(n for n in notes if n.user_id == user(NEWBIE).id)
        resp = client.post(f"/notifications/{note.id}/open", data={"csrf_token": csrf(client.get("/profile"))})
        assert resp.headers["Location"].endswith("/profile")
        resp = client.get("/api/notifications")
        assert any(n["kind"] == "training_due" and n["task"] is None for n in resp.get_json()["notifications"])
        db.session.execute(delete(Notification).where(Notification.kind == "training_due"))
        db.session.commit()


# -- the dashboard, the profile, the API ------------------------------------------------------------------------

def test_the_dashboard_lists_the_shortfall_per_unit_with_excel(ctx, client, token):
    resp = client.get("/api/personnel/shortfall", headers=token(SUP))
    assert resp.status_code == 200
    rows = {r["unit_code"]: r for r in resp.get_json()["units"]}
    assert rows[UNIT]["reviewers"] == 2 and rows[UNIT]["qualified"] == 1 and rows[UNIT]["hours_missing"] == 18.0
    assert rows[UNIT]["without_certificate"] == 1
    assert rows["lf.anci.sthj"]["qualified"] == rows["lf.anci.sthj"]["reviewers"] == 1
    assert not any(code.startswith("lf.guan") for code in rows)          # his county only
    assert client.get("/api/personnel/shortfall", headers=token(HANDLER)).status_code == 403
    sign_in(client, SUP)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "法制审核人员资格" in page and "安次区市场监督管理局" in page
    resp = client.get("/dashboard/reviewers.xlsx")
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0][:5] == ["单位", "法制审核人员", "合格", "无法律职业资格", "缺少培训学时"]
    assert ["安次区市场监督管理局", 2, 1, 1, 18] == values[1][:5]


def test_a_reviewer_sees_his_hours_and_status_on_the_profile(ctx, client, token):
    resp = client.get("/api/personnel/me", headers=token(REVIEWER))
    assert resp.get_json()["qualified_reviewer"] is True and resp.get_json()["training_hours"] == 32.0
    sign_in(client, NEWBIE)
    page = client.get("/profile").get_data(as_text=True)
    assert "12.0 / 30" in page and "不合格" in page


def test_editing_through_the_api_is_scoped_and_checked(ctx, client, token):
    with kept(NEWBIE):
        newbie = user(NEWBIE).id
        assert client.get(f"/api/personnel/{newbie}", headers=token(OTHER_SUP)).status_code == 404   # other county
        assert client.get(f"/api/personnel/{newbie}", headers=token(HANDLER)).status_code == 403
        resp = client.put(f"/api/personnel/{newbie}", headers=token(SUP),
                          json={"cert_valid_from": "2026-02-30", "legal_cert_no": "x" * 80})
        assert resp.status_code == 422 and set(resp.get_json()["fields"]) == {"cert_valid_from", "legal_cert_no"}
        resp = client.put(f"/api/personnel/{newbie}", headers=token(SUP),
                          json={"legal_cert_no": "A2026131000001", "legal_cert_date": "2026-03-01"})
        assert resp.status_code == 200 and resp.get_json()["qualified_reviewer"] is False
        resp = client.post(f"/api/personnel/{newbie}/training", headers=token(SUP),
                           json={"day": "2026-05-10", "course": "行政处罚法专题", "hours": 18, "organiser": "安次区司法局"})
        assert resp.status_code == 201
        assert client.get(f"/api/personnel/{newbie}", headers=token(SUP)).get_json()["qualified_reviewer"] is True
        resp = client.post(f"/api/personnel/{newbie}/training", headers=token(SUP),
                           json={"day": "2026-05-10", "course": "x", "hours": 0.25})
        assert resp.status_code == 422 and "hours" in resp.get_json()["fields"]
        people = client.get("/api/personnel", headers=token(SUP)).get_json()["people"]
        assert {p["unit"]["code"] for p in people} <= {u.code for u in db.session.scalars(select(OrgUnit))
                                                       if u.code.startswith("lf.anci")}


# -- Excel ---------------------------------------------------------------------------------------------------

def workbook(people_rows, training_rows) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = reg.PEOPLE_SHEET
    ws.append([label for _n, label in reg.PEOPLE_COLUMNS])
    for r in people_rows:
        ws.append(r)
    ws2 = wb.create_sheet(reg.TRAINING_SHEET)
    ws2.append([label for _n, label in reg.TRAINING_COLUMNS])
    for r in training_rows:
        ws2.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(client, content: bytes):
    token = csrf(client.get("/personnel"))
    return client.post("/personnel/import", data={"csrf_token": token, "file": (io.BytesIO(content), "人员.xlsx")},
                       content_type="multipart/form-data")


def test_excel_import_with_a_bad_row_refuses_the_whole_file_and_names_the_row(ctx, client):
    with kept(NEWBIE, HANDLER):
        sign_in(client, SUP)
        good = [NEWBIE, "", "", "13100009999", "2026-01-01", "2030-12-31", "安次区", "A2026131000777", "2026-02-01",
                "2026-01-01"]
        bad = [HANDLER, "", "", "13100008888", "2026-01-01", "2025-12-31", "安次区", None, None, None]
        content = workbook([good, bad], [[NEWBIE, "", "2026-04-01", "专题培训", 20, "安次区司法局"],
                                         [NEWBIE, "", "2026-04-02", "专题培训二", "abc", "安次区司法局"],
                                         ["guan_scjg_review", "", "2026-04-02", "专题培训", 8, ""]])
        resp = upload(client, content)
        text = resp.get_data(as_text=True)
        assert resp.status_code == 422
        assert "没有导入任何数据" in text
        assert "工作表 执法人员，第 3 行" in text and "执法证有效期至" in text
        assert "工作表 培训记录，第 3 行" in text and "学时" in text
        assert "工作表 培训记录，第 4 行" in text                     # a person of another county
        assert reg.record_of(db.session, user(NEWBIE).id).cert_no != "13100009999"     # nothing imported
        assert reg.year_hours(db.session, [user(NEWBIE).id], date(2026, 6, 1))[user(NEWBIE).id] == Decimal("12")

        resp = upload(client, workbook([good], [[NEWBIE, "", "2026-04-01", "专题培训", 20, "安次区司法局"]]))
        assert resp.status_code == 302
        assert reg.record_of(db.session, user(NEWBIE).id).cert_no == "13100009999"
        assert reg.status_of(db.session, user(NEWBIE), date(2026, 6, 1), reg.ReviewerRule()).qualified
        # export and template round-trip
        exported = client.get("/personnel/export.xlsx")
        assert exported.status_code == 200
        sheet = load_workbook(io.BytesIO(exported.data))[reg.PEOPLE_SHEET]
        assert [NEWBIE, "13100009999"] in [[r[0], r[3]] for r in sheet.iter_rows(values_only=True)]
        assert client.get("/personnel/template.xlsx").status_code == 200
        assert upload(client, b"not a workbook").status_code == 422


# -- for the public lists and the assessment ---------------------------------------------------------------------

def test_public_roster_and_assessment_qualification(ctx):
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == UNIT))
    with kept(HANDLER):
        set_record(HANDLER, cert_valid_until=date(2020, 1, 1))
        roster = reg.public_roster(db.session, unit.id)
    assert roster and all(set(r) == {"name", "unit_name", "cert_no", "area", "valid_until"} for r in roster)
    assert "安次区市场监管局法制审核 冯新人" in [r["name"] for r in roster]
    handler = user(HANDLER).display_name
    assert handler not in [r["name"] for r in roster]                    # 执法证 expired: not published
    assert handler in [r["name"] for r in reg.public_roster(db.session, unit.id)]
    other = db.session.scalar(select(OrgUnit).where(OrgUnit.code == "lf.anci.sthj"))
    got = reg.assessment_qualification(db.session, [unit.id, other.id], date(2026, 1, 1), date(2026, 12, 31))
    assert got == {unit.id: (1, 2), other.id: (1, 1)}
    early = reg.assessment_qualification(db.session, [unit.id], date(2025, 1, 1), datetime(2025, 12, 31, tzinfo=SH))
    assert early == {unit.id: (1, 2)}
