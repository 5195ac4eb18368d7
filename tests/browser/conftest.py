"""Browser tests (issue 5): the real application, on the test database migrated and seeded by the session
``app`` fixture, served by werkzeug in a background thread and driven by Debian's Chromium through Playwright.

Every test here is marked ``realtime``: the server thread must see the real clock, so the autouse
``fixed_today`` fixture of tests/conftest.py does not freeze time for them.

Each page a test visits is kept as a screenshot in ``test-artifacts/screenshots/<test>/<nn>-<page>.png``.
After each test the ``ctx`` fixture empties the runtime tables, so the tests neither see each other's cases
nor leave any behind for the other tests."""
from __future__ import annotations

import itertools
import os
import re
import shutil
import threading
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from web import create_app
from web.extensions import db

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCREENSHOTS = os.path.join(ROOT, "test-artifacts", "screenshots")
PASSWORD = "demo1234"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 20_000
TABS = {"我的待办": "mine", "待认领": "group", "即将到期": "due_soon", "已逾期": "overdue", "已办": "done"}


def pytest_collection_modifyitems(config, items):
    """``pytestmark`` marks the tests of one module; this marks every test of this folder, whatever its file."""
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.realtime)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        item.browser_test_failed = report.failed
    return report


# --- the server and the browser -----------------------------------------------------------------------

@pytest.fixture(scope="package")
def calendar_covers_today(app):
    """The browser tests run on the real clock (the live server is another thread of real time), so the
    holiday table must cover today and next year whatever the real date is. Years the table lacks are
    declared for these tests only (no holidays) and removed afterwards; the other tests stay untouched."""
    from datetime import date
    from engine.models import CalendarYear
    with app.app_context():
        today = date.today()
        added = [y for y in (today.year, today.year + 1) if db.session.get(CalendarYear, y) is None]
        for year in added:
            db.session.add(CalendarYear(year=year, source="browser-tests"))
        db.session.commit()
    yield
    with app.app_context():
        for year in added:
            db.session.delete(db.session.get(CalendarYear, year))
        db.session.commit()


@pytest.fixture(scope="package")
def live_server(app, db_url, tmp_path_factory, calendar_covers_today):
    """The application on 127.0.0.1:<free port>, its own app object on the session's database (the ``app``
    fixture has migrated it and loaded the demo organisation and the procedures)."""
    server_app = create_app("testing", SQLALCHEMY_DATABASE_URI=db_url,
                            ATTACHMENT_DIR=str(tmp_path_factory.mktemp("attachments")))
    server = make_server("127.0.0.1", 0, server_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    server.server_close()
    with server_app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="package")
def browser():
    executable = shutil.which("chromium")
    if not executable:
        pytest.skip("Chromium is not installed: `make install-test` installs Debian's chromium package "
                    "(apt-get install chromium fonts-noto-cjk)")
    expect.set_options(timeout=TIMEOUT_MS)                # assertions wait as long as actions do
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser, live_server):
    """new_context() -> a fresh browser profile (its own cookies), Chinese like a user in China."""
    contexts = []

    def make(**options):
        ctx = browser.new_context(base_url=live_server, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  viewport={"width": 1280, "height": 900}, accept_downloads=True, **options)
        ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_context, request):
    page = new_context().new_page()
    yield page
    if getattr(request.node, "browser_test_failed", False) and not page.is_closed():
        try:
            page.screenshot(path=os.path.join(_shot_dir(request.node.name), "99-failure.png"), full_page=True)
        except Exception:                                   # the report matters more than the picture
            pass


# --- screenshots --------------------------------------------------------------------------------------

def _shot_dir(test_name: str) -> str:
    path = os.path.join(SCREENSHOTS, re.sub(r"[^\w.\-]+", "_", test_name))
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture
def shot(request):
    """shot(page, "inbox") saves test-artifacts/screenshots/<test>/<nn>-inbox.png (nn counts up)."""
    folder = _shot_dir(request.node.name)
    for old in os.listdir(folder):                       # only this run's pictures
        if old.endswith(".png"):
            os.remove(os.path.join(folder, old))
    counter = itertools.count(1)

    def take(page, name: str) -> str:
        safe = re.sub(r"[^\w.\-]+", "_", name)
        path = os.path.join(folder, f"{next(counter):02d}-{safe}.png")
        page.screenshot(path=path, full_page=True)
        return path
    return take


# --- the runtime is left as the ctx fixture leaves it --------------------------------------------------

@pytest.fixture(autouse=True)
def _clean_runtime(ctx):
    """The ``ctx`` fixture of tests/conftest.py empties the runtime tables (cases, tasks, documents, comments,
    sign-in attempts …) after the test, as it does for every other database test."""
    yield


# --- what a user does ---------------------------------------------------------------------------------

@pytest.fixture
def case_number():
    """case_number() -> a case number no other test uses, like 固安镇综执罚〔2026〕浏览器3f9a1c2e号."""
    return lambda: f"固安镇综执罚〔{date.today().year}〕浏览器{uuid.uuid4().hex[:8]}号"


