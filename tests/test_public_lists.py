"""The six public lists (issue 11 §2, 任务4): versions edited on pages and by Excel import (all or nothing),
approved by the agency head in the list_publication procedure, published, shown on the public page without
sign-in (published versions only, declared columns only), compared; the major-decision DMN reads the unit's
published review list for the case's matter; the dashboard flags lists not published in time."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import delete, select

from engine.models import OrgUnit, ProcessInstance
from engine.registers import lists as L
from engine.registers.lists_models import ListVersion
from engine.runtime import Runtime
from web.extensions import db

from .procedures import CASE, Case
from .test_pages import csrf, sign_in

UNIT = "lf.guan.scjg"                       # 固安县市场监督管理局
EDITOR, HEAD, HANDLER = "guan_scjg_review", "guan_scjg_head", "guan_scjg_handler"
MATTERS = [
    {"code": "SJ-CF-001", "name": "对销售超过保质期食品的行政处罚", "category": "行政处罚",
     "legal_basis": "《食品安全法》第一百二十四条", "implementing_body": "固安县市场监督管理局"},
    {"code": "SJ-CF-012", "name": "对超范围从事经营活动的行政处罚", "category": "行政处罚",
     "legal_basis": "《市场主体登记管理条例》第四十六条", "implementing_body": "固安县市场监督管理局"},
]
REVIEW = [{"code": "SJ-CF-012", "name": "对超范围从事经营活动的行政处罚", "criteria": "拟处以较大数额罚款的",
           "legal_basis": "《行政处罚法》第五十八条", "implementing_body": "固安县市场监督管理局"}]
NOT_MAJOR = {**CASE, "summary": "简要案情", "amount": 3000, "case_type": "fine", "public_interest": False,
             "hearing_held": False, "complex_case": False, "required_by_law": False}


@pytest.fixture
def lists(ctx):
    yield
    db.session.rollback()
    db.session.execute(delete(ListVersion))
    db.session.commit()


def unit() -> OrgUnit:
    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == UNIT))


def page_post(client, url, data, **kw):
    return client.post(url, data={"csrf_token": csrf(client.get("/lists")), **data}, **kw)


def grid(rows: list[dict], t: L.ListType) -> dict:
    data = {"row_count": str(len(rows))}
    for i, row in enumerate(rows):
        for c in t.columns:
            data[f"c-{i}-{c.key}"] = row.get(c.key, "")
    return data


def approve(client, token, ctx, decision="approve", opinion=None) -> None:
    """The agency head completes the approval task of the one running list_publication case."""
    instance = db.session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "list_publication",
                                                                 ProcessInstance.status == "running")).one()
    case = Case.__new__(Case)
    case.client, case.token, case.id, case.starter = ctx.test_client(), token, instance.id, HEAD   # no session
    case.do("审批执法公示清单", "agency_head", UNIT, HEAD, {"list_decision": decision, "list_opinion": opinion})
    db.session.expire_all()


def publish_by_pages(client, token, ctx, key: str, rows: list[dict]) -> ListVersion:
    """Signed in as the unit's legal reviewer: start a version, save its rows, submit; the head approves."""
    t = L.list_type(key)
    sign_in(client, EDITOR)
    assert page_post(client, f"/lists/{key}/draft", {}).status_code == 302
    resp = page_post(client, f"/lists/{key}/draft/edit", grid(rows, t))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    today = ctx.extensions["clock"].now().date().isoformat()
    assert page_post(client, f"/lists/{key}/draft/submit", {"effective_on": today}).status_code == 302
    draft = L.open_version(db.session, unit().id, key)
    assert draft.status == "submitted"
    approve(client, token, ctx)
    db.session.refresh(draft)
    return draft


