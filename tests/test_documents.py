"""Official documents (文书): generated as PDF when a step issues them, with a 文号 per unit, kind and year that
is consecutive — also when two steps issue at once — and gap-free (a rolled-back step consumes no number)."""
from __future__ import annotations

import io
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from pypdf import PdfReader
from sqlalchemy import select

from engine.documents import KINDS, unit_prefix
from engine.models import DocumentCounter, HumanTask, IssuedDocument, OrgUnit, User
from web.extensions import db
from web.forms_web import store

from .procedures import Case
from .test_major_decision_review import AGREE, HANDLER, MAJOR, REVIEWER, UNIT, submit_and_accept

SH = ZoneInfo("Asia/Shanghai")


def pdf_text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).replace(" ", "")


def issued(instance_id: int | None = None) -> list[IssuedDocument]:
    db.session.expire_all()
    stmt = select(IssuedDocument).order_by(IssuedDocument.number)
    if instance_id is not None:
        stmt = stmt.where(IssuedDocument.instance_id == instance_id)
    return list(db.session.scalars(stmt))


def content_of(doc: IssuedDocument) -> bytes:
    return store().open(doc.attachment).read()


def reviewed_case(client, token, **extra) -> Case:
    case = Case(client, token, "major_decision_review", HANDLER, {**MAJOR, **extra})
    submit_and_accept(case)
    return case


def test_review_opinion_pdf_carries_its_number_case_and_opinion(client, token):
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH), tick=True):
        case = reviewed_case(client, token)
        # the submitted package issued the application form (申请表) of the handler's unit
        [application] = [d for d in issued(case.id) if d.kind == "review_application"]
        assert application.doc_number == "固市监申〔2026〕1号"
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    [opinion] = [d for d in issued(case.id) if d.kind == "review_opinion"]
    assert opinion.doc_number == "固市监审〔2026〕1号" and opinion.title == "法制审核意见书"
    assert opinion.attachment.instance_id == case.id and opinion.attachment.content_type == "application/pdf"
    text = pdf_text(content_of(opinion))
    assert "固市监审〔2026〕1号" in text
    assert "法制审核意见书" in text and "固安县市场监督管理局" in text
    assert MAJOR["case_title"] in text and "事实清楚，证据充分，同意。" in text
    assert "2026年3月9日" in text
    # the case history records the issue with its number
    assert any(h["data"].get("doc_number") == "固市监审〔2026〕1号" for h in case.history("document_issued"))


def test_asking_for_an_extension_issues_no_opinion(client, token):
    case = reviewed_case(client, token)
    case.do("法制审核", "legal_reviewer", UNIT, REVIEWER,
            {"request_extension": True, "extension_reason": "涉及多个法律关系"})
    assert [d.kind for d in issued(case.id)] == ["review_application"]


def test_numbers_run_per_unit_kind_and_year(client, token):
    first, second = reviewed_case(client, token), reviewed_case(client, token, case_number="固市监罚〔2026〕13号")
    first.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    second.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    opinions = [d for d in issued() if d.kind == "review_opinion"]
    assert [(d.instance_id, d.number) for d in opinions] == [(first.id, 1), (second.id, 2)]
    assert [d.doc_number for d in opinions] == ["固市监审〔2026〕1号", "固市监审〔2026〕2号"]
    assert [d.number for d in issued() if d.kind == "review_application"] == [1, 2]   # its own series


def test_a_rolled_back_step_consumes_no_number(ctx, client, token):
    """The number is taken in the step's transaction: when the step fails after it (here: the document's
    template is missing, after the counter moved), the counter goes back and the next document gets it."""
    first, second = reviewed_case(client, token), reviewed_case(client, token, case_number="固市监罚〔2026〕13号")
    first.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    real = ctx.config["DOCUMENT_TEMPLATE_DIR"]
    ctx.config["DOCUMENT_TEMPLATE_DIR"] = "/nonexistent"
    try:
        resp = second.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE, status=422)
        assert "法制审核意见书" in resp["message"]
    finally:
        ctx.config["DOCUMENT_TEMPLATE_DIR"] = real
    assert [d.number for d in issued() if d.kind == "review_opinion"] == [1]
    assert second.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)          # the step is still open
    second.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
    assert [d.number for d in issued() if d.kind == "review_opinion"] == [1, 2]
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == UNIT))
    assert db.session.get(DocumentCounter, (unit.id, "review_opinion", 2026)).last_number == 2


