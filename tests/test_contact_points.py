"""Enterprise contact points (企业联系点) and the yearly survey round (issue 12 §3): the register with its
credit-code check, area scoping, and a round over three contact points walked through the API — the timer
fires, three visit tasks go to the responsible supervision officers, the questionnaires rate every unit that
enforces on each point, and the results are aggregated per enforcement unit."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import delete, func, select

from engine.models import ProcessInstance
from engine.registers.contact_point_models import ContactPoint, ContactPointUnit, SurveyRating, SurveyResponse
from engine.registers.contact_points import credit_check_char, credit_code_problem, next_survey_date
from engine.repository import Repository
from engine.runtime import Runtime
from web.extensions import db

from .procedures import tick

SH = ZoneInfo("Asia/Shanghai")


def code_for(body17: str) -> str:
    return body17 + credit_check_char(body17)


CODES = [code_for("91131022MA0" + f"{i:06d}") for i in range(1, 6)]


@pytest.fixture
def points(ctx):
    yield
    db.session.rollback()
    db.session.execute(delete(SurveyRating))
    db.session.execute(delete(SurveyResponse))
    db.session.execute(delete(ContactPointUnit))
    db.session.execute(delete(ContactPoint))
    db.session.commit()


def _create(client, headers, **body):
    base = {"name": "某某食品有限公司", "credit_code": CODES[0], "sector": "食品生产", "address": "固安县工业园区",
            "contact_name": "张经理", "contact_phone": "0316-1234567", "units": ["lf.guan.scjg"]}
    return client.post("/api/contact-points", headers=headers, json={**base, **body})


@pytest.mark.nodb
def test_credit_code_check_digit():
    assert credit_code_problem("91350100M000100Y43") is None          # the standard's published example
    assert credit_code_problem("91350100M000100Y44") is not None        # wrong check character
    assert credit_code_problem("91350100M000100Y4") is not None         # 17 characters
    assert credit_code_problem("91350100M0001O0Y43") is not None        # the letter O is not used
    assert credit_code_problem("91ABCDEFM000100Y43") is not None        # division code must be digits


@pytest.mark.nodb
def test_next_survey_date():
    now = datetime(2026, 6, 1, 9, 0, tzinfo=SH)
    assert next_survey_date(now, "03-15", "09-15") == datetime(2026, 9, 15, 9, 0, tzinfo=SH)
    assert next_survey_date(now, "03-15") == datetime(2027, 3, 15, 9, 0, tzinfo=SH)


def test_register_checks_input_and_scopes_by_area(client, token, points):
    sup = token("guan_sup")
    resp = _create(client, sup, credit_code="91350100M000100Y44", units=[])
    assert resp.status_code == 422
    fields = resp.get_json()["fields"]
    assert set(fields) == {"credit_code", "units"} and "校验码" in fields["credit_code"][0]
    # a unit of another county cannot be named by Gu'an's bureau
    assert _create(client, sup, units=["lf.sanhe.scjg"]).status_code == 422
    resp = _create(client, sup)
    assert resp.status_code == 201, resp.get_json()
    point = resp.get_json()
    assert point["owner"]["name"] == "固安县司法局" and point["units"] == [{"code": "lf.guan.scjg",
                                                                       "name": "固安县市场监督管理局"}]
    assert _create(client, sup).status_code == 422                       # the same enterprise twice
    # another county's supervisor neither sees nor changes it
    assert client.get(f"/api/contact-points/{point['id']}", headers=token("sanhe_sup")).status_code == 404
    assert client.patch(f"/api/contact-points/{point['id']}", headers=token("sanhe_sup"),
                        json={"name": "x"}).status_code == 404
    assert [p["id"] for p in client.get("/api/contact-points", headers=token("sanhe_sup")).get_json()["contact_points"]] == []
    assert client.get("/api/contact-points", headers=token("guan_scjg_handler")).status_code == 403
    # the city sees it; the keeper edits it
    assert [p["id"] for p in client.get("/api/contact-points", headers=token("city_sup")).get_json()["contact_points"]] == [point["id"]]
    resp = client.patch(f"/api/contact-points/{point['id']}", headers=sup,
                        json={"units": ["lf.guan.scjg", "lf.guan.sthj"], "sector": "食品"})
    assert resp.status_code == 200 and [u["code"] for u in resp.get_json()["units"]] == ["lf.guan.scjg", "lf.guan.sthj"]
    export = client.get("/contact-points/export.xlsx", headers=sup)
    assert export.status_code == 200 and export.data[:2] == b"PK"


def _do(client, headers, task, data):
    resp = client.post(f"/api/tasks/{task['id']}/complete", headers=headers, json={"data": data})
    assert resp.status_code == 200, resp.get_json()


def test_a_survey_round_over_three_contact_points(ctx, client, token, points):
    guan, city = token("guan_sup"), token("city_sup")
    a = _create(client, guan, name="甲公司", credit_code=CODES[1], units=["lf.guan.scjg", "lf.guan.sthj"]).get_json()
    b = _create(client, guan, name="乙公司", credit_code=CODES[2], units=["lf.guan.scjg"]).get_json()
    c = _create(client, city, name="丙公司", credit_code=CODES[3], units=["lf.scjg", "lf.guan.scjg"]).get_json()
    runtime = Runtime(db.session, ctx.extensions["clock"])
    with freeze_time(datetime(2026, 3, 1, 9, 0, tzinfo=SH)) as frozen:
        definition = Repository(db.session, ctx.extensions["clock"]).latest("enterprise_survey")
        [waiting] = runtime.start_timer_instances([definition])
        db.session.commit()
        assert waiting.next_timer_at == datetime(2026, 3, 15, 9, 0, tzinfo=SH)
        frozen.move_to(datetime(2026, 3, 15, 9, 0, 5, tzinfo=SH))
        tick(ctx)
        tasks = client.get(f"/api/instances/{waiting.id}", headers=token("admin")).get_json()["open_tasks"]
        assert sorted((t["subject"], t["unit"]["code"], t["role"]) for t in tasks) == [
            ("丙公司", "lf.sfj", "supervision_officer"), ("乙公司", "lf.guan.sfj", "supervision_officer"),
            ("甲公司", "lf.guan.sfj", "supervision_officer")]
        # the next round waits for 15 September
        parked = db.session.scalars(select(ProcessInstance).where(
            ProcessInstance.process_key == "enterprise_survey", ProcessInstance.id != waiting.id)).all()
        assert datetime(2026, 9, 15, 9, 0, tzinfo=SH) in [p.next_timer_at for p in parked]
        by_subject = {t["subject"]: t for t in tasks}
        # a questionnaire must rate every unit that enforces on the point
        resp = client.post(f"/api/tasks/{by_subject['甲公司']['id']}/complete", headers=guan, json={"data": {
            "visited_on": "2026-03-16", "unit_ratings": [{"code": "lf.guan.scjg", "satisfaction": "5"}]}})
        assert resp.status_code == 422 and "unit_ratings" in resp.get_json()["fields"]
        resp = client.post(f"/api/tasks/{by_subject['甲公司']['id']}/complete", headers=guan, json={"data": {
            "visited_on": "2026-03-16", "unit_ratings": [{"code": "lf.guan.scjg", "satisfaction": "2"},
                                                         {"code": "lf.guan.sthj", "satisfaction": "4"}]}})
        assert resp.status_code == 422 and list(resp.get_json()["fields"]) == ["unit_ratings.0.comment"]
        _do(client, guan, by_subject["甲公司"], {
            "visited_on": "2026-03-16", "problems": "检查次数偏多", "suggestions": "合并检查",
            "unit_ratings": [{"code": "lf.guan.scjg", "satisfaction": "2", "comment": "重复检查"},
                             {"code": "lf.guan.sthj", "satisfaction": "4"}]})
        _do(client, guan, by_subject["乙公司"], {
            "visited_on": "2026-03-17", "unit_ratings": [{"code": "lf.guan.scjg", "satisfaction": "5"}]})
        # the county cannot answer the city's visit
        assert client.post(f"/api/tasks/{by_subject['丙公司']['id']}/complete", headers=guan,
                           json={"data": {}}).status_code in (403, 404)
        _do(client, city, by_subject["丙公司"], {
            "visited_on": "2026-03-18", "unit_ratings": [{"code": "lf.scjg", "satisfaction": "3"},
                                                         {"code": "lf.guan.scjg", "satisfaction": "4"}]})
        assert client.get(f"/api/instances/{waiting.id}", headers=token("admin")).get_json()["status"] == "completed"
        results = client.get(f"/api/surveys/results?round={waiting.id}", headers=city).get_json()["units"]
        got = {r["unit"]["code"]: (r["ratings"], r["mean"]) for r in results}
        assert got == {"lf.guan.scjg": (3, round((2 + 5 + 4) / 3, 2)), "lf.guan.sthj": (1, 4.0), "lf.scjg": (1, 3.0)}
        # a county sees its own units only
        county = client.get(f"/api/surveys/results?round={waiting.id}", headers=guan).get_json()["units"]
        assert {r["unit"]["code"] for r in county} == {"lf.guan.scjg", "lf.guan.sthj"}
        rounds = client.get("/api/surveys/rounds", headers=city).get_json()["rounds"]
        assert [(r["id"], r["responses"]) for r in rounds] == [(waiting.id, 3)]
        assert db.session.scalar(select(func.count()).select_from(SurveyResponse)) == 3
        export = client.get(f"/surveys/export.xlsx?round={waiting.id}", headers=city)
        assert export.status_code == 200 and export.data[:2] == b"PK"