def test_a_version_goes_through_approval_to_the_public_page_and_is_diffed(client, token, ctx, lists):
    first = publish_by_pages(client, token, ctx, "matters", MATTERS)
    assert (first.status, first.approved_by, first.version_no) == ("published", HEAD, 1)
    changed = [{**MATTERS[0], "legal_basis": "《中华人民共和国食品安全法》第一百二十四条"},
               {"code": "SJ-JC-001", "name": "食品经营者日常监督检查", "category": "行政检查",
                "legal_basis": "《食品安全法》第一百一十条", "implementing_body": "固安县市场监督管理局"}]
    second = publish_by_pages(client, token, ctx, "matters", changed)
    assert second.version_no == 2 and second.status == "published"
    client.post("/logout", data={"csrf_token": csrf(client.get("/lists"))})

    anonymous = ctx.test_client()
    page = anonymous.get("/public/lists").get_data(as_text=True)
    assert "固安县市场监督管理局" in page
    page = anonymous.get(f"/public/lists/{UNIT}/matters").get_data(as_text=True)
    assert "食品经营者日常监督检查" in page and "对超范围从事经营活动的行政处罚" not in page   # version 2 in force
    assert "第 1 版" in page and "第 2 版" in page
    old = anonymous.get(f"/public/lists/{UNIT}/matters/v1").get_data(as_text=True)
    assert "对超范围从事经营活动的行政处罚" in old
    d = anonymous.get(f"/public/lists/{UNIT}/matters/diff?a=1&b=2").get_data(as_text=True)
    assert "新增 1 项，删除 1 项，修改 1 项" in d and "《中华人民共和国食品安全法》第一百二十四条" in d
    found = anonymous.get("/public/lists?q=日常监督").get_data(as_text=True)
    assert "食品经营者日常监督检查" in found
    xlsx = anonymous.get(f"/public/lists/{UNIT}/matters/v2.xlsx")
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in ws[1]][:2] == ["事项编码", "事项名称"] and ws.max_row == 3
    csv_text = anonymous.get(f"/public/lists/{UNIT}/matters/v1.csv").data.decode("utf-8-sig")
    assert "SJ-CF-012" in csv_text


def test_returned_version_becomes_a_draft_again_with_the_reason(client, token, ctx, lists):
    sign_in(client, EDITOR)
    page_post(client, "/lists/matters/draft", {})
    page_post(client, "/lists/matters/draft/edit", grid(MATTERS, L.list_type("matters")))
    page_post(client, "/lists/matters/draft/submit", {"effective_on": ctx.extensions["clock"].now().date().isoformat()})
    approve(client, token, ctx, "return", "法律依据请写全称")
    draft = L.open_version(db.session, unit().id, "matters")
    assert draft.status == "draft" and draft.returned_note == "法律依据请写全称"
    assert "法律依据请写全称" in client.get("/lists/matters").get_data(as_text=True)


def test_the_public_page_shows_no_draft_and_only_the_published_columns(client, token, ctx, lists, monkeypatch):
    roster = [{"name": "张三", "unit_name": "固安县市场监督管理局", "cert_no": "13100012345", "area": "固安县",
               "valid_until": "2027-12-31", "id_number": "131022199001011234", "phone": "13900000000"}]
    monkeypatch.setattr(L, "roster_rows", lambda session, unit_id: roster)   # whatever else the register holds
    sign_in(client, EDITOR)
    page_post(client, "/lists/personnel/draft", {})
    draft = L.open_version(db.session, unit().id, "personnel")
    assert draft.rows == [{"name": "张三", "unit_name": "固安县市场监督管理局", "cert_no": "13100012345", "area": "固安县"}]
    page_post(client, "/lists/personnel/draft/submit", {"effective_on": ctx.extensions["clock"].now().date().isoformat()})
    approve(client, token, ctx)
    roster.append({"name": "李四草稿", "unit_name": "固安县市场监督管理局", "cert_no": "13100099999", "area": "固安县"})
    page_post(client, "/lists/personnel/draft", {})             # version 2: a draft, never published
    assert L.open_version(db.session, unit().id, "personnel").rows[-1]["name"] == "李四草稿"

    anonymous = ctx.test_client()
    page = anonymous.get(f"/public/lists/{UNIT}/personnel").get_data(as_text=True)
    assert "张三" in page and "13100012345" in page
    for private in ("李四草稿", "13100099999", "131022199001011234", "13900000000", "2027-12-31", EDITOR, HEAD,
                    "guan_scjg_review"):
        assert private not in page
    assert anonymous.get(f"/public/lists/{UNIT}/personnel/v2").status_code == 404
    assert anonymous.get(f"/public/lists/{UNIT}/personnel/diff?a=1&b=2").status_code == 404
    assert anonymous.get(f"/public/lists/{UNIT}/personnel/v2.csv").status_code == 404
    found = anonymous.get("/public/lists?q=李四草稿").get_data(as_text=True)
    assert "没有找到。" in found and "13100099999" not in found
    assert anonymous.get(f"/public/lists/{UNIT}/subjects").status_code == 404      # nothing published
    assert anonymous.get("/public/lists/no.such.unit").status_code == 404
    assert anonymous.get(f"/public/lists/{UNIT}/personnel/v99999999999999999999").status_code == 404
    assert anonymous.get("/lists").status_code == 302                               # the staff pages need sign-in
    assert "Content-Security-Policy" in anonymous.get("/public/lists").headers