def test_two_steps_issuing_at_once_get_consecutive_numbers(app, ctx, client, token):
    """Two reviewers' sessions complete their reviews at the same moment (threads, each its own database
    session and transaction, released together): both documents are issued, numbered 1 and 2, none twice.
    On PostgreSQL both transactions run at once and the counter row's lock orders them; on SQLite the
    second waits for the first's write lock (taken at BEGIN)."""
    cases = [reviewed_case(client, token), reviewed_case(client, token, case_number="固市监罚〔2026〕13号")]
    task_ids = [c.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)["id"] for c in cases]
    db.session.commit()
    barrier, errors = threading.Barrier(2), []

    def review(task_id: str) -> None:
        try:
            with app.app_context():
                from web import services
                barrier.wait(timeout=30)
                user = db.session.scalar(select(User).where(User.username == REVIEWER))
                services.tasks().complete(user, task_id, AGREE)
                db.session.commit()
        except Exception as exc:                          # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=review, args=(t,)) for t in task_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    opinions = [d for d in issued() if d.kind == "review_opinion"]
    assert sorted(d.number for d in opinions) == [1, 2]
    assert {d.instance_id for d in opinions} == {c.id for c in cases}
    for doc in opinions:
        assert doc.doc_number in pdf_text(content_of(doc))
    assert db.session.scalar(select(HumanTask.status).where(HumanTask.id == task_ids[0])) == "completed"


def test_prefix_from_the_org_file_or_derived_from_the_name(ctx):
    def unit(code):
        return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    assert unit_prefix(unit("lf.guan.sfj")) == "固司"                 # short_name in the org file
    assert unit_prefix(OrgUnit(name="固安县司法局")) == "固司"
    assert unit_prefix(OrgUnit(name="廊坊市人民政府")) == "廊政"
    assert unit_prefix(OrgUnit(name="廊坊市市场监督管理局")) == "廊市"
    assert unit_prefix(OrgUnit(name="安次区银河南路街道司法所")) == "安司"
    assert unit_prefix(OrgUnit(name="中共廊坊市委机构编制委员会办公室")) == "廊委"
    assert set(KINDS) == {"review_opinion", "review_application", "supervision_notice", "coordination_opinion",
                          "referral_letter", "circular"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_with_its_number(ctx, kind):
    """Each template renders to a PDF whose text carries the 文号 (also with case data the step lacks)."""
    from engine.documents import render_pdf
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == "lf.guan.sfj"))
    text = pdf_text(render_pdf(ctx.config["DOCUMENT_TEMPLATE_DIR"], KINDS[kind], {
        "doc_number": "固司X〔2026〕7号", "title": KINDS[kind].title, "unit": unit, "unit_name": unit.name,
        "issuer": "张三", "issued_on": datetime(2026, 3, 9, 1, tzinfo=SH), "data": {"case_title": "某案"},
        "case_number": "", "case_title": "某案", "unit_label": lambda code: "", "step": ""}))
    assert "固司X〔2026〕7号" in text and "固安县司法局" in text


def test_supervision_notice_and_circular_are_issued_by_the_bureau(ctx, client, token):
    """督办: the notice issued on 制发监督文书 carries the bureau's 文号, which replaces whatever was typed into
    the form's number field and is what the case carries on; the overdue reply's 通报 gets its own series."""
    from .procedures import tick
    from .test_supervision_notice import BUREAU, ISSUE, SUP, notice_case
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)) as frozen:
        case = notice_case(client, token)
        case.do("制发监督文书", "supervision_officer", BUREAU, SUP, {**ISSUE, "notice_number": "手填的号"})
        [notice] = issued(case.id)
        assert notice.kind == "supervision_notice" and notice.doc_number == "固司督〔2026〕1号"
        text = pdf_text(content_of(notice))
        assert "固司督〔2026〕1号" in text and "固安县司法局" in text
        assert "固安县市场监督管理局" in text and "行政处罚决定书未载明救济途径" in text   # addressee by name
        completed = case.history("task_completed")[-1]["data"]["data"]
        assert completed["notice_number"] == "固司督〔2026〕1号"
        frozen.move_to(datetime(2026, 4, 17, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        case.do("逾期未回复，列入通报", "supervision_officer", BUREAU, SUP, {"circular_note": "列入第二季度通报"})
    circular = [d for d in issued(case.id) if d.kind == "circular"]
    assert [d.doc_number for d in circular] == ["固司通〔2026〕1号"]
    assert "列入第二季度通报" in pdf_text(content_of(circular[0]))


def test_referral_letter_number_goes_to_the_receiver(client, token):
    from .test_case_referral import GA_SCJG, GA_SCJG_USER, PREPARE, TEAM, TEAM_USER, receiver, refer
    sender = refer(client, token, TEAM_USER, GA_SCJG)
    sender.do("制作移送函并移送材料", "handler", TEAM, TEAM_USER, PREPARE)
    [letter] = issued(sender.id)
    assert letter.kind == "referral_letter" and letter.unit.name == "固安镇综合行政执法队"
    text = pdf_text(content_of(letter))
    assert letter.doc_number in text and "固安县市场监督管理局" in text and "案卷1册、现场照片12张" in text
    rcv = receiver(sender, GA_SCJG_USER)
    started = rcv.history("instance_started") or rcv.history("message_received")
    assert letter.doc_number in str(started)
