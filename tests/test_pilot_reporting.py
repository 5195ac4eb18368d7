"""试点阶段报送 (DOMAIN §5): a round over the 10 county-level units with absolute deadlines as input."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time

from .procedures import Case, tick

SH = ZoneInfo("Asia/Shanghai")
ROUND = {"round_name": "2022年试点", "stage1_deadline": "2022-10-31", "stage1_reminder": "2022-10-26",
         "stage2_deadline": "2022-11-10", "stage3_deadline": "2022-11-30"}
COUNTIES = ["anci", "bazhou", "dachang", "dacheng", "guan", "guangyang", "sanhe", "wenan", "xianghe", "yongqing"]
CITY, CITY_SUP = "lf.sfj", "city_sup"


def county_task(case: Case, name: str, county: str) -> dict:
    return case.expect(name, "supervision_officer", f"lf.{county}.sfj", f"{county}_sup")


def submit(case: Case, county: str, stage: str, data: dict) -> None:
    case.do(stage, "supervision_officer", f"lf.{county}.sfj", f"{county}_sup", data)


def review(case: Case, county: str, title: str, approved: bool = True) -> None:
    task = [t for t in case.open_tasks(CITY_SUP) if t["name"] == title and t["subject"].startswith(
        {"anci": "安次区", "bazhou": "霸州市", "dachang": "大厂", "dacheng": "大城县", "guan": "固安县",
         "guangyang": "广阳区", "sanhe": "三河市", "wenan": "文安县", "xianghe": "香河县",
         "yongqing": "永清县"}[county])]
    assert len(task) == 1, (title, county)
    assert (task[0]["role"], task[0]["unit"]["code"]) == ("supervision_officer", CITY)
    data = {"approved": True} if approved else {"approved": False, "review_note": "请补充乡镇实施方案"}
    resp = case.client.post(f"/api/tasks/{task[0]['id']}/complete", headers=case.token(CITY_SUP), json={"data": data})
    assert resp.status_code == 200, resp.get_json()


def test_round_eight_on_time_one_late_one_never(ctx, client, token):
    with freeze_time(datetime(2022, 10, 20, 9, 0, tzinfo=SH)) as frozen:
        case = Case(client, token, "pilot_reporting", CITY_SUP, ROUND, business_key="PILOT-2022")
        for county in COUNTIES:
            task = county_task(case, "报送县乡两级实施方案", county)
            assert task["due_at"].startswith("2022-10-31T15:59:59") and task["subject"].endswith("人民政府")
        late, never = "dacheng", "wenan"
        on_time = [c for c in COUNTIES if c not in (late, never)]
        frozen.move_to(datetime(2022, 10, 26, 9, 0, tzinfo=SH))
        tick(ctx)
        assert county_task(case, "报送县乡两级实施方案", never)["sla_state"] == "due_soon"
        for county in on_time:
            submit(case, county, "报送县乡两级实施方案", {"plan_summary": f"{county} 实施方案"})
        # the city returns one plan for revision; the county revises; the city approves
        review(case, "guan", "审核实施方案", approved=False)
        submit(case, "guan", "修改实施方案", {"plan_summary": "补充后的实施方案"})
        for county in on_time:
            review(case, county, "审核实施方案")
        frozen.move_to(datetime(2022, 11, 1, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        listed = sorted(t["subject"] for t in case.open_tasks(CITY_SUP) if t["name"] == "逾期未报送实施方案，列入通报")
        assert listed == ["大城县人民政府", "文安县人民政府"]
        for county in (late, never):
            assert county_task(case, "报送县乡两级实施方案", county)["sla_state"] == "escalated"
        submit(case, late, "报送县乡两级实施方案", {"plan_summary": "迟交的实施方案"})
        review(case, late, "审核实施方案")
        # stage 2 goes on for the nine that passed stage 1
        inbox = client.get("/api/tasks", headers=token(CITY_SUP)).get_json()["tasks"]
        assert "确认监督职责机构并报送示范创建名单" not in {t["name"] for t in inbox}   # county work, not the city's
        for county in on_time + [late]:
            task = county_task(case, "确认监督职责机构并报送示范创建名单", county)
            assert task["due_at"].startswith("2022-11-10T15:59:59")


def test_late_final_report_is_listed(ctx, client, token):
    with freeze_time(datetime(2022, 11, 1, 9, 0, tzinfo=SH)) as frozen:
        case = Case(client, token, "pilot_reporting", CITY_SUP, {**ROUND, "stage1_deadline": "2022-11-02"},
                    business_key="PILOT-2022-C")
        submit(case, "anci", "报送县乡两级实施方案", {"plan_summary": "方案"})
        review(case, "anci", "审核实施方案")
        submit(case, "anci", "确认监督职责机构并报送示范创建名单",
               {"supervision_body": "执法监督科", "townships_confirmed": True, "demo_list": "名单"})
        review(case, "anci", "审核示范创建名单")
        frozen.move_to(datetime(2022, 12, 1, 0, 0, 5, tzinfo=SH))
        tick(ctx)
        listed = [t["subject"] for t in case.open_tasks(CITY_SUP) if t["name"] == "逾期未报送总结报告和台账，列入通报"]
        assert listed == ["安次区人民政府"]


def test_all_three_stages_for_one_county_and_the_summary(ctx, client, token):
    with freeze_time(datetime(2022, 10, 20, 9, 0, tzinfo=SH)):
        case = Case(client, token, "pilot_reporting", CITY_SUP, ROUND, business_key="PILOT-2022-B")
        for county in COUNTIES:
            submit(case, county, "报送县乡两级实施方案", {"plan_summary": "方案"})
            review(case, county, "审核实施方案")
            stage2 = {"supervision_body": "县司法局执法监督科", "townships_confirmed": True, "demo_list": "示范乡镇"}
            submit(case, county, "确认监督职责机构并报送示范创建名单", stage2)
            if county == "sanhe":                                    # each return loop taken once
                review(case, county, "审核示范创建名单", approved=False)
                submit(case, county, "补充完善第二阶段报送材料", stage2)
            review(case, county, "审核示范创建名单")
            submit(case, county, "报送总结报告和试点台账", {"summary_report": "总结"})
            if county == "sanhe":
                review(case, county, "审核总结报告和台账", approved=False)
                submit(case, county, "修改总结报告和台账", {"summary_report": "补充后的总结"})
            review(case, county, "审核总结报告和台账")
        case.do("汇总本轮试点情况", "supervision_officer", CITY, CITY_SUP, {"round_summary": "全市10个县（市、区）均按期完成"})
        assert case.status() == "completed"


# -- issue 9: rules that were wrong --------------------------------------------------------------------------

def test_only_the_city_justice_bureau_starts_a_round(client, token):
    for who in ("guan_sup", "guan_scjg_handler"):                      # a county bureau; another role
        resp = client.post("/api/instances", headers=token(who),
                           json={"process_key": "pilot_reporting", "business_key": "PILOT-X", "data": ROUND})
        assert resp.status_code == 403, resp.get_json()
    resp = client.post("/api/instances", headers=token("guan_sup"),
                       json={"process_key": "pilot_reporting", "business_key": "PILOT-X", "data": ROUND})
    assert resp.get_json()["message"] == "本单位不能发起“试点阶段报送”"
    browser = client.application.test_client()
    import re
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").get_data(as_text=True)).group(1)
    browser.post("/login", data={"username": "guan_sup", "password": "demo1234", "csrf_token": csrf})
    assert "/start/pilot_reporting" not in browser.get("/start").get_data(as_text=True)
    assert browser.get("/start/pilot_reporting").status_code == 404
    with freeze_time(datetime(2022, 10, 20, 9, 0, tzinfo=SH)):       # the round's deadlines lie ahead
        Case(client, token, "pilot_reporting", CITY_SUP, ROUND, business_key="PILOT-X")


def test_stage_two_without_every_township_confirmed_is_returned(ctx, client, token):
    with freeze_time(datetime(2022, 10, 20, 9, 0, tzinfo=SH)):
        case = Case(client, token, "pilot_reporting", CITY_SUP, ROUND, business_key="PILOT-2022-D")
        submit(case, "guan", "报送县乡两级实施方案", {"plan_summary": "方案"})
        review(case, "guan", "审核实施方案")
        stage2 = {"supervision_body": "县司法局执法监督科", "townships_confirmed": False, "demo_list": "示范乡镇"}
        resp = case.do("确认监督职责机构并报送示范创建名单", "supervision_officer", "lf.guan.sfj", "guan_sup", stage2,
                       status=422)
        assert resp["fields"] == {"townships_missing": ["此项为必填项。"]}
        submit(case, "guan", "确认监督职责机构并报送示范创建名单", {**stage2, "townships_missing": "柳泉镇"})
        # not the city's to accept: back to the county to complete
        assert "审核示范创建名单" not in {t["name"] for t in case.open_tasks(CITY_SUP)}
        task = county_task(case, "补充完善第二阶段报送材料", "guan")
        assert task["due_at"]
        submit(case, "guan", "补充完善第二阶段报送材料", {**stage2, "townships_confirmed": True})
        review(case, "guan", "审核示范创建名单")
        county_task(case, "报送总结报告和试点台账", "guan")
