"""Timers fired in batches (engine.jobs.run_due_timers): one claim and one transaction per batch, yet every
timer is on its own — a failing or conflicting instance in a batch costs the others nothing and is retried,
the audit chains stay whole, and (PostgreSQL) a batch passes over rows and instances another transaction
holds instead of waiting for them. SQLite, and PostgreSQL with TEST_DATABASE_URL."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select, text

from engine import history, jobs
from engine.errors import Conflict
from engine.jobs import RetryPolicy, run_due_timers
from engine.models import AuditEvent, ProcessInstance, Timer, User
from engine.runtime import Runtime
from web.extensions import db

from .test_timer_incidents import poison, watchdog

SH = ZoneInfo("Asia/Shanghai")
HANDLER = "guan_scjg_handler"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def start_waiting(ctx, n: int, fire_at: datetime) -> list[int]:
    starter = db.session.query(User).filter_by(username=HANDLER).one()
    ids = []
    for k in range(n):
        instance = Runtime(db.session, ctx.extensions["clock"]).start("wait_timer", business_key=f"B-{k:02d}", data={
            "initiator": starter.username, "case_unit": starter.unit.code,
            "fire_at": fire_at.astimezone(timezone.utc).isoformat()})
        db.session.commit()
        ids.append(instance.id)
    return ids


def statuses(ids: list[int]) -> list[str]:
    db.session.expire_all()
    return [db.session.get(ProcessInstance, i).status for i in ids]


def row_of(instance_id: int) -> Timer:
    db.session.expire_all()
    return db.session.scalars(select(Timer).where(Timer.instance_id == instance_id)).one()


def fired_events(instance_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.instance_id == instance_id, AuditEvent.action == "timer_fired"))


def chain_whole() -> bool:
    db.session.expire_all()
    return history.verify(db.session)[1] is None


def test_a_failing_instance_in_the_middle_of_a_batch_costs_the_others_nothing_and_is_retried(ctx):
    clock = ctx.extensions["clock"]
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        ids = start_waiting(ctx, 10, at(2026, 6, 2, 9, 0))
        intact = poison(ids[4], "truncated")            # the fifth row of the one batch
        frozen.move_to(at(2026, 6, 2, 9, 30))
        report = run_due_timers(db.session, clock, 10, policy=RetryPolicy(max_attempts=3))
        assert (report.claimed, report.fired_instances, report.failures, report.incidents) == (10, 9, 1, 0)
        assert statuses(ids) == ["completed"] * 4 + ["running"] + ["completed"] * 5
        failed = row_of(ids[4])
        assert (failed.status, failed.attempts, failed.next_attempt_at) == ("waiting", 1, at(2026, 6, 2, 9, 31))
        assert failed.last_error_class == "json.decoder.JSONDecodeError"
        assert [fired_events(i) for i in ids] == [1] * 4 + [0] + [1] * 5
        assert chain_whole()

        assert run_due_timers(db.session, clock, 10).claimed == 0     # backing off: not due again yet
        db.session.execute(text("UPDATE process_instances SET state = :s WHERE id = :id"),
                           {"s": intact, "id": ids[4]})
        db.session.commit()
        frozen.move_to(at(2026, 6, 2, 9, 31))
        report = run_due_timers(db.session, clock, 10)
        assert (report.claimed, report.fired_instances, report.failures) == (1, 1, 0)
        assert statuses(ids) == ["completed"] * 10
        assert [fired_events(i) for i in ids] == [1] * 10      # each timer fired exactly once
        assert chain_whole()


def test_the_last_attempt_in_a_batch_becomes_an_incident_with_its_audit_event(ctx):
    clock = ctx.extensions["clock"]
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        ids = start_waiting(ctx, 4, at(2026, 6, 2, 9, 0))
        poison(ids[1], "deep")
        poison(ids[2], "truncated")
        frozen.move_to(at(2026, 6, 2, 9, 30))
        report = run_due_timers(db.session, clock, 4, policy=RetryPolicy(max_attempts=1))
        assert (report.fired_instances, report.failures, report.incidents) == (2, 2, 2)
        assert statuses(ids) == ["completed", "running", "running", "completed"]
        assert [row_of(i).incident_at for i in ids[1:3]] == [at(2026, 6, 2, 9, 30)] * 2
        incidents = db.session.scalars(select(AuditEvent.instance_id).where(
            AuditEvent.action == "timer_incident").order_by(AuditEvent.instance_id)).all()
        assert incidents == ids[1:3]
        assert chain_whole()


def _conflict_after_advancing(real_advance, runtime, instance):
    real_advance(runtime, instance)              # after its timer_fired audit row was recorded
    raise Conflict("changed meanwhile")


def _version_moved_before_advancing(real_advance, runtime, instance):
    db.session.connection().execute(             # a user's change lands after the batch loaded the case
        text("UPDATE process_instances SET version = version + 1 WHERE id = :id"), {"id": instance.id})
    real_advance(runtime, instance)              # (through the connection: the session does not autoflush)


@pytest.mark.parametrize("meddle", [_conflict_after_advancing, _version_moved_before_advancing],
                         ids=["conflict-raised", "version-moved"])
def test_a_conflicting_instance_is_rolled_back_alone_and_fired_at_the_next_run(ctx, monkeypatch, meddle):
    """A user changed the case at the same moment (the optimistic lock): that instance alone is rolled back,
    no attempt is counted against its timer, and the next run fires it. "version-moved": the batch writes
    its instance rows together, still under the lock — the moved row matches nothing, the batch is redone
    with savepoints, and the timer is not marked fired while its case stays where it was."""
    clock = ctx.extensions["clock"]
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        ids = start_waiting(ctx, 5, at(2026, 6, 2, 9, 0))
        frozen.move_to(at(2026, 6, 2, 9, 30))
        real_advance = jobs._advance

        def advance(runtime, instance):
            if instance.id != ids[2]:
                return real_advance(runtime, instance)
            meddle(real_advance, runtime, instance)
        monkeypatch.setattr(jobs, "_advance", advance)
        report = run_due_timers(db.session, clock, 5)
        assert (report.fired_instances, report.conflicts, report.failures) == (4, 1, 0)
        assert statuses(ids) == ["completed", "completed", "running", "completed", "completed"]
        row = row_of(ids[2])
        assert (row.status, row.attempts, row.next_attempt_at) == ("waiting", 0, None)
        assert fired_events(ids[2]) == 0
        monkeypatch.setattr(jobs, "_advance", real_advance)
        report = run_due_timers(db.session, clock, 5)
        assert (report.claimed, report.fired_instances) == (1, 1)
        assert [fired_events(i) for i in ids] == [1] * 5
        assert chain_whole()


def test_an_incident_before_a_conflict_in_the_same_batch_keeps_its_audit_event(ctx, monkeypatch):
    """The second instance fails for the last time (its incident is recorded, not yet inserted), the fourth
    conflicts: rolling the fourth back leaves the incident's event and the others' events in place."""
    clock = ctx.extensions["clock"]
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        ids = start_waiting(ctx, 5, at(2026, 6, 2, 9, 0))
        poison(ids[1], "truncated")
        frozen.move_to(at(2026, 6, 2, 9, 30))
        real_advance = jobs._advance

        def advance(runtime, instance):
            real_advance(runtime, instance)
            if instance.id == ids[3]:
                raise Conflict("changed meanwhile")
        monkeypatch.setattr(jobs, "_advance", advance)
        report = run_due_timers(db.session, clock, 5, policy=RetryPolicy(max_attempts=1))
        assert (report.fired_instances, report.conflicts, report.failures, report.incidents) == (3, 1, 1, 1)
        assert statuses(ids) == ["completed", "running", "completed", "running", "completed"]
        incidents = db.session.scalars(select(AuditEvent.instance_id).where(
            AuditEvent.action == "timer_incident")).all()
        assert incidents == [ids[1]]
        assert [fired_events(i) for i in ids] == [1, 0, 1, 0, 1]
        assert chain_whole()


def test_one_run_claims_a_batch_and_a_tick_goes_on_until_none_is_due(ctx, monkeypatch):
    from web.scheduler import tick
    monkeypatch.setitem(ctx.config, "SCHEDULER_BATCH_SIZE", 4)
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        ids = start_waiting(ctx, 10, at(2026, 6, 2, 9, 0))
        poison(ids[9], "truncated")
        frozen.move_to(at(2026, 6, 2, 9, 30))
        report = run_due_timers(db.session, ctx.extensions["clock"], 4)
        assert (report.claimed, report.fired_instances) == (4, 4)
        db.session.commit()
        with watchdog(120):
            report = tick(ctx)
        assert (report.claimed, report.fired_instances, report.failures) == (6, 5, 1)
        assert statuses(ids) == ["completed"] * 9 + ["running"]


@pytest.fixture
def pg(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL): SQLite has one writer and no row locks")
    return ctx


def test_a_batch_passes_over_rows_and_instances_another_transaction_holds(pg):
    """Another scheduler holds two timer rows mid-batch and a user's transaction holds one instance: the batch
    neither waits for them nor fires them; once they are released the next run does, each exactly once."""
    clock = pg.extensions["clock"]
    with freeze_time(at(2026, 6, 1, 9, 0)) as frozen:
        ids = start_waiting(pg, 6, at(2026, 6, 2, 9, 0))
        frozen.move_to(at(2026, 6, 2, 9, 30))
        held_rows = [row_of(i).id for i in ids[:2]]
        db.session.commit()
        with db.engine.connect() as other:
            other.execute(text("SELECT id FROM timers WHERE id IN (:a, :b) FOR UPDATE"),
                          {"a": held_rows[0], "b": held_rows[1]})
            other.execute(text("SELECT id FROM process_instances WHERE id = :id FOR UPDATE"), {"id": ids[2]})
            with watchdog(60):
                report = run_due_timers(db.session, clock, 10)
            assert (report.claimed, report.fired_instances) == (4, 3)     # ids[2]'s row claimed, instance held
            assert statuses(ids) == ["running"] * 3 + ["completed"] * 3
            assert row_of(ids[2]).id in report.skipped
            other.rollback()
        report = run_due_timers(db.session, clock, 10)
        assert (report.claimed, report.fired_instances) == (3, 3)
        assert statuses(ids) == ["completed"] * 6
        assert [fired_events(i) for i in ids] == [1] * 6
        assert chain_whole()


@pytest.mark.realtime                  # a real scheduler thread waits on the real clock
def test_a_scheduler_wakes_when_the_next_timer_falls_due_not_at_its_next_poll(ctx, monkeypatch):
    """After a tick the scheduler sleeps until the next timer falls due when that comes before its next poll: with
    a poll of an hour, a timer due two seconds after the first tick fires at its moment (it would wait the hour)."""
    import time
    from datetime import timedelta

    from apscheduler.schedulers.background import BackgroundScheduler

    from web.scheduler import add_tick_job
    monkeypatch.setitem(ctx.config, "SCHEDULER_POLL_SECONDS", 3600)
    due = datetime.now(timezone.utc) + timedelta(seconds=3)
    ids = start_waiting(ctx, 1, due)
    scheduler = BackgroundScheduler(daemon=True)
    add_tick_job(scheduler, ctx)
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and statuses(ids) != ["completed"]:
            db.session.rollback()                      # a fresh snapshot (SQLite) for the next look
            time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)
    assert statuses(ids) == ["completed"]
    timer = row_of(ids[0])
    assert timer.status == "fired" and due.replace(microsecond=0) <= timer.fired_at < due + timedelta(seconds=10)


@pytest.mark.realtime                  # a real scheduler thread
def test_a_scheduler_stops_and_waits_for_a_tick_under_way(ctx, monkeypatch):
    """shutdown(wait=True) while a tick runs returns once the tick has finished: the tick's wake-up does not
    call back into the scheduler (whose shutdown holds the lock the scheduler's methods take) from the job."""
    import threading
    import time
    from datetime import timedelta

    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.base import STATE_STOPPED

    import web.scheduler as scheduler_module
    running, release, ticked = threading.Event(), threading.Event(), []
    real_tick = scheduler_module.tick

    def held_tick(app):
        running.set()
        assert release.wait(15)                        # held until the stop has begun
        ticked.append(real_tick(app))
        return ticked[-1]
    monkeypatch.setattr(scheduler_module, "tick", held_tick)
    due = datetime.now(timezone.utc) + timedelta(minutes=10)      # a next timer: the wake-up has work to do
    start_waiting(ctx, 1, due)
    db.session.rollback()                              # this thread's snapshot ends (SQLite: its write lock)
    scheduler = BackgroundScheduler(daemon=True)
    scheduler_module.add_tick_job(scheduler, ctx)
    scheduler.start()
    assert running.wait(10)
    stopper = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True)
    stopper.start()
    deadline = time.monotonic() + 10
    while scheduler.state != STATE_STOPPED and time.monotonic() < deadline:   # shutdown marks it, then waits
        time.sleep(0.01)
    release.set()                                      # the tick ends while the shutdown waits for it
    stopper.join(15)
    assert not stopper.is_alive(), "the scheduler's shutdown is stuck behind its own tick"
    assert len(ticked) == 1
