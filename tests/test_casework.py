"""Finding and moving work through the API (engine.casework): case search scoped to what a user may see and
paged, 催办, 撤回 and 撤销 (ending the instance in the engine), batch claim and batch completion."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time
from sqlalchemy import func, select

from engine import history
from engine.models import AuditEvent, HumanTask, Notification, Timer, User
from web.extensions import db

from .procedures import CASE, Case, statements_sent, tick
from .test_major_decision_review import MAJOR, PACKAGE

SH = ZoneInfo("Asia/Shanghai")
HANDLER, UNIT = "guan_scjg_handler", "lf.guan.scjg"
TEAM, OFFICE = "lf.guan.guanzhen.zfd", "lf.guan.guanzhen.sfs"


def start(client, token, who=HANDLER, **extra) -> Case:
    return Case(client, token, "major_decision_review", who, {**MAJOR, **extra})


def search(client, token, who, **params):
    resp = client.get("/api/cases", headers=token(who), query_string=params)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def user_id(name: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == name))


def test_search_by_parties_is_scoped_to_what_the_user_may_see(client, token):
    mine = start(client, token, parties="张三食品经营部", case_number="固市监罚〔2026〕201号")
    other = start(client, token, who="sanhe_scjg_handler", parties="张三食品经营部", case_number="三市监罚〔2026〕7号")
    found = search(client, token, HANDLER, parties="张三")
    assert [c["id"] for c in found["cases"]] == [mine.id] and found["total"] == 1
    row = found["cases"][0]
    assert row["parties"] == "张三食品经营部" and row["title"] == CASE["case_title"]
    assert row["unit"]["name"] == "固安县市场监督管理局" and row["process_name"]
    # another county's handler and supervisor never find it; the county's supervisor and the city's do
    assert [c["id"] for c in search(client, token, "sanhe_scjg_handler", parties="张三")["cases"]] == [other.id]
    assert [c["id"] for c in search(client, token, "sanhe_sup", case_number="固市监罚")["cases"]] == []
    assert [c["id"] for c in search(client, token, "guan_sup", parties="张三")["cases"]] == [mine.id]
    assert {c["id"] for c in search(client, token, "city_sup", parties="张三")["cases"]} == {mine.id, other.id}
    # by number, by title, by unit, by procedure, by status, by date, and 我发起的
    assert search(client, token, HANDLER, case_number="201号")["total"] == 1
    assert search(client, token, HANDLER, title="过期食品")["total"] == 1
    assert search(client, token, "guan_sup", unit=UNIT)["total"] == 1
    assert search(client, token, "guan_sup", unit="lf.sanhe.scjg")["total"] == 0
    assert search(client, token, HANDLER, process="major_decision_review", status="running")["total"] == 1
    assert search(client, token, HANDLER, status="completed")["total"] == 0
    assert search(client, token, HANDLER, **{"from": "2026-06-01", "to": "2026-06-01"})["total"] == 1
    assert search(client, token, HANDLER, **{"from": "2026-06-02"})["total"] == 0
    assert search(client, token, "guan_sup", scope="mine")["total"] == 0
    # odd input is a clear error, never a server error
    assert client.get("/api/cases?status=nonsense", headers=token(HANDLER)).status_code == 422
    assert client.get("/api/cases?limit=abc", headers=token(HANDLER)).status_code == 422
    assert client.get("/api/cases?parties=%25", headers=token(HANDLER)).get_json()["total"] == 0   # % is literal


def test_paging_returns_each_case_once(client, token):
    with freeze_time(datetime(2026, 6, 1, 9, 0, tzinfo=SH)):        # all started in the same second
        ids = {start(client, token, case_number=f"固市监罚〔2026〕{300 + n}号").id for n in range(5)}
    seen = []
    for offset in (0, 2, 4, 6):
        page = search(client, token, HANDLER, limit=2, offset=offset)
        assert page["total"] == 5
        seen += [c["id"] for c in page["cases"]]
    assert sorted(seen) == sorted(ids) and len(seen) == 5


def test_urging_notifies_the_candidates_and_is_audited(client, token):
    case = start(client, token)
    task = case.expect("提交法制审核材料", "handler", UNIT)
    assert client.post(f"/api/tasks/{task['id']}/urge", headers=token(HANDLER)).status_code == 403
    assert client.post(f"/api/tasks/{task['id']}/urge", headers=token("sanhe_sup")).status_code == 404
    resp = client.post(f"/api/tasks/{task['id']}/urge", headers=token("guan_sup"))
    assert resp.status_code == 200 and resp.get_json()["notified"] >= 1
    notes = db.session.scalars(select(Notification).where(Notification.task_id == task["id"],
                                                          Notification.kind == "urged")).all()
    assert user_id(HANDLER) in {n.user_id for n in notes}
    assert user_id("guan_sup") not in {n.user_id for n in notes}            # the holder's, not the supervisors'
    urged = case.history("task_urged")
    assert len(urged) == 1 and urged[0]["actor"] == "guan_sup"
    assert history.verify(db.session)[1] is None                           # the chain holds
    # once claimed, only the holder is told
    client.post(f"/api/tasks/{task['id']}/claim", headers=token(HANDLER))
    mine = client.get("/api/notifications", headers=token(HANDLER)).get_json()["notifications"]
    assert any(n["kind"] == "urged" for n in mine)


def test_the_starter_withdraws_until_another_unit_acted(client, token):
    case = start(client, token, who="guan_guanzhen_handler", hearing_held=True)
    case.do("提交法制审核材料", "handler", TEAM, "guan_guanzhen_handler", {**PACKAGE, "hearing_record": "听证笔录"})
    check = case.expect("审查材料是否齐全", "legal_reviewer", OFFICE, "guan_guanzhen_handler")
    # nobody else may withdraw it
    assert client.post(f"/api/cases/{case.id}/withdraw", headers=token("guan_guanzhen_sfs")).status_code == 403
    # the 司法所 (another unit) acts: no withdrawal any more
    case.do("审查材料是否齐全", "legal_reviewer", OFFICE, "guan_guanzhen_sfs", {"package_complete": True})
    resp = client.post(f"/api/cases/{case.id}/withdraw", headers=token("guan_guanzhen_handler"), json={})
    assert resp.status_code == 409 and "其他单位" in resp.get_json()["message"]
    assert case.status() == "running"
    assert check["id"]


def test_a_withdrawn_case_ends_tells_the_holders_and_its_timers_never_fire(ctx, client, token):
    with freeze_time(datetime(2026, 3, 9, 9, 0, tzinfo=SH)) as frozen:
        case = start(client, token)                                       # filed 2026-03-02: warning timer waits
        case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)        # the unit's own reviewer is next
        task = case.expect("审查材料是否齐全", "legal_reviewer", UNIT, HANDLER)
        waiting = db.session.scalars(select(Timer).where(Timer.instance_id == case.id,
                                                         Timer.status == "waiting")).all()
        assert waiting
        resp = client.post(f"/api/cases/{case.id}/withdraw", headers=token(HANDLER), json={"reason": "当事人已整改"})
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["ending"]["by"] and resp.get_json()["ending"]["reason"] == "当事人已整改"
        db.session.expire_all()
        state = case.state()
        assert state["status"] == "withdrawn" and state["open_tasks"] == []
        assert db.session.get(HumanTask, task["id"]).status == "cancelled"
        assert {t.status for t in db.session.scalars(select(Timer).where(Timer.instance_id == case.id))} == {"cancelled"}
        told = db.session.scalars(select(Notification).where(Notification.task_id == task["id"],
                                                             Notification.kind == "withdrawn")).all()
        assert user_id("guan_scjg_review") in {n.user_id for n in told}
        assert [h["data"]["reason"] for h in case.history("instance_withdrawn")] == ["当事人已整改"]
        frozen.move_to(datetime(2026, 5, 23, 9, 0, tzinfo=SH))            # past the 80-day warning
        tick(ctx)
        assert case.state()["status"] == "withdrawn" and case.open_tasks() == []
        assert not case.history("timer_fired")
        # a second withdrawal is refused
        assert client.post(f"/api/cases/{case.id}/withdraw", headers=token(HANDLER)).status_code == 409


def test_cancelling_needs_an_authorised_officer_and_a_reason(client, token):
    case = start(client, token)
    task = case.expect("提交法制审核材料", "handler", UNIT)
    assert client.post(f"/api/cases/{case.id}/cancel", headers=token(HANDLER),
                       json={"reason": "x"}).status_code == 403
    assert client.post(f"/api/cases/{case.id}/cancel", headers=token("sanhe_sup"),
                       json={"reason": "x"}).status_code == 404                # another county's: not seen
    assert client.post(f"/api/cases/{case.id}/cancel", headers=token("guan_scjg_head"),
                       json={"reason": "  "}).status_code == 422
    resp = client.post(f"/api/cases/{case.id}/cancel", headers=token("guan_scjg_head"),
                       json={"reason": "案件移送公安机关，本机关不再处理"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "cancelled"
    assert case.history("instance_cancelled")[0]["actor"] == "guan_scjg_head"
    told = db.session.scalars(select(Notification).where(Notification.task_id == task["id"],
                                                         Notification.kind == "cancelled")).all()
    assert user_id(HANDLER) in {n.user_id for n in told}
    found = search(client, token, HANDLER, status="cancelled")["cases"]
    assert found[0]["ending"]["reason"] == "案件移送公安机关，本机关不再处理"
    # the county's supervision officer may cancel too
    other = start(client, token)
    assert client.post(f"/api/cases/{other.id}/cancel", headers=token("guan_sup"),
                       json={"reason": "重复立案"}).status_code == 200


def test_batch_completion_with_one_stale_task_completes_the_others(client, token):
    cases = [start(client, token, case_number=f"固市监罚〔2026〕{400 + n}号") for n in range(3)]
    for case in cases:
        case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    tasks = [c.expect("审查材料是否齐全", "legal_reviewer", UNIT, "guan_scjg_review")["id"] for c in cases]
    resp = client.post("/api/tasks/batch-claim", headers=token("guan_scjg_review"), json={"tasks": tasks})
    assert resp.status_code == 200 and resp.get_json()["done"] == 3
    # one of them is completed elsewhere first: stale for the batch
    assert client.post(f"/api/tasks/{tasks[1]}/complete", headers=token("guan_scjg_review"),
                       json={"data": {"package_complete": True}}).status_code == 200
    resp = client.post("/api/tasks/batch-complete", headers=token("guan_scjg_review"),
                       json={"tasks": tasks, "data": {"package_complete": True}})
    assert resp.status_code == 200
    results = {r["task_id"]: r for r in resp.get_json()["results"]}
    assert results[tasks[0]]["ok"] and results[tasks[2]]["ok"]
    assert not results[tasks[1]]["ok"] and results[tasks[1]]["status"] == 409
    for case, task_id in zip(cases, tasks):
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                           AuditEvent.action == "task_completed")).all()
        assert len(rows) == 1                                       # each completion its own audit row
        assert "法制审核" in case.names()
    # a batch refuses bad input clearly
    assert client.post("/api/tasks/batch-complete", headers=token("guan_scjg_review"),
                       json={"tasks": []}).status_code == 422
    assert client.post("/api/tasks/batch-claim", headers=token("guan_scjg_review"),
                       json={"tasks": ["nope"]}).status_code == 422


def test_batch_refuses_tasks_of_another_form_and_invalid_data_per_task(client, token):
    first = start(client, token, case_number="固市监罚〔2026〕501号")
    second = start(client, token, case_number="固市监罚〔2026〕502号")
    second.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    a = first.expect("提交法制审核材料", "handler", UNIT)["id"]
    b = second.expect("审查材料是否齐全", "legal_reviewer", UNIT, HANDLER)["id"]
    resp = client.post("/api/tasks/batch-complete", headers=token(HANDLER), json={"tasks": [a, b], "data": {}})
    results = {r["task_id"]: r for r in resp.get_json()["results"]}
    assert results[a]["status"] == 422 and results[b]["status"] in (404, 409)


# --- the pages ------------------------------------------------------------------------------------------------

def _page(client, who):
    from .test_pages import sign_in
    browser = client.application.test_client()
    sign_in(browser, who)
    return browser


def test_search_page_lists_my_cases_by_name_not_code(client, token):
    import re
    start(client, token, parties="李四便利店", case_number="固市监罚〔2026〕601号")
    browser = _page(client, HANDLER)
    body = browser.get("/cases?parties=李四").get_data(as_text=True)
    assert "固市监罚〔2026〕601号" in body and "李四便利店" in body and "固安县市场监督管理局" in body
    table = body[body.index('id="cases"'):]
    assert "lf.guan" not in table and "major_decision_review" not in table and "guan_scjg" not in table
    assert "办理中" in table and "案件名称" in body and "当事人" in body
    mine = browser.get("/cases?scope=mine").get_data(as_text=True)
    assert "固市监罚〔2026〕601号" in mine
    other = _page(client, "sanhe_scjg_handler").get("/cases?parties=李四").get_data(as_text=True)
    assert "固市监罚〔2026〕601号" not in other
    odd = browser.get("/cases?status=bogus")
    assert odd.status_code == 200 and "未知的案件状态" in odd.get_data(as_text=True)
    assert browser.get("/cases?from=xyz").status_code in (400, 422)
    assert re.search(r'data-unit-tree', body)


def test_unit_pickers_offer_the_units_the_user_may_address(client, token):
    import re
    body = _page(client, "guan_sup").get("/start/supervision_notice").get_data(as_text=True)
    picker = body[body.index('id="in-notice_unit"'):body.index("</select>", body.index('id="in-notice_unit"'))]
    selectable = re.findall(r'<option value="([^"]+)"[^>]*data-parent="[^"]*"\s*(?:selected)?\s*>', picker)
    disabled = re.findall(r'<option value="([^"]+)"[^>]*disabled>', picker)
    assert selectable and all(code.startswith("lf.guan") for code in selectable)
    assert "lf.guan.scjg" in selectable and "lf.sanhe.scjg" not in picker
    assert "lf.guan.bb" not in selectable                         # the 编办 is not a unit a notice addresses
    assert disabled == ["lf"]                                     # the city: a heading of the tree only


def test_case_page_withdraw_cancel_and_urge_buttons(client, token):
    from .test_pages import csrf
    case = start(client, token)
    starter = _page(client, HANDLER)
    page = starter.get(f"/cases/{case.id}")
    body = page.get_data(as_text=True)
    assert 'id="withdraw-form"' in body and 'id="cancel-form"' not in body and "urge-" not in body
    sup = _page(client, "guan_sup").get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="cancel-form"' in sup and 'id="urge-' in sup and 'id="withdraw-form"' not in sup
    resp = starter.post(f"/cases/{case.id}/withdraw", data={"csrf_token": csrf(page), "reason": "撤回测试"})
    assert resp.status_code == 302
    body = starter.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "已撤回" in body and "撤回测试" in body and 'id="withdraw-form"' not in body


def test_inbox_batch_claim_through_the_page(client, token):
    from .test_pages import csrf
    cases = [start(client, token, case_number=f"固市监罚〔2026〕{700 + n}号") for n in range(2)]
    ids = [c.expect("提交法制审核材料", "handler", UNIT)["id"] for c in cases]
    browser = _page(client, HANDLER)
    inbox = browser.get("/?tab=group")
    assert 'class="batch-select"' in inbox.get_data(as_text=True)
    resp = browser.post("/tasks/batch", data={"csrf_token": csrf(inbox), "action": "claim", "task": ids,
                                              "next": "/?tab=group"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and body.count('class="ok"') == 2
    form = browser.post("/tasks/batch", data={"csrf_token": csrf(inbox), "action": "complete", "task": ids})
    assert form.status_code == 200 and 'id="batch-form"' in form.get_data(as_text=True)


def test_a_referral_sent_to_another_unit_can_no_longer_be_withdrawn(client, token):
    from .test_case_referral import PREPARE, refer
    sender = refer(client, token, "guan_guanzhen_handler", UNIT, number="GZ-2026-901")
    sender.do("制作移送函并移送材料", "handler", TEAM, "guan_guanzhen_handler", PREPARE)   # same unit: the letter
    assert sender.history("message_sent")
    resp = client.post(f"/api/cases/{sender.id}/withdraw", headers=token("guan_guanzhen_handler"))
    assert resp.status_code == 409 and "已发送至其他单位" in resp.get_json()["message"]
    assert sender.status() == "running"


def test_urging_twice_audits_twice_and_notifies_once(client, token):
    case = start(client, token)
    task = case.expect("提交法制审核材料", "handler", UNIT)
    first = client.post(f"/api/tasks/{task['id']}/urge", headers=token("guan_sup")).get_json()
    second = client.post(f"/api/tasks/{task['id']}/urge", headers=token("guan_sup")).get_json()
    assert first["notified"] >= 1 and second["notified"] == 0
    assert len(case.history("task_urged")) == 2
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.task_id == task["id"], Notification.kind == "urged",
        Notification.user_id == user_id(HANDLER))) == 1


def test_urging_from_the_case_page(client, token):
    from .test_pages import csrf
    case = start(client, token)
    task = case.expect("提交法制审核材料", "handler", UNIT)
    sup = _page(client, "guan_sup")
    page = sup.get(f"/cases/{case.id}")
    resp = sup.post(f"/tasks/{task['id']}/urge", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert resp.status_code == 200 and "已催办" in resp.get_data(as_text=True)
    assert case.history("task_urged")[0]["actor"] == "guan_sup"
    handler = _page(client, HANDLER)
    assert "催办" in handler.get("/notifications/menu").get_data(as_text=True)
    page = handler.get(f"/cases/{case.id}")
    assert handler.post(f"/tasks/{task['id']}/urge", data={"csrf_token": csrf(page)},
                        follow_redirects=True).status_code == 200
    assert len(case.history("task_urged")) == 1                      # the handler is not a supervisor


def test_the_task_list_is_paged_and_every_task_comes_once(client, token):
    """/api/tasks pages by limit/offset with the total: the pages read one after the other give every task the
    user may see exactly once, in the order of one big page — even for tasks created in the same second."""
    with freeze_time(datetime(2026, 6, 1, 9, 0, tzinfo=SH)):
        for n in range(5):
            start(client, token, case_number=f"固市监罚〔2026〕{400 + n}号")
    whole = client.get("/api/tasks", headers=token(HANDLER), query_string={"limit": 500}).get_json()
    assert whole["total"] == len(whole["tasks"]) >= 5 and whole["offset"] == 0 and whole["limit"] == 500
    seen = []
    for offset in range(0, whole["total"] + 2, 2):
        page = client.get("/api/tasks", headers=token(HANDLER), query_string={"limit": 2, "offset": offset}).get_json()
        assert page["total"] == whole["total"] and len(page["tasks"]) <= 2
        seen += [t["id"] for t in page["tasks"]]
    assert seen == [t["id"] for t in whole["tasks"]]
    bad = client.get("/api/tasks", headers=token(HANDLER), query_string={"limit": "ten"})
    assert bad.status_code == 422 and "limit" in bad.get_data(as_text=True)


def test_every_inbox_tab_and_task_list_pages_each_task_once_in_order(ctx, client, token):
    """Each tab and /api/tasks scope is read as one index range per arm (mine; each of the user's role and unit
    pairs) and paged from their union. Against the lists defined directly (one OR, one ORDER BY), at three
    moments (nothing due yet, some due soon, all overdue), with claimed, unclaimed and colleagues' tasks and a
    user holding two pairs: the same tasks in the same order, and pages of two give each of them once."""
    from datetime import timedelta

    from sqlalchemy import and_, or_

    from engine.models import RoleAssignment
    from engine.tasks import ORDER
    from web import services
    with freeze_time(datetime(2026, 6, 1, 9, 0, tzinfo=SH), tick=True) as frozen:
        for n in range(6):
            start(client, token, case_number=f"固市监罚〔2026〕{500 + n}号")
            frozen.tick(timedelta(hours=7))
    handler = db.session.scalar(select(User).where(User.username == HANDLER))
    colleague = db.session.scalar(select(User).where(User.username == "guan_guanzhen_handler"))
    mine = db.session.scalars(select(HumanTask).where(HumanTask.status == "open", HumanTask.unit_id == handler.unit_id)
                              .order_by(HumanTask.created_at)).all()
    mine[0].claimed_by_id, mine[1].claimed_by_id, mine[2].claimed_by_id = handler.id, handler.id, colleague.id
    db.session.add(RoleAssignment(user_id=colleague.id, role_code="handler", unit_id=handler.unit_id))
    db.session.commit()
    try:
        svc = services.tasks()
        for who in (handler, colleague):
            db.session.refresh(who)
            pairs = or_(*[and_(HumanTask.role_code == ra.role_code, HumanTask.unit_id == ra.unit_id)
                          for ra in who.roles])
            is_open, me = HumanTask.status == "open", HumanTask.claimed_by_id == who.id
            offered = or_(me, and_(HumanTask.claimed_by_id.is_(None), pairs))
            for now in (datetime(2026, 6, 1, 1, 0, tzinfo=SH), datetime(2026, 6, 8, 9, 0, tzinfo=SH),
                        datetime(2026, 9, 1, 9, 0, tzinfo=SH)):
                soon = and_(HumanTask.remind_at <= now, or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now))
                tabs = {"mine": and_(is_open, me), "group": and_(is_open, HumanTask.claimed_by_id.is_(None), pairs),
                        "due_soon": and_(is_open, offered, soon), "overdue": and_(is_open, offered, HumanTask.due_at < now)}
                for tab, where in tabs.items():
                    expected = db.session.scalars(select(HumanTask.id).where(where).order_by(*ORDER)).all()
                    whole, total = svc.inbox(who, tab, now=now, per_page=200)
                    paged = [t.id for page in range(1, len(expected) // 2 + 3)
                             for t in svc.inbox(who, tab, now=now, page=page, per_page=2)[0]]
                    assert ([t.id for t in whole], paged, total) == (expected, expected, len(expected)), (who, tab)
            for scope, where in {"all": and_(is_open, or_(me, pairs)), "mine": and_(is_open, me),
                                 "group": and_(is_open, HumanTask.claimed_by_id.is_(None), pairs)}.items():
                expected = db.session.scalars(select(HumanTask.id).where(where).order_by(*ORDER)).all()
                paged = [t.id for offset in range(0, len(expected) + 2, 2)
                         for t in svc.page(who, scope, "open", limit=2, offset=offset)[0]]
                assert paged == expected and svc.page(who, scope, "open", limit=2)[1] == len(expected), (who, scope)
        assert {len(svc.inbox(handler, tab, now=datetime(2026, 9, 1, tzinfo=SH))[0]) for tab in ("mine", "overdue")} \
            != {0}                                   # the moments chosen do reach tasks claimed and overdue
    finally:
        db.session.rollback()
        db.session.query(RoleAssignment).filter_by(user_id=colleague.id, role_code="handler",
                                                   unit_id=handler.unit_id).delete()
        db.session.commit()


def test_the_inbox_page_reads_as_many_statements_for_many_rows_as_for_one(client, token):
    """An inbox page reads the user, the navigation's badges with the tab's own total (one statement), the page
    of tasks with their cases, the procedures with the rows' versions, the filter's units and the calendar —
    never a statement per row; and the badge shows the same count as the tab."""
    import re

    from .test_pages import sign_in

    def read(path: str) -> tuple[list[str], str]:
        with statements_sent() as sent:
            resp = browser.get(path)
        assert resp.status_code == 200
        return [s for s in sent if s.startswith("SELECT")], resp.get_data(as_text=True)

    start(client, token, case_number="固市监罚〔2026〕601号")
    browser = client.application.test_client()            # the page session; the API goes on with tokens
    assert sign_in(browser, HANDLER).status_code == 302
    read("/?tab=mine")                                     # the worker's first page reads what it then keeps

    def claim(n: int) -> None:
        offered = client.get("/api/tasks?scope=group", headers=token(HANDLER)).get_json()["tasks"]
        for task in offered[:n]:
            assert client.post(f"/api/tasks/{task['id']}/claim", headers=token(HANDLER)).status_code == 200
    claim(1)
    counts = {}
    for rounds in (1, 2):
        for tab in ("mine", "group"):
            statements, page = read(f"/?tab={tab}")
            rows = page.count("<tr data-task=")
            badge = int(re.search(rf'id="count-{tab}">(\d+)<', page).group(1))
            assert badge == rows, (tab, badge, rows)       # fewer than a page: the badge counts the rows shown
            assert len([s for s in statements if "count(*)" in s]) == 1, statements
            counts.setdefault(tab, []).append((len(statements), rows))
        if rounds == 1:
            for n in range(4):
                start(client, token, case_number=f"固市监罚〔2026〕{602 + n}号")
            claim(3)
    for tab, ((before, rows_before), (after, rows_after)) in counts.items():
        assert before == after <= 6, (tab, counts)
        assert rows_after > rows_before, (tab, counts)       # three claimed, four more offered
