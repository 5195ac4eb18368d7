"""The pages of outside oversight (issue 12 §1–2) through the Flask test client: the registers, recording a
finding from the case page, 我的监督意见, expert opinions on the case page, and 404 outside what one may read."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time

from .procedures import tick
from .test_expert_panel import CONSULT, LI, WANG
from .test_major_decision_review import AGREE, REVIEWER, UNIT, start, submit_and_accept
from .test_pages import csrf, sign_in

SH = ZoneInfo("Asia/Shanghai")


def test_a_supervisor_records_a_finding_from_the_case_page(client, token):
    case = start(client, token)
    sign_in(client, "guan_observer")
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 200 and 'id="finding-form"' in page.get_data(as_text=True)
    resp = client.post(f"/cases/{case.id}/findings", data={"csrf_token": csrf(page), "finding_text": "未告知陈述申辩权利"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/oversight/findings")
    mine = client.get("/oversight/findings").get_data(as_text=True)
    assert "等待机关负责人答复" in mine and case.state()["business_key"] in mine
    assert "guan_scjg" not in mine and "lf.guan" not in mine            # names, not codes
    empty = client.post(f"/cases/{case.id}/findings", data={"csrf_token": csrf(page), "finding_text": " "})
    assert empty.status_code == 302
    assert client.get("/oversight/supervisors").status_code == 403


def test_registers_are_pages_of_the_bureau(client, token):
    sign_in(client, "guan_sup")
    page = client.get("/oversight/supervisors")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "固安县政协委员" in text and "固安县市场监督管理局" in text
    experts = client.get("/oversight/experts?field=生态环境").get_data(as_text=True)
    assert "李环保" in experts and "王法理" not in experts
    sign_in(client, "guan_scjg_handler")
    assert client.get("/oversight/experts").status_code == 403
    assert client.get("/oversight/findings").status_code == 403


def test_expert_opinions_on_the_case_page_and_experts_see_only_their_cases(ctx, client, token):
    with freeze_time(datetime(2026, 6, 1, 9, 0, tzinfo=SH)) as frozen:
        case = start(client, token, complex_case=True)
        other = start(client, token, case_number="固市监罚〔2026〕14号")
        submit_and_accept(case)
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        reviewer = ctx.test_client()                     # a browser of its own (the API calls use tokens)
        sign_in(reviewer, REVIEWER)
        form = reviewer.get(f"/tasks/{review['id']}").get_data(as_text=True)
        assert "李环保（生态环境、行政处罚）" in form and 'id="in-consult_expert_1"' in form    # the experts' fields
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, {**AGREE, **CONSULT})
        wang = [t for t in client.get("/api/tasks", headers=token(WANG)).get_json()["tasks"]][0]
        client.post(f"/api/tasks/{wang['id']}/complete", headers=token(WANG), json={"data": {"expert_opinion": "同意拟处罚"}})
        frozen.move_to(datetime(2026, 6, 9, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        sign_in(client, "guan_scjg_handler")
        page = client.get(f"/cases/{case.id}").get_data(as_text=True)
        assert 'id="expert-opinions"' in page and "同意拟处罚" in page and "期限届满未提出意见" in page
        sign_in(client, LI)
        assert client.get(f"/cases/{case.id}").status_code == 200
        assert client.get(f"/cases/{other.id}").status_code == 404
