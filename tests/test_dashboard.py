"""The supervisor dashboard (issue 5 §6): its figures against counts taken straight from the database, what
each supervisor may see, the pages, the Excel export and the handling-time outlier (平均数测算)."""
from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from lxml import html
from openpyxl import load_workbook
from sqlalchemy import func, select, text

from engine.dashboard import Dashboard, Filters, area_of
from engine.models import HumanTask, OrgUnit, ProcessInstance, User
from web.extensions import db

from .procedures import Case, tick
from .test_case_referral import PREPARE, refer
from .test_major_decision_review import MAJOR, PACKAGE
from .test_pilot_reporting import COUNTIES, ROUND, review, submit

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SH)          # a Monday
NOW = datetime(2026, 3, 20, 9, 30, tzinfo=SH)       # when the dashboard is looked at (a Friday)
SCJG = {"guan": "lf.guan.scjg", "sanhe": "lf.sanhe.scjg", "anci": "lf.anci.scjg", "bazhou": "lf.bazhou.scjg"}
TEAM, TEAM_USER = "lf.guan.guanzhen.zfd", "guan_guanzhen_handler"
SLOW_HOURS = 72                                       # 固安县市场监管局 takes 3 days to submit its package
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATES = ("open", "due_soon", "overdue", "escalated")


def major(client, token, county: str, number: str, user: str | None = None) -> Case:
    return Case(client, token, "major_decision_review", user or f"{county}_scjg_handler",
                {**MAJOR, "case_number": number, "case_title": f"{number} 销售过期食品案"})


def submit_package(case: Case, county: str) -> None:
    case.do("提交法制审核材料", "handler", SCJG[county], f"{county}_scjg_handler", PACKAGE)


def accept_package(case: Case, county: str) -> None:
    case.do("审查材料是否齐全", "legal_reviewer", SCJG[county], f"{county}_scjg_review", {"package_complete": True})


@pytest.fixture
def scenario(ctx, client, token):
    """On-time, due-soon, overdue and escalated tasks in four counties, a pilot round with one county that
    never reported, and one slow unit. The dashboard is looked at, time standing still, at NOW."""
    with freeze_time(T0) as frozen:
        guan = major(client, token, "guan", "固市监罚〔2026〕21号")
        sanhe = major(client, token, "sanhe", "三市监罚〔2026〕22号")
        anci = major(client, token, "anci", "安市监罚〔2026〕23号")
        bazhou = major(client, token, "bazhou", "=1+1 霸市监罚〔2026〕24号")      # text, never a formula
        pilot = Case(client, token, "pilot_reporting", "city_sup",
                     {**ROUND, "round_name": "2026年第一轮", "stage1_reminder": "2026-03-10",
                      "stage1_deadline": "2026-03-13", "stage2_deadline": "2026-03-27",
                      "stage3_deadline": "2026-04-30"}, business_key="PILOT-2026")
        frozen.move_to(T0 + timedelta(hours=1))
        submit_package(sanhe, "sanhe")                  # its completeness check is left: overdue on 03-05
        submit_package(anci, "anci")
        accept_package(anci, "anci")                    # legal review due 03-11, escalated on the 12th
        frozen.move_to(T0 + timedelta(hours=2))
        submit_package(bazhou, "bazhou")                # completeness check left: overdue
        frozen.move_to(T0 + timedelta(days=1))
        for county in COUNTIES:
            if county != "sanhe":                       # 三河市 never submits its plan
                submit(pilot, county, "报送县乡两级实施方案", {"plan_summary": f"{county} 实施方案"})
                review(pilot, county, "审核实施方案")
        frozen.move_to(T0 + timedelta(hours=SLOW_HOURS))
        submit_package(guan, "guan")
        accept_package(guan, "guan")                    # legal review due 03-16, escalated on the 17th
        frozen.move_to(datetime(2026, 3, 16, 9, 0, tzinfo=SH))
        for number, target in (("GZ-2026-101", SCJG["sanhe"]), ("GZ-2026-102", SCJG["guan"])):
            ref = refer(client, token, TEAM_USER, target, number=number)
            ref.do("制作移送函并移送材料", "handler", TEAM, TEAM_USER, PREPARE)   # answer: remind 03-19, due 03-23
        frozen.move_to(NOW - timedelta(hours=1))
        major(client, token, "sanhe", "三市监罚〔2026〕25号")                     # on time
        major(client, token, "guan", "固安镇罚〔2026〕26号", user=TEAM_USER)      # on time, a township team
        frozen.move_to(NOW)
        tick(ctx)
        yield {"now": NOW.astimezone(timezone.utc), "pilot": pilot.id}


