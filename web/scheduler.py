"""APScheduler driving engine.jobs: inside the web process for the embedded default (`flask serve`), or as a
standalone process (`flask scheduler`), several of which may run against one PostgreSQL."""
from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from engine.calendar import LOCAL_TZ
from engine.jobs import RunReport, calendar_warning, run_due_timers, sweep_sla

from .extensions import db

log = logging.getLogger(__name__)


def tick(app: Flask) -> RunReport:
    """One poll: fire due timers (in batches until none is due), then move SLA states."""
    with app.app_context():
        clock = app.extensions["clock"]
        batch = app.config["SCHEDULER_BATCH_SIZE"]
        total = RunReport()
        try:
            while True:
                report = run_due_timers(db.session, clock, batch)
                total.fired_instances += report.fired_instances
                total.conflicts += report.conflicts
                total.failures += report.failures
                if report.fired_instances + report.conflicts + report.failures < batch:
                    break
            sla = sweep_sla(db.session, clock, app.config["SCHEDULER_SLA_BATCH_SIZE"])
            total.sla_changes, total.notifications = sla.sla_changes, sla.notifications
        finally:
            db.session.remove()
        return total


def check_calendar(app: Flask) -> None:
    with app.app_context():
        warning = calendar_warning(db.session, datetime.now(LOCAL_TZ).date())
        if warning:
            log.warning(warning[0] % warning[1])
        db.session.remove()


def _configure(scheduler, app: Flask) -> None:
    scheduler.add_job(tick, "interval", args=[app], seconds=app.config["SCHEDULER_POLL_SECONDS"],
                      id="tick", max_instances=1, coalesce=True, next_run_time=datetime.now())
    scheduler.add_job(check_calendar, "interval", args=[app], hours=24, id="calendar",
                      next_run_time=datetime.now())


def start_background(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(daemon=True)
    _configure(scheduler, app)
    scheduler.start()
    return scheduler


def run_blocking(app: Flask) -> None:
    scheduler = BlockingScheduler()
    _configure(scheduler, app)
    scheduler.start()
