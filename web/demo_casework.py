"""Demo cases for finding and moving work (`flask demo load`): cases of 固安县市场监督管理局 to search by
当事人, three packages waiting for the same completeness check (batch completion), one withdrawn and one
cancelled case. Started through the engine as their users would; loaded once (by their case numbers)."""
from __future__ import annotations

from sqlalchemy import select

from engine import casework
from engine.models import HumanTask, ProcessInstance, User

from . import services
from .extensions import db

HANDLER, HEAD = "guan_scjg_handler", "guan_scjg_head"
BASE = {"case_title": "某超市销售过期食品案", "case_type": "fine", "procedure_kind": "ordinary", "amount": 200000,
        "filed_on": "2026-11-02", "summary": "销售过期食品，拟罚款20万元"}
PACKAGE = {"investigation_report": "调查终结报告……", "draft_decision": "行政处罚决定书（代拟稿）……",
           "evidence_list": "现场笔录、询问笔录、检验报告", "application_form": "申请对拟作出的处罚决定进行法制审核"}
CASES = [  # number, title, parties, what happens
    ("固市监罚〔2026〕演示1号", "某超市销售过期食品案", "固安县鑫源超市有限公司", "submitted"),
    ("固市监罚〔2026〕演示2号", "某药店销售假药案", "固安县康宁大药房", "submitted"),
    ("固市监罚〔2026〕演示3号", "某餐馆无证经营案", "固安县老王家常菜馆（个体工商户）", "submitted"),
    ("固市监罚〔2026〕演示4号", "某商店虚假宣传案", "固安县明星百货商店", "withdrawn"),
    ("固市监罚〔2026〕演示5号", "某加油站计量作弊案", "固安县顺达加油站", "cancelled"),
]


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def seed() -> int:
    """Start the demo cases that do not exist yet; returns how many were started."""
    handler = _user(HANDLER)
    if handler is None:
        return 0
    started = 0
    for number, title, parties, fate in CASES:
        if db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == number)) is not None:
            continue
        runtime = services.runtime()
        instance = runtime.start("major_decision_review", business_key=number, user=handler,
                                 data={**BASE, "case_number": number, "case_title": title, "parties": parties},
                                 validate=services.start_validator(handler))
        if fate == "submitted":
            task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                             HumanTask.status == "open",
                                                             HumanTask.element_id == "submit_package"))
            if task is not None:
                services.tasks().complete(handler, task.id, PACKAGE)
        elif fate == "withdrawn":
            casework.withdraw(runtime, handler, instance, "当事人已主动整改，撤回审核申请")
        elif fate == "cancelled":
            casework.cancel(runtime, _user(HEAD), instance, "经查属重复立案，予以撤销")
        db.session.commit()
        started += 1
    return started
