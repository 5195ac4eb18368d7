"""December: deadlines reaching a year the holiday table lacks are provisional (暂定), never a blocked city
(DOMAIN §6). Time is frozen in December 2026 with 2027 absent from the calendar table; then 2027 is
entered and every provisional deadline, reminder and timer of running cases is recomputed, audited."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from freezegun import freeze_time
from sqlalchemy import select

from engine.models import AuditEvent, CalendarYear, HumanTask, ProcessInstance, Timer
from web.extensions import db

from .procedures import CASE, Case, statements_sent, tick
from .test_major_decision_review import AGREE, CHECKS, HANDLER, MAJOR, PACKAGE, REVIEWER, UNIT

SH = ZoneInfo("Asia/Shanghai")
HEAD = "guan_scjg_head"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def review_case(client, token, **extra) -> Case:
    return Case(client, token, "major_decision_review", HANDLER, {**MAJOR, **extra})


def submit_and_accept(case: Case):
    case.do("提交法制审核材料", "handler", UNIT, HANDLER, PACKAGE)
    case.do("审查材料是否齐全", "legal_reviewer", UNIT, REVIEWER, {"package_complete": True})


# A hypothetical notice for 2027 (the real one is not published on 2 December 2026): 1–3 January off, and
# Saturday 2 January a make-up working day, so that the provisional January deadlines move by a day.
NOTICE_2027 = {"days": [{"day": "2027-01-01", "is_workday": False, "name": "元旦"},
                        {"day": "2027-01-02", "is_workday": True, "name": "元旦调休"},
                        {"day": "2027-02-11", "is_workday": False, "name": "春节"},
                        {"day": "2027-02-12", "is_workday": False, "name": "春节"}]}


# -- the reproduction: work goes on in December --------------------------------------------------------

def test_review_with_package_complete_on_24_december_goes_on_with_a_provisional_deadline(no_2027, client, token):
    with freeze_time(at(2026, 12, 24, 9, 0)):
        case = review_case(client, token)
        submit_and_accept(case)                        # was: 422 naming the element set_deadline
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        # 7 working days from Thursday 24 December: 25, 28, 29, 30, 31 December, (1 January off), 4, 5 January
        assert review["due_at"].startswith("2027-01-05T15:59:59")
        assert review["provisional"] is True
        timers = client.get("/api/timers", headers=token("guan_sup")).get_json()["timers"]
        overdue = [t for t in timers if t["element_id"] == "review_overdue"]
        assert overdue and overdue[0]["provisional"] is True
        assert overdue[0]["due_at"].startswith("2027-01-05T15:59:59")
        # a deadline the calendar covers is not provisional
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
        decision = case.expect("机关负责人决定", "agency_head", UNIT, HEAD)
        assert decision["due_at"].startswith("2026-12-29T15:59:59") and decision["provisional"] is False


def test_review_can_be_started_from_28_december(no_2027, client, token):
    with freeze_time(at(2026, 12, 28, 9, 0)):
        case = review_case(client, token)              # was: the procedure could not even be started
        package = case.expect("提交法制审核材料", "handler", UNIT, HANDLER)
        # 5 working days from Monday 28 December: 29, 30, 31 December, 4, 5 January (1 January is 元旦)
        assert package["due_at"].startswith("2027-01-05T15:59:59") and package["provisional"] is True
        submit_and_accept(case)
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
        case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve", "head_opinion": "同意"})
        case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER,
                {"decision_number": "固市监罚决〔2026〕99号", "decision_date": "2026-12-28", "served_on": "2026-12-28"})
        case.do("登记执行完毕并结案", "handler", UNIT, HANDLER,
                {"executed_on": "2026-12-28", "closed_on": "2026-12-28", "case_origin": "routine"})
        assert case.status() == "completed"


def test_escalation_fires_and_creates_the_supervision_task_in_a_year_without_data(no_2027, ctx, client, token):
    with freeze_time(at(2026, 12, 24, 9, 0)) as frozen:
        case = review_case(client, token)
        submit_and_accept(case)
        frozen.move_to(at(2027, 1, 6, 0, 0, 5))        # past the provisional deadline; 2027 still not entered
        tick(ctx)
        supervise = case.expect("法制审核逾期督办", "supervision_officer", "lf.guan.sfj", "guan_sup")
        assert supervise["provisional"] is True
        # 5 working days from Wednesday 6 January 2027, Monday to Friday
        assert supervise["due_at"].startswith("2027-01-13T15:59:59")
        [review] = [t for t in case.open_tasks() if t["name"] == "法制审核"]
        assert review["sla_state"] == "escalated"
        assert db.session.scalar(select(Timer).where(Timer.element_id == "review_overdue")).status == "fired"


def test_the_quarterly_revisit_start_timer_fires_in_a_year_without_data(no_2027, ctx, client, token):
    from engine.repository import Repository
    from engine.runtime import Runtime
    runtime = Runtime(db.session, ctx.extensions["clock"])
    with freeze_time(at(2026, 12, 2, 9, 0)) as frozen:
        definition = Repository(db.session, ctx.extensions["clock"]).latest("revisit_quarterly")
        [waiting] = runtime.start_timer_instances([definition])
        db.session.commit()
        assert waiting.next_timer_at == at(2027, 1, 1, 0, 0)
        frozen.move_to(at(2027, 1, 1, 0, 0, 5))
        tick(ctx)
        tasks = client.get(f"/api/instances/{waiting.id}", headers=token("admin")).get_json()["open_tasks"]
        assert len(tasks) == len(runtime.directory.units_with_role("revisit_officer")) == 22   # one per revisiting unit
        # 10 working days from Friday 1 January 2027 (itself 元旦): 4–8 and 11–15 January
        assert {(t["due_at"][:19], t["provisional"]) for t in tasks} == {("2027-01-15T15:59:59", True)}
        assert not db.session.scalars(select(Timer).where(Timer.incident_at.is_not(None))).all()


# -- entering the year: every provisional deadline recomputed, audited --------------------------------

def _workflow_values(instance_id: int) -> tuple[dict, dict]:
    """(case data of the open review task, timer values in the workflow state by element id)."""
    from engine.runtime import Runtime
    from web import services
    db.session.expire_all()
    runtime = Runtime(db.session, services.clock())
    workflow = runtime.load(db.session.get(ProcessInstance, instance_id))
    from SpiffWorkflow.util.task import TaskState
    timers = {t.task_spec.bpmn_id: t.internal_data.get("event_value")
              for t in workflow.get_tasks(state=TaskState.WAITING) if "event_value" in t.internal_data}
    data = next((dict(t.data) for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                 if t.task_spec.bpmn_id == "legal_review"), {})
    return data, timers


def _with_provisional_deadlines(client, token, frozen) -> dict[str, Case]:
    """Three running cases in late December: a review due in January, a package due in January, and a
    review whose deadline was extended by 5 working days counted from the provisional one."""
    frozen.move_to(at(2026, 12, 24, 9, 0))
    review = review_case(client, token, case_number="固市监罚〔2026〕201号")
    submit_and_accept(review)
    extended = review_case(client, token, case_number="固市监罚〔2026〕202号")
    submit_and_accept(extended)
    extended.do("法制审核", "legal_reviewer", UNIT, REVIEWER,
                {"request_extension": True, "extension_reason": "涉及多个法律关系，需征求意见"})
    extended.do("审批延长审核期限", "agency_head", UNIT, HEAD, {"extension_approved": True})
    frozen.move_to(at(2026, 12, 28, 9, 0))
    package = review_case(client, token, case_number="固市监罚〔2026〕203号")
    return {"review": review, "extended": extended, "package": package}


def test_entering_2027_recomputes_every_provisional_deadline_in_one_audited_transaction(no_2027, ctx, client, token):
    with freeze_time(at(2026, 12, 24, 9, 0)) as frozen:
        cases = _with_provisional_deadlines(client, token, frozen)
        review = cases["review"].expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        extended = cases["extended"].expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        package = cases["package"].expect("提交法制审核材料", "handler", UNIT, HANDLER)
        assert review["due_at"].startswith("2027-01-05T15:59:59") and review["provisional"]
        # the extension counts 5 working days from the provisional 5 January: 6, 7, 8, 11, 12 January
        assert extended["due_at"].startswith("2027-01-12T15:59:59") and extended["provisional"]
        assert package["due_at"].startswith("2027-01-05T15:59:59") and package["provisional"]
        data, timers = _workflow_values(cases["review"].id)
        assert data["review_deadline"] == timers["review_overdue"] == "2027-01-05T23:59:59+08:00"

        frozen.move_to(at(2026, 12, 29, 10, 0))
        assert client.put("/api/calendar/years/2027", json=NOTICE_2027, headers=token("guan_sup")).status_code == 403
        resp = client.put("/api/calendar/years/2027", json=NOTICE_2027, headers=token("admin"))
        assert resp.status_code == 200, resp.get_json()
        # Saturday 2 January is a make-up working day: each January deadline comes a day earlier
        assert resp.get_json()["recomputed"] == {"instances": 3, "deadlines": 5, "moved": 5, "still_provisional": 0,
                                                 "tasks": 3, "timers": 2, "variables": 3}
        review = cases["review"].expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        extended = cases["extended"].expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        package = cases["package"].expect("提交法制审核材料", "handler", UNIT, HANDLER)
        assert review["due_at"].startswith("2027-01-04T15:59:59") and review["provisional"] is False
        assert extended["due_at"].startswith("2027-01-11T15:59:59") and extended["provisional"] is False
        assert package["due_at"].startswith("2027-01-04T15:59:59") and package["provisional"] is False
        # the workflow state and the timer rows agree: the scheduler claims the row, SpiffWorkflow reads the state
        for key, due in (("review", "2027-01-04T23:59:59+08:00"), ("extended", "2027-01-11T23:59:59+08:00")):
            data, timers = _workflow_values(cases[key].id)
            assert data["review_deadline"] == timers["review_overdue"] == due
            row = db.session.scalar(select(Timer).where(Timer.instance_id == cases[key].id, Timer.status == "waiting",
                                                        Timer.element_id == "review_overdue"))
            assert (row.due_at, row.provisional) == (datetime.fromisoformat(due), False)
            assert db.session.get(ProcessInstance, cases[key].id).next_timer_at == datetime.fromisoformat(due)
        # audited: the counts in the system stream, what moved in each case's own history
        [system] = db.session.scalars(select(AuditEvent).where(AuditEvent.stream == "system",
                                                               AuditEvent.action == "deadlines_recomputed")).all()
        assert system.actor == "admin" and system.data["moved"] == 5 and system.data["year"] == 2027
        [moved] = cases["review"].history("deadlines_recomputed")
        assert {(c["what"], c["from"][:10], c["to"][:10]) for c in moved["data"]["changes"]} == {
            ("due", "2027-01-05", "2027-01-04"), ("timer", "2027-01-05", "2027-01-04"),
            ("data", "2027-01-05", "2027-01-04")}
        assert not db.session.scalars(select(HumanTask).where(HumanTask.status == "open",
                                                              HumanTask.provisional.is_(True))).all()

        # the review's escalation now fires at the end of 4 January, on the timer's new value
        frozen.move_to(at(2027, 1, 5, 0, 0, 5))
        tick(ctx)
        supervise = cases["review"].expect("法制审核逾期督办", "supervision_officer", "lf.guan.sfj", "guan_sup")
        # 5 working days from Tuesday 5 January on the entered calendar: 6, 7, 8, 11, 12 January
        assert supervise["due_at"].startswith("2027-01-12T15:59:59") and supervise["provisional"] is False
        assert "法制审核逾期督办" not in cases["extended"].names()          # its deadline is 11 January


def test_a_second_entry_of_the_year_finds_nothing_left_to_recompute(no_2027, client, token):
    with freeze_time(at(2026, 12, 24, 9, 0)):
        case = review_case(client, token)
        submit_and_accept(case)
        first = client.put("/api/calendar/years/2027", json=NOTICE_2027, headers=token("admin")).get_json()
        second = client.put("/api/calendar/years/2027", json=NOTICE_2027, headers=token("admin")).get_json()
        assert first["recomputed"]["moved"] == 2 and second["recomputed"]["deadlines"] == 0


# -- what staff read when a step cannot go on ---------------------------------------------------------

def test_a_calendar_error_in_a_step_names_the_step_in_chinese_and_nothing_in_english(client, token):
    import re
    from .test_scripting import _deploy, _script_process, _start
    key = "calendar_error_step"
    script = 'x = deadline("7 working days", "2200-12-30T09:00:00+08:00")\nbig = False\ntarget_unit = case_unit'
    assert _deploy(client, token, key, _script_process(key, script)).status_code in (200, 201)
    resp = _start(client, token, key, {"amount": 1})
    assert resp.status_code == 422
    message = resp.get_json()["message"]
    assert message == "步骤“计算”：年份须在 1900 至 2200 之间", message
    assert not re.search("[A-Za-z]", message)          # no English, no element id (calc)


# -- pages: 暂定 wherever a deadline is shown, the banner, the calendar page ------------------------------

NOTICE_TEXT = """# 2027年部分节假日安排（测试用）
2027-01-01 元旦 休
2027年1月2日 元旦调休 班
2027-02-11至2027-02-12 春节
"""


def _page_client(ctx, username: str):
    from .test_pages import sign_in
    client = ctx.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def _csrf(client, path: str) -> str:
    from .test_pages import csrf
    return csrf(client.get(path))


def test_provisional_deadlines_are_marked_on_inbox_task_case_and_dashboard(no_2027, ctx, client, token):
    with freeze_time(at(2026, 12, 24, 9, 0)) as frozen:
        case = review_case(client, token)
        submit_and_accept(case)
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        reviewer = _page_client(ctx, REVIEWER)
        inbox = reviewer.get("/?tab=group").get_data(as_text=True)
        row = inbox[inbox.index(f'data-task="{review["id"]}"'):]
        row = row[:row.index("</tr>")]
        assert "2027-01-05 23:59" in row and '<span class="provisional"' in row and "暂定" in row
        task_page = reviewer.get(f"/tasks/{review['id']}").get_data(as_text=True)
        due = task_page[task_page.index('id="task-due"'):]
        assert "暂定" in due[:due.index("</dd>")]
        case_page = reviewer.get(f"/cases/{case.id}").get_data(as_text=True)
        open_tasks = case_page[case_page.index('id="open-tasks"'):]
        open_tasks = open_tasks[:open_tasks.index("</table>")]
        assert "法制审核" in open_tasks and "暂定" in open_tasks

        frozen.move_to(at(2027, 1, 6, 9, 0))            # overdue, 2027 still not entered
        supervisor = _page_client(ctx, "guan_sup")
        board = supervisor.get("/dashboard").get_data(as_text=True)
        overdue = board[board.index('id="overdue-table"'):]
        overdue = overdue[:overdue.index("</table>")]
        assert "2027-01-05 23:59" in overdue and "暂定" in overdue
        export = supervisor.get("/dashboard/export/overdue.xlsx")
        import io
        from openpyxl import load_workbook
        cells = [c.value for r in load_workbook(io.BytesIO(export.data)).active.iter_rows() for c in r]
        assert "2027-01-05 23:59（暂定）" in cells


def test_banner_for_supervision_officers_and_admins_from_1_december_until_the_year_is_entered(no_2027, ctx, client,
                                                                                                   token):
    with freeze_time(at(2026, 11, 30, 17, 0)) as frozen:
        officer, admin, handler = (_page_client(ctx, u) for u in ("guan_sup", "admin", HANDLER))
        assert 'id="calendar-banner"' not in officer.get("/").get_data(as_text=True)
        assert 'id="calendar-banner"' not in admin.get("/").get_data(as_text=True)

        frozen.move_to(at(2026, 12, 1, 0, 0, 1))        # 1 December in Shanghai
        page = officer.get("/").get_data(as_text=True)
        assert 'id="calendar-banner"' in page and "2027 年节假日安排尚未录入" in page
        assert 'id="calendar-banner-link"' not in page                  # only administrators enter the year
        assert 'id="calendar-banner"' not in handler.get("/").get_data(as_text=True)
        page = admin.get("/dashboard").get_data(as_text=True)
        assert 'href="/admin/calendar/2027" id="calendar-banner-link"' in page

        frozen.move_to(at(2026, 12, 24, 9, 0))
        case = review_case(client, token)
        submit_and_accept(case)
        officer, admin = _page_client(ctx, "guan_sup"), _page_client(ctx, "admin")
        assert "目前有 2 个待办期限为暂定" in officer.get("/").get_data(as_text=True)   # the review and its timer
        assert "2027" in client.get("/api/health").get_json()["warnings"][0]

        resp = admin.post("/admin/calendar/2027", data={"csrf_token": _csrf(admin, "/admin/calendar/2027"),
                                                        "days": NOTICE_TEXT})
        assert resp.status_code == 302
        assert 'id="calendar-banner"' not in officer.get("/").get_data(as_text=True)
        assert 'id="calendar-banner"' not in admin.get("/").get_data(as_text=True)


def test_entering_the_year_on_the_calendar_page_recomputes_and_says_how_many_moved(no_2027, ctx, client, token):
    with freeze_time(at(2026, 12, 24, 9, 0)) as frozen:
        case = review_case(client, token)
        submit_and_accept(case)
        frozen.move_to(at(2026, 12, 29, 9, 0))
        admin = _page_client(ctx, "admin")
        assert _page_client(ctx, "guan_sup").get("/admin/calendar/2027").status_code == 403
        assert admin.get("/admin/calendar").headers["Location"].endswith("/admin/calendar/2027")
        page = admin.get("/admin/calendar/2027").get_data(as_text=True)
        assert "2027 年节假日安排尚未录入" in page and 'id="pending-count"' in page
        assert page.count('class="month"') == 12 and page.count("data-day=") == 365
        assert 'data-day="2027-01-01" data-weekend="0" data-assumed="1"' in page     # 元旦, fixed by law
        assert "2027-05-01至2027-05-02 劳动节 休" in page                             # the list starts with them
        token_ = _csrf(admin, "/admin/calendar/2027")

        bad = admin.post("/admin/calendar/2027", data={"csrf_token": token_, "days": "2027-02-30 春节\n元旦 休"})
        assert bad.status_code == 422
        text = bad.get_data(as_text=True)
        assert "第 1 行：日期不存在" in text and "第 2 行：行首没有日期" in text
        assert db.session.get(CalendarYear, 2027) is None

        resp = admin.post("/admin/calendar/2027", data={"csrf_token": token_, "days": NOTICE_TEXT},
                          follow_redirects=True)
        text = resp.get_data(as_text=True)
        assert resp.status_code == 200 and "2027 年节假日安排已录入" in text
        assert "已重新计算在办案件的 2 个暂定期限：2 个发生变动，0 个仍为暂定。" in text
        assert 'data-day="2027-01-02" data-weekend="1" title="2027-01-02 元旦调休"' in text
        assert "day makeup" in text.split('data-day="2027-01-02"')[0].rsplit("<button", 1)[1]
        review = case.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)
        assert review["due_at"].startswith("2027-01-04T15:59:59") and review["provisional"] is False
        timeline = admin.get(f"/cases/{case.id}").get_data(as_text=True)
        assert "按录入的节假日安排重新计算暂定期限" in timeline
        assert "2027-01-05 23:59 → 2027-01-04 23:59" in timeline
        [entered] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "calendar_year_set")).all()
        assert entered.actor == "admin" and entered.data == {"year": 2027, "days": 4}


def test_the_year_entered_from_the_command_line_or_by_seeding_recomputes_too(no_2027, ctx, client, token, tmp_path,
                                                                            monkeypatch):
    with freeze_time(at(2026, 12, 24, 9, 0)):
        first, second = review_case(client, token, case_number="A-1"), review_case(client, token, case_number="A-2")
        submit_and_accept(first)
        notice = tmp_path / "2027.txt"
        notice.write_text(NOTICE_TEXT, encoding="utf-8")
        result = ctx.test_cli_runner().invoke(args=["calendar", "enter", "2027", str(notice)])
        assert result.exit_code == 0, result.output
        assert "4 days entered; provisional deadlines recomputed: 2, moved: 2" in result.output
        assert first.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)["due_at"].startswith("2027-01-04")

        # a newer chinesecalendar that knows 2027: `flask calendar seed` (and `flask demo load`) recompute
        db.session.query(CalendarYear).filter(CalendarYear.year == 2027).delete()
        db.session.commit()
        submit_and_accept(second)
        assert second.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)["provisional"] is True
        import web.cli

        def seed_with_2027(session):
            session.add(CalendarYear(year=2027, source="chinesecalendar"))
            session.flush()
            return 24
        monkeypatch.setattr(web.cli, "seed_from_chinesecalendar", seed_with_2027)
        result = ctx.test_cli_runner().invoke(args=["calendar", "seed"])
        assert result.exit_code == 0 and "provisional deadlines recomputed: 2" in result.output, result.output
        assert second.expect("法制审核", "legal_reviewer", UNIT, REVIEWER)["provisional"] is False


def test_recipes_are_recomputed_from_their_start_and_stay_provisional_while_a_year_is_missing(no_2027):
    from engine.calendar import WorkCalendar
    from engine.sla import ProvisionalISO, recompute, timer_helpers
    from engine.clock import FixedClock
    clock = FixedClock(at(2026, 12, 24, 9, 0))
    helpers = timer_helpers(WorkCalendar(db.session), clock)
    review = helpers["deadline"]("7 working days")
    extended = helpers["deadline"]("5 working days", review)
    assert isinstance(review, ProvisionalISO) and review == "2027-01-05T23:59:59+08:00"
    assert extended.recipe == {"fn": "deadline", "start": "2027-01-05T23:59:59+08:00", "limit": "5 working days"}
    assert not isinstance(helpers["deadline"]("2 working days"), ProvisionalISO)       # 28 December: final
    assert not isinstance(helpers["deadline"]("30 days"), ProvisionalISO)              # calendar days never are

    db.session.add(CalendarYear(year=2027, source="admin"))                          # 2027 without holidays …
    db.session.flush()
    calendar = WorkCalendar(db.session)
    assert recompute(calendar, review.recipe) == "2027-01-04T23:59:59+08:00"        # … so 1 January is worked
    moved = {str(review): "2027-01-04T23:59:59+08:00"}
    assert recompute(calendar, extended.recipe, moved) == "2027-01-11T23:59:59+08:00"
    # a year-end deadline reaching 2028 (not entered) stays provisional, with its recipe
    late = recompute(calendar, {"fn": "deadline", "start": "2027-12-28T09:00:00+08:00", "limit": "5 working days"})
    assert isinstance(late, ProvisionalISO) and late == "2028-01-04T23:59:59+08:00"
    db.session.rollback()


def test_a_case_that_ends_leaves_no_provisional_values_behind(no_2027, client, token):
    """The ledger of a case's provisional values (what to recompute once the year is entered) goes when the case
    ends: by one DELETE, without reading the rows first."""
    from sqlalchemy import func

    from engine.models import ProvisionalValue
    from .test_major_decision_review import CLOSE, ISSUE

    def ledger(instance_id: int) -> int:
        return db.session.scalar(select(func.count()).select_from(ProvisionalValue)
                                 .where(ProvisionalValue.instance_id == instance_id))
    with freeze_time(at(2026, 12, 24, 9, 0)):
        case = review_case(client, token)
        submit_and_accept(case)
        assert ledger(case.id) > 0                         # the review's deadline falls in 2027: provisional
        case.do("法制审核", "legal_reviewer", UNIT, REVIEWER, AGREE)
        case.do("机关负责人决定", "agency_head", UNIT, HEAD, {"head_decision": "approve", "head_opinion": "同意"})
        case.do("制作并送达行政执法决定书", "handler", UNIT, HANDLER, ISSUE)
        db.session.remove()
        with statements_sent() as sent:
            case.do("登记执行完毕并结案", "handler", UNIT, HANDLER, CLOSE)
        assert case.status() == "completed"
        assert ledger(case.id) == 0
        assert [s for s in sent if s.startswith("DELETE FROM provisional_values")]
        assert not [s for s in sent if s.startswith("SELECT provisional_values.")]
