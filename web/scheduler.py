"""APScheduler driving engine.jobs: inside the web process for the embedded default (`flask serve`), or as a
standalone process (`flask scheduler`), several of which may run against one PostgreSQL."""
from __future__ import annotations

import gc
import logging
import threading
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from engine.calendar import LOCAL_TZ
from engine.jobs import RetryPolicy, RunReport, calendar_warning, next_due, record_tick, run_due_timers, sweep_sla

from .extensions import db

log = logging.getLogger(__name__)


def retry_policy(app: Flask) -> RetryPolicy:
    return RetryPolicy(max_attempts=app.config["SCHEDULER_MAX_ATTEMPTS"],
                       base=timedelta(seconds=app.config["SCHEDULER_RETRY_SECONDS"]),
                       cap=timedelta(seconds=app.config["SCHEDULER_RETRY_MAX_SECONDS"]))


def tick(app: Flask) -> RunReport:
    """One poll: fire due timers (in batches until none is due), then move SLA states, then note the tick.

    Each part has its own try: a failing instance is recorded on its timer row inside run_due_timers, a
    database error ends the firing but the SLA sweep is still tried. No row is claimed twice in one tick
    (the batches share ``skip``), so a tick — and ``flask scheduler --drain`` — always ends."""
    with app.app_context():
        clock = app.extensions["clock"]
        batch = app.config["SCHEDULER_BATCH_SIZE"]
        policy = retry_policy(app)
        total = RunReport()
        try:
            try:
                while True:
                    report = run_due_timers(db.session, clock, batch, policy=policy, skip=total.skipped,
                                            reviewer_rule=reviewer_rule(app))
                    for name in ("claimed", "fired_instances", "conflicts", "failures", "incidents"):
                        setattr(total, name, getattr(total, name) + getattr(report, name))
                    if report.claimed < batch:
                        break
            except Exception:
                db.session.rollback()
                total.ok = False
                log.exception("firing timers stopped")
            try:
                sla = sweep_sla(db.session, clock, app.config["SCHEDULER_SLA_BATCH_SIZE"], reviewer_rule(app))
                total.sla_changes, total.notifications = sla.sla_changes, sla.notifications
            except Exception:
                db.session.rollback()
                total.ok = False
                log.exception("the SLA sweep failed")
            try:                       # e-mail after the steps' commits: a failing server fails nothing else
                from .mail import send_outbox
                mail = send_outbox(app)
                if mail.sent or mail.failed:
                    log.info("mail: %s sent, %s retried later, %s given up", mail.sent, mail.retried, mail.failed)
            except Exception:
                db.session.rollback()
                log.exception("sending the mail outbox failed")
            if total.claimed or total.sla_changes or not total.ok:
                log.info("tick: %s instances fired, %s conflicts, %s failures, %s new incidents, %s SLA changes",
                         total.fired_instances, total.conflicts, total.failures, total.incidents, total.sla_changes,
                         extra={"fired": total.fired_instances, "conflicts": total.conflicts,
                                "failures": total.failures, "incidents": total.incidents,
                                "sla_changes": total.sla_changes, "ok": total.ok})
            try:
                record_tick(db.session, app.config["SCHEDULER_NAME"], clock.now(), total.ok)
            except Exception:
                db.session.rollback()
                log.exception("could not record the scheduler tick")
        finally:
            db.session.remove()
        return total


def reviewer_rule(app: Flask):
    from engine.registers.personnel import ReviewerRule
    return ReviewerRule.from_config(app.config)


def remind_training(app: Flask) -> int:
    """The October training reminder (engine.registers.personnel.remind_training): once per reviewer and year."""
    from engine.org import Directory
    from engine.registers.personnel import remind_training as remind
    with app.app_context():
        try:
            clock = app.extensions["clock"]
            rule = reviewer_rule(app)
            told = remind(db.session, Directory(db.session, reviewer_rule=rule), clock.now(), rule)
            db.session.commit()
            if told:
                log.info("training reminders sent for %s reviewers", told)
            return told
        except Exception:
            db.session.rollback()
            log.exception("the training reminder failed")
            return 0
        finally:
            db.session.remove()


def check_calendar(app: Flask) -> None:
    with app.app_context():
        warning = calendar_warning(db.session, datetime.now(LOCAL_TZ).date())
        if warning:
            log.warning(warning[0] % warning[1])
        db.session.remove()