# --- independent figures ------------------------------------------------------------------------------

def county_area(code: str) -> set[int]:
    """The ids of a county's units, from the codes (a unit's code extends its parent's)."""
    return set(db.session.scalars(select(OrgUnit.id).where((OrgUnit.code == code) | OrgUnit.code.like(code + ".%"))))


def states_of(task: HumanTask, now: datetime) -> set[str]:
    out = {"open"}
    past_due = task.due_at is not None and task.due_at < now
    if past_due or task.sla_state == "overdue":
        out.add("overdue")
    if task.sla_state == "escalated":
        out.add("escalated")
    if (task.remind_at is not None and task.remind_at <= now and not past_due
            and task.sla_state not in ("overdue", "escalated")):
        out.add("due_soon")
    return out


def expected(now: datetime, area: set[int] | None, key=lambda t: t.unit_id) -> dict:
    counts: dict = defaultdict(Counter)
    for task in db.session.scalars(select(HumanTask).where(HumanTask.status == "open")):
        if area is None or task.unit_id in area:
            for state in states_of(task, now):
                counts[key(task)][state] += 1
    return {k: {s: c[s] for s in STATES} for k, c in counts.items()}


def by_unit(rows: list[dict]) -> dict:
    return {r["unit_id"]: {s: r[s] for s in STATES} for r in rows}


# --- pages --------------------------------------------------------------------------------------------

