"""Demo data of the official documents (文书) for `make run`: one 重大执法决定法制审核 case of 固安县市场监督管理局
walked through package, completeness check and legal review, so its case page shows the issued 申请表 and
法制审核意见书 with their 文号. Loaded once (nothing is added when an issued document exists)."""
from __future__ import annotations

from sqlalchemy import select

from engine.models import IssuedDocument, ProcessInstance, User

from . import services
from .extensions import db

HANDLER, REVIEWER = "guan_scjg_handler", "guan_scjg_review"
START = {"case_number": "固市监罚〔2026〕8号", "case_title": "某超市销售过期食品案", "case_type": "fine",
         "procedure_kind": "ordinary", "amount": 200000, "parties": "某超市有限公司",
         "filed_on": "2026-03-02", "summary": "销售超过保质期的食品，拟罚款20万元"}
STEPS = (
    (HANDLER, "submit_package", {"investigation_report": "经调查，当事人销售超过保质期的食品事实清楚。",
                                 "draft_decision": "行政处罚决定书（代拟稿）：罚款人民币贰拾万元。",
                                 "evidence_list": "现场检查笔录、询问笔录、检验报告",
                                 "application_form": "申请对拟作出的行政处罚决定进行法制审核"}),
    (REVIEWER, "check_completeness", {"package_complete": True}),
    (REVIEWER, "legal_review", {**{k: "ok" for k in ("check_subject", "check_authority", "check_procedure",
                                                      "check_facts", "check_law", "check_documents")},
                                "check_crime": "no", "review_outcome": "agree",
                                "review_opinion": "事实清楚，证据确凿，适用法律正确，程序合法，同意作出行政处罚决定。"}),
)


def load() -> bool:
    """Add the demo case unless documents were issued already; True when it was added."""
    if db.session.scalar(select(IssuedDocument.id).limit(1)) is not None:
        return False
    users = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_([HANDLER, REVIEWER])))}
    if len(users) < 2:
        return False
    handler = users[HANDLER]
    instance: ProcessInstance = services.runtime().start(
        "major_decision_review", business_key=START["case_number"], data=START, user=handler,
        validate=services.start_validator(handler))
    db.session.commit()
    for username, element, data in STEPS:
        svc = services.tasks()
        task = next(t for t in svc.open_tasks(instance.id) if t.element_id == element)
        svc.complete(users[username], task.id, data)
        db.session.commit()
    return True