def close_assessment_periods(app: Flask) -> list[str]:
    """Freeze the assessment of the last ended quarter and year once ASSESSMENT_CLOSE_GRACE_DAYS have passed
    (engine/analytics/assessment.py); a period another scheduler closed first is left alone."""
    from engine.analytics.assessment import close_ended_periods, load_config
    with app.app_context():
        try:
            closed = close_ended_periods(db.session, load_config(app.config["ASSESSMENT_CONFIG"]),
                                         app.extensions["clock"].now(), app.config["ASSESSMENT_CLOSE_GRACE_DAYS"])
            db.session.commit()
            if closed:
                log.info("assessment periods closed: %s", ", ".join(closed), extra={"periods": closed})
            return closed
        except Exception:
            db.session.rollback()
            log.exception("closing the ended assessment periods failed")
            return []
        finally:
            db.session.remove()


def tick_and_wake(scheduler, app: Flask) -> RunReport:
    """A tick, then the next one moved forward to when the next timer falls due, if that is before the next
    poll: a timer (a deadline, a reminder, a round's closing) fires at its moment, not up to a poll late."""
    started = app.extensions["clock"].now()
    report = tick(app)
    wake_for_next_timer(scheduler, app, since=started)
    return report


def wake_for_next_timer(scheduler, app: Flask, since: datetime | None = None) -> datetime | None:
    """Bring the tick job forward to the next timer's due moment (returned, when there is a next timer) when
    that comes before its next run; the poll stays the latest a new timer (made by another process meanwhile)
    waits. ``since``: the start of the tick just run — a timer that fell due while it ran is fired at once (one
    that fell due before was offered to the tick and stays for the poll, so a row that keeps conflicting cannot
    make the ticks spin)."""
    with app.app_context():
        clock = app.extensions["clock"]
        try:
            now = clock.now()
            due = next_due(db.session, since or now)
        except Exception:
            db.session.rollback()
            log.exception("could not read when the next timer falls due")
            return None
        finally:
            db.session.remove()
    if due is None:
        return None
    at = datetime.now(timezone.utc) + max(due - now, timedelta(0))     # the app's clock may run apart from the wall's
    # from a thread of its own: the scheduler's methods take the lock its shutdown holds while it waits for the
    # running jobs, so the tick job asking them itself would never let a shutdown(wait=True) end
    threading.Thread(target=_bring_forward, args=(scheduler, at), name="tick-wake", daemon=True).start()
    return at


def _bring_forward(scheduler, at: datetime) -> None:
    if scheduler.state == STATE_STOPPED:
        return
    job = scheduler.get_job("tick")
    if job is not None and (job.next_run_time is None or at < job.next_run_time):
        job.modify(next_run_time=at)


def add_tick_job(scheduler, app: Flask) -> None:
    """The tick: at once, then every SCHEDULER_POLL_SECONDS — or sooner, when a timer falls due before."""
    scheduler.add_job(tick_and_wake, "interval", args=[scheduler, app], seconds=app.config["SCHEDULER_POLL_SECONDS"],
                      id="tick", max_instances=1, coalesce=True, next_run_time=datetime.now())


def _configure(scheduler, app: Flask) -> None:
    add_tick_job(scheduler, app)
    scheduler.add_job(check_calendar, "interval", args=[app], hours=24, id="calendar",
                      next_run_time=datetime.now())
    scheduler.add_job(remind_training, "interval", args=[app], hours=6, id="training_reminder",
                      next_run_time=datetime.now())
    scheduler.add_job(close_assessment_periods, "interval", args=[app], hours=1, id="assessment",
                      next_run_time=datetime.now())


def start_background(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(daemon=True)
    _configure(scheduler, app)
    scheduler.start()
    return scheduler


def run_blocking(app: Flask) -> None:
    """Tick until SIGTERM/SIGINT (systemd's stop, Ctrl-C); a tick under way is finished first."""
    import signal
    scheduler = BlockingScheduler()
    _configure(scheduler, app)

    def _stop(signum, _frame):
        if scheduler.running:
            log.info("scheduler %s stopping (signal %s)", app.config["SCHEDULER_NAME"], signum)
            scheduler.shutdown(wait=False)
    signal.signal(signal.SIGTERM, _stop)
    # what the loaded application holds for good is moved out of the collector's way: full collections walk
    # only what the batches create (as gunicorn.conf.py does for the web workers)
    gc.collect()
    gc.freeze()
    log.info("scheduler %s started: polling every %s s", app.config["SCHEDULER_NAME"],
             app.config["SCHEDULER_POLL_SECONDS"])
    try:
        scheduler.start()
    except KeyboardInterrupt:
        pass