def signed_in(app, username: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"csrf_token": csrf, "username": username, "password": "demo1234"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def page_of(client, path: str = "/dashboard"):
    resp = client.get(path)
    assert resp.status_code == 200
    return html.fromstring(resp.get_data(as_text=True))


def table_rows(doc, name: str) -> list[list[str]]:
    return [[td.text_content().strip() for td in tr.findall("td")]
            for tr in doc.get_element_by_id(f"{name}-table").find("tbody").findall("tr") if tr.get("class") != "empty"]


def as_text(value, number_format: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, float) or (number_format == "0.0" and isinstance(value, int)):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


# --- tests ----------------------------------------------------------------------------------------------

def test_counts_equal_the_database_for_every_supervisor(scenario):
    now = scenario["now"]
    everything = expected(now, None)
    # the seed holds every kind of task, in more than one county
    kinds = {s: sum(c[s] for c in everything.values()) for s in STATES}
    assert kinds["escalated"] >= 3 and kinds["due_soon"] >= 2 and kinds["overdue"] - kinds["escalated"] >= 2
    assert kinds["open"] - kinds["overdue"] - kinds["due_soon"] >= 2
    by_code = {u.id: u.code for u in db.session.scalars(select(OrgUnit))}
    for state in STATES[1:]:
        counties = {by_code[u].split(".")[1] for u, c in everything.items() if c[state] and by_code[u] != "lf.sfj"}
        assert len(counties) >= 2, (state, counties)

    users = {name: db.session.scalar(select(User).where(User.username == name))
             for name in ("admin", "city_sup", "city_observer", "guan_sup", "sanhe_sup")}
    areas = {name: area_of(db.session, u) for name, u in users.items()}
    assert areas["admin"] is None
    assert areas["city_sup"] == areas["city_observer"] == county_area("lf")
    assert areas["guan_sup"] == county_area("lf.guan") and areas["sanhe_sup"] == county_area("lf.sanhe")

    for name, area in areas.items():
        d = Dashboard(db.session, now, area)
        rows = d.unit_counts()
        assert by_unit(rows) == expected(now, area), name
        assert Dashboard.totals(rows) == {s: sum(c[s] for c in expected(now, area).values())
                                          for s in STATES}
        key_of = {i.id: i.process_key for i in db.session.scalars(select(ProcessInstance))}
        assert {r["process_key"]: {s: r[s] for s in STATES}
                for r in d.procedure_counts()} == expected(now, area, key=lambda t: key_of[t.instance_id]), name
        listed = {t.id for t in d.overdue_tasks()}
        assert listed == {t.id for t in db.session.scalars(select(HumanTask).where(HumanTask.status == "open"))
                          if (area is None or t.unit_id in area) and states_of(t, now) & {"overdue", "escalated"}}

    # plain SQL: open tasks per unit in 固安县
    guan = county_area("lf.guan")
    sql = dict(db.session.execute(text("SELECT unit_id, count(*) FROM human_tasks WHERE status = 'open' "
                                       "GROUP BY unit_id")).all())
    assert {u: r["open"] for u, r in by_unit(Dashboard(db.session, now, guan).unit_counts()).items()} == \
        {u: n for u, n in sql.items() if u in guan}

    # a county officer sees only that county's units; 三河市's officer none of 固安县's
    assert {r["unit_id"] for r in Dashboard(db.session, now, areas["guan_sup"]).unit_counts()} <= guan
    assert not {r["unit_id"] for r in Dashboard(db.session, now, areas["sanhe_sup"]).unit_counts()} & guan
    # filters: one procedure; tasks created from a day on
    rows = Dashboard(db.session, now, None, Filters(process_key="referral_receipt")).procedure_counts()
    assert [r["process_key"] for r in rows] == ["referral_receipt"]
    assert {s: rows[0][s] for s in STATES} == \
        expected(now, None, key=lambda t: key_of[t.instance_id])["referral_receipt"]
    since = datetime(2026, 3, 16, tzinfo=SH)
    d = Dashboard(db.session, now, None, Filters(created_from=since))
    assert sum(r["open"] for r in d.unit_counts()) == db.session.scalar(
        select(func.count()).select_from(HumanTask).where(HumanTask.status == "open", HumanTask.created_at >= since))


def test_the_slow_unit_is_flagged(scenario):
    rows = [r for r in Dashboard(db.session, scenario["now"], None).handling_times()
            if (r.process_key, r.element_id) == ("major_decision_review", "submit_package")]
    hours = {db.session.get(OrgUnit, r.unit_id).code: r.avg_hours for r in rows}
    # independently: completed package submissions, hours from offer to completion
    direct = defaultdict(list)
    for t in db.session.scalars(select(HumanTask).where(HumanTask.element_id == "submit_package",
                                                        HumanTask.status == "completed")):
        direct[t.unit.code].append((t.completed_at - t.created_at).total_seconds() / 3600)
    assert hours == {code: pytest.approx(sum(v) / len(v)) for code, v in direct.items()}
    assert hours[SCJG["guan"]] == pytest.approx(SLOW_HOURS) and len(hours) == 4
    assert {db.session.get(OrgUnit, r.unit_id).code for r in rows if r.flagged} == {SCJG["guan"]}
    # a county supervisor has too few units doing the step to compare
    guan_rows = Dashboard(db.session, scenario["now"], county_area("lf.guan")).handling_times()
    assert not any(r.flagged for r in guan_rows)


def test_pilot_round_status_per_county(scenario):
    now = scenario["now"]
    rows = {r.county: r for r in Dashboard(db.session, now, county_area("lf")).pilot_status()}
    assert len(rows) == len(COUNTIES)
    assert rows["固安县人民政府"].stages == ["确认监督职责机构并报送示范创建名单"]
    assert (rows["固安县人民政府"].overdue, rows["固安县人民政府"].circulars) == (0, 0)
    sanhe = rows["三河市人民政府"]
    assert sorted(sanhe.stages) == sorted(["报送县乡两级实施方案", "逾期未报送实施方案，列入通报"])
    # independently: the round's open tasks about 三河市 that are past due, and its 通报 listings
    tasks = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == scenario["pilot"],
                                                       HumanTask.subject == "三河市人民政府")).all()
    assert sanhe.overdue == sum(1 for t in tasks if t.status == "open" and t.due_at is not None and t.due_at < now) == 1
    assert sanhe.circulars == sum(1 for t in tasks if t.name.startswith("逾期未报送")) == 1
    # a county officer sees their own county's row only
    assert [r.county for r in Dashboard(db.session, now, county_area("lf.guan")).pilot_status()] == ["固安县人民政府"]
    assert [r.county for r in Dashboard(db.session, now, county_area("lf.sanhe")).pilot_status()] == ["三河市人民政府"]