class Person:
    """What a person does in the browser: sign in and out, start a procedure, find a task in the inbox,
    fill in and submit its form. Each page reached is photographed."""

    def __init__(self, page, shot):
        self.page, self.shot = page, shot

    # signing in and out
    def sign_in(self, username: str, password: str = PASSWORD):
        page = self.page
        page.goto("/login")
        expect(page.get_by_role("heading", name="登录")).to_be_visible()
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        self.shot(page, f"login-{username}")
        page.locator("main form").get_by_role("button", name="登录").click()
        expect(page.locator("header.top a.who")).to_be_visible()
        self.shot(page, f"inbox-{username}")

    def sign_out(self):
        self.page.locator("header.top").get_by_role("button", name="退出").click()
        expect(self.page.get_by_role("status")).to_have_text("您已退出登录。")
        expect(self.page.get_by_role("heading", name="登录")).to_be_visible()

    # the inbox
    def tab(self, label: str):
        """Open an inbox tab by its name (我的待办, 待认领, 即将到期, 已逾期, 已办)."""
        page = self.page
        if page.locator("nav.tabs").count() == 0:            # not in the inbox: the brand leads there
            page.locator("header.top a.brand").click()
        page.locator("nav.tabs").get_by_role("link", name=label, exact=True).click()
        expect(page.locator("nav.tabs a.active")).to_have_text(label)
        return page.locator("#inbox tbody tr")

    def row(self, tab: str, number: str, step: str):
        """The inbox row of case ``number`` whose step is ``step``, in tab ``tab``."""
        page = self.page
        rows = self.tab(tab)
        return rows.filter(has_text=number).filter(has=page.get_by_role("link", name=step, exact=True))

    def open_task(self, tab: str, number: str, step: str):
        row = self.row(tab, number, step)
        expect(row).to_have_count(1)
        self.shot(self.page, f"inbox-{TABS.get(tab, tab)}")
        row.get_by_role("link", name=step, exact=True).click()
        expect(self.page.locator("main h1")).to_have_text(step)

    # forms
    def fill(self, name: str, value: str):
        self.page.locator(f"#in-{name}").fill(value)

    def choose(self, name: str, value: str):
        self.page.locator(f"#in-{name}").select_option(value)

    def yes_no(self, name: str, value: bool):
        self.page.locator(f"#field-{name}").get_by_label("是" if value else "否", exact=True).check()

    def submit_task(self, number: str, step: str, screenshot: str):
        """Submit the task form; back in the inbox with the confirmation."""
        page = self.page
        self.shot(page, screenshot)
        page.locator("#complete").click()
        expect(page.get_by_role("status")).to_have_text(f"已完成：案件 {number} 的“{step}”。")
        expect(page.locator("nav.tabs")).to_be_visible()

    # procedures
    def start_major_decision_review(self, number: str, amount: str = "150000", **overrides) -> int:
        """/start → 重大执法决定法制审核 → the start form filled in → the new case's page; returns its id."""
        page = self.page
        page.locator("header.top").get_by_role("link", name="发起", exact=True).click()
        expect(page.get_by_role("heading", name="发起流程")).to_be_visible()
        self.shot(page, "start-list")
        page.get_by_role("link", name="重大执法决定法制审核", exact=True).click()
        expect(page.locator("main h2")).to_have_text("重大执法决定法制审核申请")
        values = {"case_number": number, "case_title": "某餐饮店超范围经营案", "amount": amount,
                  "parties": "某餐饮管理有限公司，统一社会信用代码 91131022MA0XXXXX",
                  "filed_on": (date.today() - timedelta(days=10)).isoformat(),
                  "summary": "超范围经营且拒不改正，拟罚款并没收违法所得", **overrides}
        for name, value in values.items():
            if name in ("case_type", "procedure_kind"):
                continue
            if name == "enforcement_matter":         # picked from the unit's published 事项清单
                self.choose(name, value)
                continue
            self.fill(name, value)
        self.choose("case_type", overrides.get("case_type", "fine"))
        self.choose("procedure_kind", overrides.get("procedure_kind", "ordinary"))
        self.shot(page, "start-form")
        page.locator("#submit").click()
        expect(page.get_by_role("status")).to_have_text(f"已发起：重大执法决定法制审核 {number}。")
        expect(page).to_have_url(re.compile(r"/cases/\d+$"))
        self.shot(page, "case-started")
        return int(page.url.rsplit("/", 1)[1])

    def submit_package(self, number: str, files: list[str] = ()):
        """The handler's 提交法制审核材料, picked from 待认领."""
        self.open_task("待认领", number, "提交法制审核材料")
        self.fill("investigation_report", "经调查，当事人超范围经营事实清楚。")
        self.fill("draft_decision", "行政处罚决定书（代拟稿）：罚款人民币壹拾伍万元。")
        self.fill("evidence_list", "现场检查笔录、询问笔录、营业执照复印件")
        self.fill("application_form", "申请对拟作出的行政处罚决定进行法制审核")
        if files:
            self.page.locator("#in-package_files").set_input_files(list(files))
        self.submit_task(number, "提交法制审核材料", "task-package")


@pytest.fixture
def user(page, shot):
    """The person at the test's browser window (signs in as one demo user after another)."""
    return Person(page, shot)


@pytest.fixture
def another_user(new_context, shot):
    """another_user() -> a second person, in a browser profile of their own (separate cookies)."""
    return lambda: Person(new_context().new_page(), shot)
