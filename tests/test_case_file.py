"""One case, many instances (DOMAIN §3 "both sides' steps are in one case history"): the legal review, the
referral on both sides, a supervision notice and the revisit of a case are one case file with one timeline;
each person sees the instances they may see, and nothing of the others."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time

from .procedures import Case, tick
from .test_major_decision_review import AGREE, HANDLER, HEAD, ISSUE, MAJOR, PACKAGE, REVIEWER, UNIT, submit_and_accept

SH = ZoneInfo("Asia/Shanghai")
POLICE, POLICE_UNIT = "guan_gaj_handler", "lf.guan.gaj"


def case_file(client, token, instance_id: int, who: str) -> list[tuple[str, int]]:
    resp = client.get(f"/api/instances/{instance_id}", headers=token(who))
    assert resp.status_code == 200, resp.get_json()
    return [(i["process_key"], i["id"]) for i in resp.get_json()["case_file"]]


def page_of(client, who: str, instance_id: int) -> str:
    """The case page as ``who`` sees it (a browser of their own)."""
    browser = client.application.test_client()
    html = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    browser.post("/login", data={"username": who, "password": "demo1234", "csrf_token": csrf})
    page = browser.get(f"/cases/{instance_id}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def timeline_of(html: str) -> str:
    return html[html.index('id="timeline"'):html.index("</ol>", html.index('id="timeline"'))]


def test_review_referral_and_receipt_are_one_file_each_side_seeing_its_part(client, token):
    number = MAJOR["case_number"]
    review = Case(client, token, "major_decision_review", HANDLER, MAJOR)
    submit_and_accept(review)
    review.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {**AGREE, "check_crime": "yes", "review_outcome": "transfer"})
    review.do("办理案件移送", "handler", UNIT, HANDLER, {"referral_target": POLICE_UNIT, "referral_reason": "涉嫌犯罪"})
    sender = Case.found(client, token, "case_referral_requested", HANDLER, number)
    sender.do("审批移送涉嫌犯罪案件", "agency_head", UNIT, HEAD, {"approve_transfer": True})
    sender.do("制作移送函并移送材料", "handler", UNIT, HANDLER, {"letter_number": "固市监移〔2026〕1号",
                                                              "handover_list": "案卷1册"})
    police = Case.found(client, token, "referral_receipt", POLICE, number)
    police.do("审查是否立案（公安机关）", "handler", POLICE_UNIT, POLICE, {"file_case": True, "police_note": "符合立案标准"})

    # the sending unit sees its review, its referral and what became of it at the police
    whole = [("major_decision_review", review.id), ("case_referral_requested", sender.id),
             ("referral_receipt", police.id)]
    for shown in (review.id, sender.id, police.id):
        assert case_file(client, token, shown, HANDLER) == whole
    # the police see their own part only
    assert case_file(client, token, police.id, POLICE) == [("referral_receipt", police.id)]
    assert client.get(f"/api/instances/{review.id}", headers=token(POLICE)).status_code == 404
    # the county justice bureau oversees all of it
    assert case_file(client, token, review.id, "guan_sup") == whole
    # another county sees nothing
    assert client.get(f"/api/instances/{review.id}", headers=token("sanhe_sup")).status_code == 404

    mine = page_of(client, HANDLER, review.id)
    steps = timeline_of(mine)
    for step in ("法制审核", "审批移送涉嫌犯罪案件", "审查是否立案（公安机关）"):
        assert f"· {step}" in steps, step
    assert 'id="case-file"' in mine and "案件移送（接收单位）" in mine
    theirs = timeline_of(page_of(client, POLICE, police.id))
    assert "· 审查是否立案（公安机关）" in theirs and "· 法制审核" not in theirs and "审批移送涉嫌犯罪案件" not in theirs


def test_review_notice_and_revisit_share_one_timeline(ctx, client, token):
    number = MAJOR["case_number"]
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)) as frozen:
        review = Case(client, token, "major_decision_review", HANDLER, MAJOR)
        submit_and_accept(review)
        frozen.move_to(datetime(2026, 3, 19, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        review.do("法制审核逾期督办", "supervision_officer", "lf.guan.sfj", "guan_sup",
                  {"supervision_action": "notice", "supervision_opinion": "审核逾期，发出通知书"})
        notice = Case.found(client, token, "supervision_notice_auto", "guan_sup", number)
        notice.do("制发监督文书", "supervision_officer", "lf.guan.sfj", "guan_sup",
                  {"notice_number": "固司监〔2026〕2号", "notice_content": "限期完成审核"})
        frozen.move_to(datetime(2026, 3, 20, 9, 0, tzinfo=SH))
        review.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
        review.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve"})
        review.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, ISSUE)
        frozen.move_to(datetime(2026, 4, 20, 9, 0, tzinfo=SH))
        review.do("登记执行完毕并结案", "handler", UNIT, HANDLER,
                  {"executed_on": "2026-04-15", "closed_on": "2026-04-20", "case_origin": "complaint"})
        revisit = Case.found(client, token, "revisit_closed", "guan_scjg_revisit", number)
    expected = [("major_decision_review", review.id), ("supervision_notice_auto", notice.id),
                ("revisit_closed", revisit.id)]
    assert case_file(client, token, revisit.id, "guan_sup") == expected
    assert case_file(client, token, review.id, HANDLER) == expected     # the notice addressed the handler's unit
    steps = timeline_of(page_of(client, "guan_sup", revisit.id))
    order = [steps.index(f"· {step}") for step in ("提交法制审核材料", "法制审核逾期督办", "制发监督文书",
                                                   "制作并送达行政执法决定书", "开展回访")]
    assert order == sorted(order)                                       # one timeline, in time order
