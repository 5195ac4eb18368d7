"""Several schedulers on one PostgreSQL: every due timer fires exactly once, also when one is killed."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from engine.models import AuditEvent, ProcessInstance, Timer, User
from engine.runtime import Runtime
from web.extensions import db

ROOT = os.path.dirname(os.path.dirname(__file__))
N = 1000


@pytest.fixture
def pg(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL); SQLite serializes writers anyway")
    return ctx


def _due_timers(app, n: int) -> datetime:
    """n running instances each waiting on a timer that falls due in about two seconds."""
    fire_at = datetime.now(timezone.utc) + timedelta(seconds=2)
    user = db.session.query(User).filter_by(username="guan_scjg_handler").one()
    first = Runtime(db.session, app.extensions["clock"]).start(
        "wait_timer", business_key="BULK-0",
        data={"fire_at": fire_at.isoformat(), "initiator": user.username, "case_unit": user.unit.code})
    db.session.commit()
    # copy the waiting instance (same state, same timer) n-1 times in one statement each
    db.session.execute(text(
        "INSERT INTO process_instances (definition_id, process_key, business_key, status, unit_id, started_by,"
        " started_at, next_timer_at, state, version) SELECT definition_id, process_key, 'BULK-' || g, status,"
        " unit_id, started_by, started_at, next_timer_at, state, 1 FROM process_instances, generate_series(1, :m) g"
        " WHERE id = :id"), {"m": n - 1, "id": first.id})
    db.session.execute(text(
        "INSERT INTO timers (instance_id, task_id, element_id, due_at, status) SELECT p.id, t.task_id, t.element_id,"
        " t.due_at, 'waiting' FROM process_instances p, timers t WHERE t.instance_id = :id AND p.id <> :id"
        " AND p.process_key = 'wait_timer'"), {"id": first.id})
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Timer).join(ProcessInstance).where(
        Timer.status == "waiting", ProcessInstance.process_key == "wait_timer")) == n
    return fire_at


def _scheduler(db_url: str, *args: str, output=subprocess.PIPE) -> subprocess.Popen:
    """A `flask scheduler` process; its log (one line per fired timer) goes to ``output`` — a pipe only when
    the test reads it to the end (communicate), else a full pipe would stop the process."""
    env = {**os.environ, "FLASK_APP": "web", "PYTHONPATH": ROOT, "DATABASE_URL": db_url,
           "SCHEDULER_BATCH_SIZE": "25", "SCHEDULER_POLL_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "flask", "scheduler", *args], cwd=ROOT, env=env,
                            stdout=output, stderr=subprocess.STDOUT, text=True)


def _drained(output: str) -> dict[str, int]:
    """The counts of the summary line `flask scheduler --drain` prints (log lines may surround it)."""
    match = re.search(r"^fired (\d+) instances, (\d+) conflicts, (\d+) failures", output, re.M)
    assert match, output
    return dict(zip(("fired", "conflicts", "failures"), map(int, match.groups())))


def _wait_until_due(fire_at: datetime) -> None:
    # the engine compares timers with the real clock in the scheduler processes
    while datetime.now(timezone.utc) <= fire_at + timedelta(milliseconds=100):
        time.sleep(0.1)


def _fired_counts() -> tuple[int, int, int, int]:
    db.session.expire_all()
    timers = db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired"))
    audit = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer_fired"))
    distinct = db.session.scalar(select(func.count(func.distinct(AuditEvent.instance_id)))
                                 .where(AuditEvent.action == "timer_fired"))
    completed = db.session.scalar(select(func.count()).select_from(ProcessInstance)
                                  .where(ProcessInstance.status == "completed"))
    return timers, audit, distinct, completed


@pytest.mark.realtime
def test_two_schedulers_fire_every_timer_exactly_once(pg, db_url):
    _wait_until_due(_due_timers(pg, N))
    procs = [_scheduler(db_url, "--drain"), _scheduler(db_url, "--drain")]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _fired_counts() == (N, N, N, N)
    fired_by = [_drained(o)["fired"] for o in outputs]
    assert sum(fired_by) == N, outputs          # no instance advanced twice
    assert min(fired_by) > 0, outputs           # both really worked


@pytest.mark.realtime
def test_a_killed_scheduler_loses_nothing(pg, db_url):
    _wait_until_due(_due_timers(pg, N))
    victim = _scheduler(db_url, output=subprocess.DEVNULL)   # the long-running scheduler, polling every second
    deadline = time.monotonic() + 120
    while _fired_counts()[0] < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)          # kill -9 in the middle of a batch
    victim.wait(timeout=30)
    assert 0 < _fired_counts()[0] < N
    survivor = _scheduler(db_url, "--drain")
    out = survivor.communicate(timeout=600)[0]
    assert survivor.returncode == 0, out
    assert _fired_counts() == (N, N, N, N)


@pytest.mark.realtime
def test_poisoned_cases_cost_two_schedulers_nothing_else(pg, db_url):
    """Five cases whose stored state cannot be loaded (half-written, or nested too deep) among the due timers:
    both schedulers finish their drain, every other timer fires exactly once, and each poisoned row has one
    attempt counted (not one per scheduler) and waits for its next attempt."""
    n = 200
    fire_at = _due_timers(pg, n)
    ids = db.session.scalars(select(ProcessInstance.id).where(ProcessInstance.process_key == "wait_timer")
                             .order_by(ProcessInstance.id).limit(5)).all()
    for k, instance_id in enumerate(ids):
        state = db.session.get(ProcessInstance, instance_id).state
        if k % 2:
            deep: object = "x"
            for _ in range(600):
                deep = {"a": deep}
            poisoned = json.loads(state)
            poisoned["data"] = {**poisoned.get("data", {}), "deep": deep}
            state = json.dumps(poisoned)
        else:
            state = state[: len(state) // 2]
        db.session.execute(text("UPDATE process_instances SET state = :s WHERE id = :id"),
                           {"s": state, "id": instance_id})
    db.session.commit()
    _wait_until_due(fire_at)
    procs = [_scheduler(db_url, "--drain"), _scheduler(db_url, "--drain")]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _fired_counts() == (n - 5, n - 5, n - 5, n - 5)
    failures = [_drained(o)["failures"] for o in outputs]
    assert sum(failures) >= 5, outputs
    rows = db.session.scalars(select(Timer).where(Timer.instance_id.in_(ids))).all()
    assert [(r.status, r.attempts, r.incident_at) for r in rows] == [("waiting", 1, None)] * 5
    assert all(r.next_attempt_at > r.last_failed_at for r in rows)
