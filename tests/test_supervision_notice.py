"""执法监督督办 (DOMAIN §4): notice → rectification reply → bureau check; overdue replies listed for 通报.
Started by a supervisor, by an overdue referral, or by an overdue legal review."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time


from .procedures import Case, tick
from .test_case_referral import GA_SCJG, GA_SCJG_USER, PREPARE, TEAM_USER, receiver, refer

SH = ZoneInfo("Asia/Shanghai")
BUREAU, SUP = "lf.guan.sfj", "guan_sup"
NOTICE = {"notice_unit": GA_SCJG, "notice_kind": "notice", "notice_issues": "行政处罚决定书未载明救济途径"}
ISSUE = {"notice_number": "固司监〔2026〕1号", "notice_content": "限期整改并书面回复"}


def notice_case(client, token, **extra) -> Case:
    return Case(client, token, "supervision_notice", SUP, {**NOTICE, **extra}, business_key="JD-2026-001")


def auto_notice(client, token, who: str) -> Case:
    return Case.found(client, token, "supervision_notice_auto", who)


def test_notice_reply_returned_then_accepted(client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)):
        case = notice_case(client, token)
        case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
        reply = case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)
        assert reply["due_at"].startswith("2026-04-16T15:59:59")         # 15 days
        case.do("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER, {"rectification_measures": "已补正"})
        resp = case.do("审查整改回复", "supervision_officer", BUREAU, SUP, {"reply_accepted": False}, status=422)
        assert resp["fields"] == {"check_opinion": ["此项为必填项。"]}
        case.do("审查整改回复", "supervision_officer", BUREAU, SUP,
                {"reply_accepted": False, "check_opinion": "未附整改后的决定书"})
        case.do("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER, {"rectification_measures": "已附决定书"})
        case.do("审查整改回复", "supervision_officer", BUREAU, SUP, {"reply_accepted": True})
        assert case.status() == "completed"


def test_complex_notice_has_thirty_working_days(client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)):
        case = notice_case(client, token, notice_complex=True)
        case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
        # 30 working days from 04-01 over 清明 (04-04..06) and 劳动节 (05-01..05, 05-09 a make-up day)
        assert case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)["due_at"].startswith("2026-05-18T15:59:59")


def test_overdue_reply_is_listed_for_circular(ctx, client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)) as frozen:
        case = notice_case(client, token)
        case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
        frozen.move_to(datetime(2026, 4, 17, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        case.expect("逾期未回复，列入通报", "supervision_officer", BUREAU, SUP)
        assert case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)["sla_state"] == "escalated"
        case.do("逾期未回复，列入通报", "supervision_officer", BUREAU, SUP, {"circular_note": "列入第二季度通报"})
        case.do("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER, {"rectification_measures": "迟交的整改报告"})
        case.do("审查整改回复", "supervision_officer", BUREAU, SUP, {"reply_accepted": True})
        assert case.status() == "completed"


def test_an_unanswered_referral_starts_a_notice(ctx, client, token):
    with freeze_time(datetime(2026, 3, 9, 10, 0, tzinfo=SH)) as frozen:
        sender = refer(client, token, TEAM_USER, GA_SCJG, number="GZ-2026-050")
        sender.do("制作移送函并移送材料", "handler", "lf.guan.guanzhen.zfd", TEAM_USER, PREPARE)
        rcv = receiver(sender, GA_SCJG_USER)
        frozen.move_to(datetime(2026, 3, 17, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        rcv.do("移送案件逾期未答复督办", "supervision_officer", BUREAU, SUP,
               {"supervision_action": "notice", "supervision_opinion": "发出监督通知书"})
        notice = auto_notice(client, token, SUP)
        notice.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
        notice.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)
        assert notice.state(SUP)["business_key"] == "GZ-2026-050"


def test_an_overdue_review_can_start_a_notice(ctx, client, token):
    from .test_major_decision_review import MAJOR, submit_and_accept
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)) as frozen:
        case = Case(client, token, "major_decision_review", GA_SCJG_USER, MAJOR)
        submit_and_accept(case)
        frozen.move_to(datetime(2026, 3, 19, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        case.do("法制审核逾期督办", "supervision_officer", BUREAU, SUP,
                {"supervision_action": "notice", "supervision_opinion": "审核逾期，发出通知书"})
        notice = auto_notice(client, token, SUP)
        notice.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
        notice.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)


# -- issue 9: rules that were wrong --------------------------------------------------------------------------

def test_the_reply_limit_counts_from_the_issue_of_the_notice(client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)) as frozen:
        case = notice_case(client, token)
        frozen.move_to(datetime(2026, 4, 3, 10, 0, tzinfo=SH))            # issued two days after it was started
        case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
        assert case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)["due_at"].startswith(
            "2026-04-18T15:59:59")                                        # 15 days from 04-03


def test_a_returned_complex_notice_gets_thirty_working_days_again(client, token):
    with freeze_time(datetime(2026, 4, 1, 9, 0, tzinfo=SH)) as frozen:
        case = notice_case(client, token, notice_complex=True)
        frozen.move_to(datetime(2026, 4, 3, 10, 0, tzinfo=SH))
        case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
        # 30 working days from 04-03 over 清明 (04-04..06) and 劳动节 (05-01..05, 05-09 a make-up day)
        assert case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)["due_at"].startswith(
            "2026-05-20T15:59:59")
        case.do("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER, {"rectification_measures": "部分整改"})
        frozen.move_to(datetime(2026, 4, 10, 10, 0, tzinfo=SH))
        case.do("审查整改回复", "supervision_officer", BUREAU, SUP, {"reply_accepted": False, "check_opinion": "未整改到位"})
        assert case.expect("整改并书面回复", "handler", GA_SCJG, GA_SCJG_USER)["due_at"].startswith(
            "2026-05-26T15:59:59")                                        # 30 working days from the return