def test_the_page_shows_the_same_numbers_with_links_and_the_flag(scenario, ctx):
    with freeze_time(NOW):
        now = scenario["now"]
        city = county_area("lf")
        doc = page_of(signed_in(ctx, "city_sup"))
        d = Dashboard(db.session, now, city)
        names = {u.id: u.name for u in db.session.scalars(select(OrgUnit))}
        want = expected(now, city)
        page = {row[1]: [int(n) for n in row[2:]] for row in table_rows(doc, "units")}
        assert page == {names[u]: [c["open"], c["due_soon"], c["overdue"], c["escalated"]] for u, c in want.items()}
        for state in STATES:
            assert int(doc.get_element_by_id(f"total-{state}").text_content()) == sum(c[state] for c in want.values())
        procedures = {row[0]: [int(n) for n in row[1:]] for row in table_rows(doc, "procedures")}
        assert procedures == {r["procedure"]: [r[s] for s in STATES]
                              for r in d.procedure_counts()}
        assert sum(v[2] for v in procedures.values()) == sum(c["overdue"] for c in want.values())
        # the overdue list: one row per task, each with the case page and the task
        overdue = d.overdue_tasks()
        rows = doc.get_element_by_id("overdue-table").find("tbody").findall("tr")
        assert len(rows) == len(overdue) == len(table_rows(doc, "overdue"))
        for tr, task in zip(rows, overdue):
            links = [a.get("href") for a in tr.iter("a")]
            assert links == [f"/cases/{task.instance_id}", f"/tasks/{task.id}"]
        client = signed_in(ctx, "city_sup")
        assert client.get(f"/cases/{overdue[0].instance_id}").status_code == 200
        # the slow unit, flagged
        flagged = [row for row in doc.get_element_by_id("handling-table").iter("tr") if row.get("class") == "flagged"]
        assert [[td.text_content() for td in row.findall("td")][3] for row in flagged] == ["固安县市场监督管理局"]
        assert "chart.umd.js" in html.tostring(doc).decode()


@pytest.mark.parametrize("name", ["units", "procedures", "overdue", "handling", "pilot"])
def test_excel_export_holds_the_rows_of_the_page(scenario, ctx, name):
    with freeze_time(NOW):
        client = signed_in(ctx, "city_sup")
        doc = page_of(client)
        resp = client.get(f"/dashboard/export/{name}.xlsx")
        assert resp.status_code == 200 and resp.mimetype == XLSX
        assert "2026-03-20.xlsx" in resp.headers["Content-Disposition"]
        sheet = load_workbook(io.BytesIO(resp.data)).active
        cells = [[as_text(c.value, c.number_format) for c in row] for row in sheet.iter_rows()]
        headers = [th.text_content() for th in doc.get_element_by_id(f"{name}-table").iter("th")]
        assert cells[0] == headers and all(re.search(r"[\u4e00-\u9fff]", h) for h in headers)
        assert cells[1:] == table_rows(doc, name) and cells[1:]
        if name == "overdue":
            kept = [row[0] for row in sheet.iter_rows(min_row=2) if str(row[0].value).startswith("=")]
            assert kept and all(c.data_type == "s" for c in kept)


def test_county_officers_see_only_their_county_and_handlers_nothing(scenario, ctx):
    with freeze_time(NOW):
        units = db.session.scalars(select(OrgUnit)).all()
        for officer, county in (("guan_sup", "lf.guan"), ("sanhe_sup", "lf.sanhe")):
            client = signed_in(ctx, officer)
            doc = page_of(client)
            area = county_area(county)
            shown = {row[1] for row in table_rows(doc, "units")}
            assert shown and shown <= {u.name for u in units if u.id in area}
            texts = [doc.find("body").find("main").text_content()]
            for name in ("units", "procedures", "overdue", "handling", "pilot"):
                sheet = load_workbook(io.BytesIO(client.get(f"/dashboard/export/{name}.xlsx").data)).active
                texts.append(" ".join(as_text(v) for row in sheet.iter_rows(values_only=True) for v in row))
            for content in texts:
                assert [u.name for u in units if u.id not in area and u.name in content] == [], officer
            if officer == "sanhe_sup":
                assert not any("固安" in content for content in texts)
        handler = signed_in(ctx, "guan_scjg_handler")
        assert handler.get("/dashboard").status_code == 403
        assert handler.get("/dashboard/export/overdue.xlsx").status_code == 403
        observer = signed_in(ctx, "city_observer")
        assert observer.get("/dashboard").status_code == 200
        assert signed_in(ctx, "city_sup").get("/dashboard/export/nothing.xlsx").status_code == 404