def xlsx_file(rows: list[list]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_excel_import_refuses_the_whole_file_naming_each_bad_row(client, token, ctx, lists):
    sign_in(client, EDITOR)
    page_post(client, "/lists/matters/draft", {})
    template = client.get("/lists/matters/template.xlsx")
    header = [c.value for c in load_workbook(io.BytesIO(template.data)).active[1]]
    assert header == ["事项编码", "事项名称", "事项类别", "设定依据", "实施主体", "承办机构"]
    good = ["SJ-CF-001", "对销售超过保质期食品的行政处罚", "行政处罚", "《食品安全法》", "固安县市场监督管理局", ""]
    bad_file = xlsx_file([header, good, ["SJ-CF-002", "", "行政处罚", "依据", "主体", ""],
                          ["SJ-CF-003", "某事项", "罚款", "依据", "主体", ""], good])
    resp = page_post(client, "/lists/matters/draft/import",
                     {"file": (io.BytesIO(bad_file), "matters.xlsx")}, content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "第 3 行，事项名称：此项为必填项。" in page
    assert "第 4 行，事项类别：应为以下之一：" in page
    assert "第 5 行，事项编码：与第 2 行重复" in page
    assert L.open_version(db.session, unit().id, "matters").rows == []                 # nothing imported
    resp = page_post(client, "/lists/matters/draft/import",
                     {"file": (io.BytesIO(b"not a workbook"), "x.xlsx")}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "不是 Excel 工作簿" in resp.get_data(as_text=True)
    resp = page_post(client, "/lists/matters/draft/import",
                     {"file": (io.BytesIO(xlsx_file([header, good])), "matters.xlsx")}, content_type="multipart/form-data")
    assert resp.status_code == 302
    assert L.open_version(db.session, unit().id, "matters").rows[0]["code"] == "SJ-CF-001"


def test_only_editors_change_lists_and_a_head_cannot_skip_the_procedure(client, token, ctx, lists):
    sign_in(client, HANDLER)
    assert page_post(client, "/lists/matters/draft", {}).status_code == 403
    assert client.get("/lists/matters").status_code == 200
    assert client.get("/lists/nonsense").status_code == 404
    draft = L.start_draft(db.session, unit(), "matters", EDITOR, ctx.extensions["clock"].now())
    db.session.commit()
    runtime = Runtime(db.session, ctx.extensions["clock"])
    with pytest.raises(L.InvalidInput):          # a script of another case cannot publish this version
        runtime.helpers["publish_list_version"](draft.id)


def publish_directly(key: str, rows: list[dict], number: int, now: datetime) -> None:
    """A published version as the approval procedure leaves it (the procedure itself is tested above)."""
    db.session.add(ListVersion(unit_id=unit().id, list_type=key, version_no=number, status="published", rows=rows,
                               effective_on=now.date(), created_at=now, updated_at=now, published_at=now))
    db.session.commit()


def is_major(client, token, ctx, **data) -> tuple[bool, str, bool]:
    case = Case(ctx.test_client(), token, "major_decision_review", HANDLER, {**NOT_MAJOR, **data})
    state = Runtime(db.session, ctx.extensions["clock"]).data_of(db.session.get(ProcessInstance, case.id))
    return state["is_major"], state["major_reason"], state["on_review_list"]


def test_the_dmn_reads_the_published_review_list_for_new_cases_only(client, token, ctx, lists):
    now = ctx.extensions["clock"].now()
    publish_by_pages(client, token, ctx, "matters", MATTERS)
    publish_by_pages(client, token, ctx, "major_review", REVIEW)
    assert is_major(client, token, ctx, enforcement_matter="SJ-CF-012") == (True, "列入重大执法决定法制审核事项清单", True)
    assert is_major(client, token, ctx, enforcement_matter="SJ-CF-001") == (False, "", False)
    started_before = db.session.scalars(select(ProcessInstance.id).where(
        ProcessInstance.process_key == "major_decision_review").order_by(ProcessInstance.id)).all()
    # the handler cannot tick the box any more, must choose a matter of the unit's list, and cannot skip it
    api = ctx.test_client()
    resp = api.post("/api/instances", headers=token(HANDLER), json={
        "process_key": "major_decision_review", "data": {**NOT_MAJOR, "on_review_list": True}})
    assert resp.status_code == 422 and "on_review_list" in resp.get_json()["fields"]
    resp = api.post("/api/instances", headers=token(HANDLER), json={"process_key": "major_decision_review",
                                                                    "data": NOT_MAJOR})
    assert resp.status_code == 422 and resp.get_json()["fields"]["enforcement_matter"] == ["此项为必填项。"]
    resp = api.post("/api/instances", headers=token(HANDLER), json={
        "process_key": "major_decision_review", "data": {**NOT_MAJOR, "enforcement_matter": "XZ-CF-001"}})
    assert resp.status_code == 422 and resp.get_json()["fields"]["enforcement_matter"] == [
        "请从本单位已发布的行政执法事项清单中选择事项。"]
    # version 2 of the review list no longer holds the matter: new cases are not major, earlier ones keep it
    publish_by_pages(client, token, ctx, "major_review", [{**REVIEW[0], "code": "SJ-CF-001", "name": MATTERS[0]["name"]}])
    assert is_major(client, token, ctx, enforcement_matter="SJ-CF-012") == (False, "", False)
    runtime = Runtime(db.session, ctx.extensions["clock"])
    first = runtime.data_of(db.session.get(ProcessInstance, started_before[0]))
    assert first["is_major"] is True and first["enforcement_matter_name"] == "对超范围从事经营活动的行政处罚"
    # the start page offers the unit's published matters as a picker
    sign_in(client, HANDLER)
    page = client.get("/start/major_decision_review").get_data(as_text=True)
    assert 'name="enforcement_matter"' in page and "对超范围从事经营活动的行政处罚（SJ-CF-012）" in page
    assert 'name="on_review_list"' not in page
    del now


def test_dashboard_flags_stale_lists_and_assessment_counts_current_ones(client, token, ctx, lists):
    now = ctx.extensions["clock"].now()
    old = datetime(2025, 3, 1, tzinfo=timezone.utc)
    publish_directly("matters", MATTERS, 1, old)
    publish_directly("major_review", REVIEW, 1, now)
    u = unit()
    status = L.publication_status(db.session, [u.id], now.date())[u.id]
    assert status["matters"] == {"last": date(2025, 3, 1), "stale": True}
    assert status["major_review"]["stale"] is False and status["subjects"] == {"last": None, "stale": True}
    assert L.assessment_list_currency(db.session, [u.id], date(2026, 1, 1), now.date()) == {u.id: (1, 6)}
    assert L.assessment_list_currency(db.session, [u.id], date(2025, 1, 1), date(2025, 6, 30)) == {u.id: (1, 6)}
    assert L.assessment_list_currency(db.session, [u.id], date(2024, 1, 1), date(2024, 12, 31)) == {u.id: (0, 6)}
    sign_in(client, "guan_sup")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "执法公示清单最近发布情况" in page and "2025-03-01" in page and "从未发布" in page
    ctx.config["LIST_STALE_MONTHS"] = 24
    try:
        assert L.publication_status(db.session, [u.id], now.date(), 24)[u.id]["matters"]["stale"] is False
    finally:
        ctx.config["LIST_STALE_MONTHS"] = 12


def test_list_types_are_declared_and_checked():
    assert list(L.list_types()) == list(L.LIST_KEYS)
    with pytest.raises(L.ListTypeError):
        L.parse_list_type({"key": "x", "name": "X", "key_column": "a", "columns": [{"key": "a", "label": "A"}]})
    with pytest.raises(L.ListTypeError):
        L.parse_list_type({"key": "x", "name": "X", "key_column": "a",
                           "columns": [{"key": "a", "label": "A", "required": True, "type": "choice"}]})
    t = L.parse_list_type({"key": "x", "name": "X", "key_column": "a",
                           "columns": [{"key": "a", "label": "A", "required": True}]})
    assert L.diff(t, [{"a": "1"}], [{"a": "2"}]) == {"added": [{"a": "2"}], "removed": [{"a": "1"}], "changed": []}


def test_demo_lists_load_and_keep_the_walk_major(ctx, lists):
    count = L.load_demo(db.session, ctx.config["DEMO_LISTS_FILE"], ctx.extensions["clock"].now())
    assert count >= 15
    assert L.on_review_list(db.session, unit().id, "SJ-CF-012", date(2026, 6, 1))
    assert L.load_demo(db.session, ctx.config["DEMO_LISTS_FILE"], ctx.extensions["clock"].now()) == 0


def test_the_personnel_list_is_the_registers_public_roster(ctx):
    """行政执法人员清单 rows come from the personnel register: people with a valid 执法证, with only the fields the
    law publishes (name, unit, 执法证号, area)."""
    from engine.registers import personnel
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == "lf.guan.scjg"))
    rows = L.roster_rows(db.session, unit.id)
    roster = personnel.public_roster(db.session, unit.id)
    assert rows and len(rows) == len(roster)
    assert {r["cert_no"] for r in rows} == {p["cert_no"] for p in roster}
