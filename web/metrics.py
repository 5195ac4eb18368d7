"""Prometheus metrics at ``/metrics`` (prometheus_client).

- ``supervision_http_requests_total{method,endpoint,status}`` and
  ``supervision_http_request_duration_seconds{method,endpoint}``: counted by every process; under gunicorn
  (``PROMETHEUS_MULTIPROC_DIR``, set by gunicorn.conf.py) the workers' figures are added up at scrape time.
- gauges read from the database when scraped (engine.monitoring: a few COUNT queries): open tasks by SLA
  state, running cases, timers waiting / due / late, timer incidents, the last scheduler tick, and
  ``supervision_database_up``.

Who may read it: a request from the loopback address that did not pass a proxy, or one with
``Authorization: Bearer <METRICS_TOKEN>``."""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from datetime import timedelta

from flask import Flask, Response, current_app, jsonify, request
from flask_babel import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from engine.monitoring import figures

from . import logs, services
from .extensions import db

log = logging.getLogger(__name__)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
REQUESTS = Counter("supervision_http_requests_total", "HTTP requests answered",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("supervision_http_request_duration_seconds", "Seconds from the request to the answer",
                    ["method", "endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))


def _observe(response):
    method = request.method if request.method in METHODS else "other"
    endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
    REQUESTS.labels(method, endpoint, str(response.status_code)).inc()
    LATENCY.labels(method, endpoint).observe(logs.elapsed())
    return response


def allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False                 # it came through a proxy: the loopback peer is the proxy, not the caller
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


class _Families:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def database_families() -> list:
    up = GaugeMetricFamily("supervision_database_up", "1 when the metrics could read the database")
    try:
        now = services.clock().now()
        late = timedelta(seconds=3 * current_app.config["SCHEDULER_POLL_SECONDS"])
        f = figures(db.session, now, late)
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("metrics: the database could not be read", exc_info=True)
        up.add_metric([], 0)
        return [up]
    finally:
        db.session.rollback()
    up.add_metric([], 1)
    tasks = GaugeMetricFamily("supervision_open_tasks", "Open human tasks by SLA state", labels=["sla_state"])
    for state, n in f.open_tasks.items():
        tasks.add_metric([state], n)
    out = [up, tasks,
           GaugeMetricFamily("supervision_running_instances", "Cases running", value=f.running_instances),
           GaugeMetricFamily("supervision_timers_waiting", "Timers waiting", value=f.timers_waiting),
           GaugeMetricFamily("supervision_timers_due", "Timers due now and not fired yet", value=f.timers_due),
           GaugeMetricFamily("supervision_timers_late", "Timers due for longer than three scheduler poll intervals",
                             value=f.timers_late),
           GaugeMetricFamily("supervision_timer_incidents",
                             "Timers that failed too often and wait for an administrator", value=f.incidents)]
    if f.last_tick_at is not None:
        out.append(GaugeMetricFamily("supervision_scheduler_last_tick_timestamp_seconds",
                                     "When a scheduler last completed a tick without a database error",
                                     value=f.last_tick_at.timestamp()))
    return out


def metrics_view():
    if not allowed():
        status = 401 if current_app.config.get("METRICS_TOKEN") else 403
        answer = jsonify(message=_("The metrics are served to the loopback address, or with the metrics token"))
        answer.status_code = status
        if status == 401:
            answer.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    database_registry = CollectorRegistry()
    database_registry.register(_Families(database_families()))
    body = generate_latest(process_registry) + generate_latest(database_registry)
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
