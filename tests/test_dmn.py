"""The decision table that says whether a case is a major enforcement decision (DOMAIN §1): one test per
rule row, run by the engine inside the legal-review procedure, plus an input that matches no row."""
import pytest
from sqlalchemy import delete

from engine.models import ProcessInstance
from engine.registers.lists_models import ListVersion
from engine.runtime import Runtime
from web.extensions import db

from .procedures import CASE, Case

# the case's matter is chosen from the unit's published 事项清单; SJ-CF-001 is not on its review list, SJ-CF-012 is
BASE = {**CASE, "summary": "简要案情", "amount": 3000, "case_type": "fine", "enforcement_matter": "SJ-CF-001",
        "public_interest": False, "hearing_held": False, "complex_case": False, "required_by_law": False}


@pytest.fixture(autouse=True)
def published_lists(ctx):
    """固安县市场监督管理局's published 事项清单 and 重大执法决定法制审核事项清单 (see tests/test_public_lists.py)."""
    from .test_public_lists import MATTERS, REVIEW, publish_directly
    now = ctx.extensions["clock"].now()
    publish_directly("matters", MATTERS, 1, now)
    publish_directly("major_review", REVIEW, 1, now)
    yield
    db.session.rollback()
    db.session.execute(delete(ListVersion))
    db.session.commit()


def decide(client, token, ctx, **inputs) -> tuple[bool, str]:
    case = Case(client, token, "major_decision_review", "guan_scjg_handler", {**BASE, **inputs})
    data = Runtime(db.session, ctx.extensions["clock"]).data_of(db.session.get(ProcessInstance, case.id))
    return data["is_major"], data["major_reason"]


@pytest.mark.parametrize("inputs, reason", [
    ({"enforcement_matter": "SJ-CF-012"}, "列入重大执法决定法制审核事项清单"),
    ({"public_interest": True}, "涉及重大公共利益"),
    ({"hearing_held": True}, "经过听证程序"),
    ({"complex_case": True}, "案件情况疑难复杂、涉及多个法律关系"),
    ({"required_by_law": True}, "法律、法规规定应当进行法制审核"),
    ({"case_type": "revoke_license"}, "吊销证照、责令停产停业或行政拘留"),
    ({"case_type": "suspend"}, "吊销证照、责令停产停业或行政拘留"),
    ({"case_type": "detention"}, "吊销证照、责令停产停业或行政拘留"),
    ({"amount": 100000}, "罚没金额较大（10万元以上）"),
], ids=["list", "public_interest", "hearing", "complex", "by_law", "revoke", "suspend", "detention", "amount"])
def test_each_rule_row(client, token, ctx, inputs, reason):
    assert decide(client, token, ctx, **inputs) == (True, reason)


def test_first_matching_row_gives_the_reason(client, token, ctx):
    assert decide(client, token, ctx, hearing_held=True, amount=500000) == (True, "经过听证程序")


def test_an_input_matching_no_row_is_not_major(client, token, ctx):
    assert decide(client, token, ctx, amount=99999.99, case_type="confiscation") == (False, "")
