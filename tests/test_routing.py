"""Every task reaches a person (issue 9): the paths that used to end at a (role, unit) nobody holds, walked
to the user who receives each step (DOMAIN §0, §1 on routing)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from engine.models import User
from web.extensions import db

from .procedures import Case, tick
from .test_case_referral import PREPARE, refer, receiver
from .test_major_decision_review import MAJOR, PACKAGE

SH = ZoneInfo("Asia/Shanghai")
TEAM, TEAM_USER = "lf.guan.guanzhen.zfd", "guan_guanzhen_handler"      # 固安镇综合行政执法队
TOWN, TOWN_HEAD = "lf.guan.guanzhen", "guan_guanzhen_head"              # 固安镇人民政府
SFS, SFS_USER = "lf.guan.guanzhen.sfs", "guan_guanzhen_sfs"             # 固安镇司法所
BUREAU, SUP = "lf.guan.sfj", "guan_sup"                                 # 固安县司法局
REVISIT = {"revisit_method": "phone", "rectified": True, "lawful_conduct": True, "showed_id": True,
           "explained_rights": True, "improper_demands": False}


@contextmanager
def inactive(username: str):
    """The user is away (deactivated) for the block; restored afterwards."""
    user = db.session.scalar(select(User).where(User.username == username))
    user.active = False
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        user = db.session.scalar(select(User).where(User.username == username))
        user.active = True
        db.session.commit()


# -- reviews of township cases (DOMAIN §1: the 司法所 when it has a reviewer — see test_major_decision_review —
#    else the county bureau) -----------------------------------------------------------------------------------

def test_township_review_goes_to_the_county_bureau_when_its_justice_office_has_no_reviewer(client, token):
    with inactive(SFS_USER):
        case = Case(client, token, "major_decision_review", TEAM_USER, MAJOR)
        case.do("提交法制审核材料", "handler", TEAM, TEAM_USER, PACKAGE)
        case.do("审查材料是否齐全", "legal_reviewer", BUREAU, "guan_review", {"package_complete": True})


# -- a supervision notice about a township case's late review ------------------------------------------------

@pytest.mark.parametrize("away, review_unit, reviewer, replier", [
    (None, SFS, SFS_USER, SFS_USER),                                   # reviewed (late) by the 司法所
    (SFS_USER, BUREAU, "guan_review", "guan_jb_handler"),              # reviewed (late) by the county bureau
], ids=["justice-office", "county-bureau"])
def test_notice_about_a_late_township_review_reaches_a_person(ctx, client, token, away, review_unit, reviewer,
                                                              replier):
    with (inactive(away) if away else _nothing()), freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)) as frozen:
        case = Case(client, token, "major_decision_review", TEAM_USER, MAJOR)
        case.do("提交法制审核材料", "handler", TEAM, TEAM_USER, PACKAGE)
        case.do("审查材料是否齐全", "legal_reviewer", review_unit, reviewer, {"package_complete": True})
        frozen.move_to(datetime(2026, 3, 19, 0, 0, 5, tzinfo=SH))       # 7 working days have run out
        tick(ctx)
        supervisor = "guan_sup" if review_unit == SFS else "city_sup"
        bureau = BUREAU if review_unit == SFS else "lf.sfj"
        case.do("法制审核逾期督办", "supervision_officer", bureau, supervisor,
                {"supervision_action": "notice", "supervision_opinion": "审核逾期，发出监督通知书"})
        notice = Case.found(client, token, "supervision_notice_auto", supervisor)
        notice.do("制发监督文书", "supervision_officer", bureau, supervisor,
                  {"notice_number": "固司监〔2026〕9号", "notice_content": "限期完成审核并书面回复"})
        notice.do("整改并书面回复", "handler", review_unit, replier, {"rectification_measures": "已完成审核"})
        notice.do("审查整改回复", "supervision_officer", bureau, supervisor, {"reply_accepted": True})
        assert notice.status() == "completed"


@contextmanager
def _nothing():
    yield


# -- revisit clues about township cases (DOMAIN §2) -------------------------------------------------------------

def test_revisit_clue_about_a_township_case_reaches_revisit_officers(client, token):
    body = {"name": "revisit_clue", "payload": {"case_number": "12345-2026-0101", "case_unit": TEAM,
                                                "case_title": "市民反映综合执法队执法问题", "clue_source": "hotline"}}
    resp = client.post("/api/messages", headers=token(SUP), json=body)
    assert resp.status_code == 201, resp.get_json()
    clue = Case.found(client, token, "revisit_clue", "guan_jb_revisit")
    officers = {"officer_1": "guan_jb_revisit", "officer_2": "guan_jb_revisit2"}
    clue.do("开展回访", "revisit_officer", BUREAU, "guan_jb_revisit",
            {**REVISIT, **officers, "satisfaction": "dissatisfied", "opinions": "执法人员未出示证件"})
    clue.do("核实回访反映的问题", "agency_head", TOWN, TOWN_HEAD, {"problem_confirmed": True, "verify_note": "属实"})
    clue.do("整改回访发现的问题", "handler", TEAM, TEAM_USER, {"rectification": "批评教育"})
    clue.do("向当事人反馈", "revisit_officer", BUREAU, "guan_jb_revisit2",
            {"feedback_content": "已整改", "feedback_on": "2026-06-10"})
    assert clue.status() == "completed"


# -- referrals (DOMAIN §3) --------------------------------------------------------------------------------------

@pytest.mark.parametrize("sender_user, sender_unit, target, target_user", [
    ("guan_scjg_handler", "lf.guan.scjg", "lf.guan.cgzf", "guan_cgzf_handler"),     # 城管
    ("guan_scjg_handler", "lf.guan.scjg", "lf.guan.yjgl", "guan_yjgl_handler"),     # 应急
    ("guan_sthj_handler", "lf.guan.sthj", "lf.sthj", "city_sthj_handler"),          # the city 生态环境局
    ("guan_scjg_handler", "lf.guan.scjg", "lf.guan", "guan_gov_handler"),           # a government
], ids=["cgzf", "yjgl", "city-sthj", "government"])
def test_referral_reaches_the_receiving_handler(client, token, sender_user, sender_unit, target, target_user):
    sender = refer(client, token, sender_user, target, number=f"REF-{target}")
    sender.do("制作移送函并移送材料", "handler", sender_unit, sender_user, PREPARE)
    rcv = receiver(sender, target_user)
    rcv.do("审查移送案件并答复", "handler", target, target_user, {"answer": "accept"})
    rcv.do("立案办理移送案件", "handler", target, target_user, {"new_case_number": "立〔2026〕1号"})
    assert sender.status() == "completed" and rcv.status() == "completed"


def test_criminal_referral_to_the_city_police_reaches_an_officer(client, token):
    sender = refer(client, token, "city_scjg_handler", "lf.gaj", kind="criminal", number="LF-XS-1")
    sender.do("审批移送涉嫌犯罪案件", "agency_head", "lf.scjg", "city_scjg_head", {"approve_transfer": True})
    sender.do("制作移送函并移送材料", "handler", "lf.scjg", "city_scjg_handler", PREPARE)
    police = receiver(sender, "city_gaj_handler")
    police.do("审查是否立案（公安机关）", "handler", "lf.gaj", "city_gaj_handler",
              {"file_case": True, "police_note": "符合立案标准"})
    assert sender.status() == "completed" and police.status() == "completed"


def test_same_township_referral_is_coordinated_by_the_county_bureau(client, token):
    sender = refer(client, token, TEAM_USER, TOWN, number="GZ-2026-050")
    sender.do("制作移送函并移送材料", "handler", TEAM, TEAM_USER, PREPARE)
    rcv = receiver(sender, "guan_guanzhen_gov_handler")
    rcv.do("审查移送案件并答复", "handler", TOWN, "guan_guanzhen_gov_handler",
           {"answer": "object", "objection_reason": "属综合行政执法队职权"})
    rcv.do("受理移送争议", "supervision_officer", BUREAU, SUP, {"need_material": False})
    rcv.do("出具行政执法协调意见书", "supervision_officer", BUREAU, SUP,
           {"designated": "deadlock", "coordination_opinion": "双方意见分歧"})
    rcv.do("提请人民政府决定", "agency_head", TOWN, TOWN_HEAD,
           {"designated": "sender", "decision_note": "由综合行政执法队办理"})
    sender.do("继续办理退回的案件", "handler", TEAM, TEAM_USER, {"returned_note": "继续办理"})
    assert sender.status() == "completed" and rcv.status() == "completed"
