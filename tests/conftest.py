"""Fixtures: a real database (a SQLite file, or PostgreSQL when TEST_DATABASE_URL is set) migrated with
Alembic, the demo organisation, the holiday calendar and the test processes in tests/bpmn deployed."""
from __future__ import annotations

import glob
import os
from datetime import date, datetime, timezone

import pytest
from flask_migrate import upgrade
from freezegun import freeze_time
from sqlalchemy import delete, select, text

from engine.calendar import seed_from_chinesecalendar
from engine.clock import Clock
from engine.models import (Attachment, AttachmentBlob, AuditEvent, CalendarYear, CaseEnding, CaseIndex, Comment,
                           DocumentCounter, Holiday, HumanTask, IssuedDocument,
                           IdempotencyKey, LoginAttempt, MessageSubscription, Notification, PendingMessage,
                           ProcessInstance, ProvisionalValue, SchedulerHeartbeat, Timer, User)
from engine.org import issue_token, load_file
from engine.registers.experts import load_file as load_registers_demo
from engine.repository import deploy_paths
from forms.registry import add_directory as add_form_directory
from web import create_app
from web.extensions import db
from web.services import repository

HERE = os.path.dirname(__file__)
add_form_directory(os.path.join(HERE, "forms"))     # the start form of the tests' own processes
TEST_BPMN = sorted(glob.glob(os.path.join(HERE, "bpmn", "*.bpmn")))
PROCEDURES = sorted(glob.glob(os.path.join(HERE, "..", "workflows", "bpmn", "*.bpmn"))
                    + glob.glob(os.path.join(HERE, "..", "workflows", "bpmn", "*.dmn")))


TODAY = datetime(2026, 6, 1, 1, 0, tzinfo=timezone.utc)    # 09:00 in Shanghai, inside the calendar's years


@pytest.fixture(autouse=True)
def fixed_today(request):
    """Tests run on a fixed day (time still ticks), so working-day deadlines never leave the calendar's
    known years whatever the real date is. Tests marked ``realtime`` (other processes) see the real clock."""
    if request.node.get_closest_marker("realtime"):
        yield
        return
    with freeze_time(TODAY, tick=True):
        yield


def database_url(tmp_path_factory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


def _reset_postgres() -> None:
    db.session.execute(text("DROP SCHEMA public CASCADE"))
    db.session.execute(text("CREATE SCHEMA public"))
    db.session.commit()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory) -> str:
    return database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(db_url):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=db_url)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            _reset_postgres()
        upgrade()
        seed_from_chinesecalendar(db.session)
        load_file(db.session, app.config["DEMO_ORG_FILE"], app.config["ORG_PASSWORD_METHOD"])
        db.session.commit()
        load_registers_demo(db.session, app.config["DEMO_REGISTERS_FILE"])
        db.session.commit()
        deploy_paths(repository(), PROCEDURES, actor="tests")
        deploy_paths(repository(), TEST_BPMN, actor="tests")
        db.session.commit()
    return app


@pytest.fixture
def ctx(app):
    """An app context with a clean runtime (no instances, tasks, timers, messages or audit rows)."""
    with app.app_context():
        yield app
        db.session.rollback()
        from engine.models import MailOutbox
        for model in (MailOutbox, IssuedDocument, DocumentCounter, Notification, Comment, Attachment, AttachmentBlob,
                      LoginAttempt, HumanTask, Timer,
                      MessageSubscription, PendingMessage, AuditEvent, SchedulerHeartbeat, IdempotencyKey,
                      ProvisionalValue, CaseIndex, CaseEnding):
            db.session.execute(delete(model))
        from engine.analytics.assessment_models import AssessmentFigure, AssessmentPeriod, AssessmentScore
        from engine.registers.contact_point_models import ContactPoint, ContactPointUnit, SurveyRating, SurveyResponse
        for model in (SurveyRating, SurveyResponse, ContactPointUnit, ContactPoint, AssessmentFigure, AssessmentScore,
                      AssessmentPeriod):
            db.session.execute(delete(model))
        from engine.analytics.rollups import HandlingRollup
        db.session.execute(delete(HandlingRollup))
        db.session.execute(delete(ProcessInstance))
        db.session.commit()
        app.extensions["clock"] = Clock()


@pytest.fixture
def no_2027(ctx):
    """The holiday table without 2027 (and later), as on 2 December 2026 before the State Council's notice;
    whatever a test enters is removed and the table is put back as it was."""
    def snapshot():
        return ([(h.day, h.is_workday, h.name, h.source) for h in db.session.scalars(
                    select(Holiday).where(Holiday.day >= date(2027, 1, 1)))],
                [(c.year, c.source) for c in db.session.scalars(select(CalendarYear).where(CalendarYear.year >= 2027))])

    def clear():
        db.session.query(Holiday).filter(Holiday.day >= date(2027, 1, 1)).delete()
        db.session.query(CalendarYear).filter(CalendarYear.year >= 2027).delete()
        db.session.commit()

    days, years = snapshot()
    clear()
    yield
    db.session.rollback()
    clear()
    for day, is_workday, name, source in days:
        db.session.add(Holiday(day=day, is_workday=is_workday, name=name, source=source))
    for year, source in years:
        db.session.add(CalendarYear(year=year, source=source))
    db.session.commit()


@pytest.fixture
def client(ctx):
    return ctx.test_client()


@pytest.fixture
def token(ctx):
    """token('username') -> a Bearer header for that demo user (valid for ten years: tests move the clock)."""
    cache: dict[str, dict] = {}

    def make(username: str) -> dict:
        if username not in cache:
            user = db.session.query(User).filter_by(username=username).one()
            cache[username] = {"Authorization": "Bearer " + issue_token(db.session, user, datetime.now(timezone.utc),
                                                                        name="tests", days=3650)}
            db.session.commit()
        return cache[username]
    return make


FIGURES: list[str] = []


@pytest.fixture
def figures():
    """figures("…") keeps a line of measurements for the end of the run (shown without -s, e.g. in CI)."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    """With REQUIRE_NO_SKIPS=1 (the PostgreSQL run of CI) a skipped test fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("REQUIRE_NO_SKIPS") and reporter and reporter.stats.get("skipped"):
        session.exitstatus = 1
