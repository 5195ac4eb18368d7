"""Issue 13 §5: a request id on every request (taken from X-Request-ID or made, echoed, on every log line),
one structured log line per request, the scheduler's lines name the timer and the instance, and Prometheus
metrics at /metrics — request counts and latencies, open tasks by SLA state, timers due and late, incidents —
for the loopback address or the metrics token only."""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from freezegun import freeze_time

from engine.models import HumanTask
from web import logs
from web.extensions import db

from .conftest import TODAY
from .test_timer_incidents import HANDLER, run_tick, start

TOKEN = "metrics-token-0123456789abcdef"


def scrape(client, **kw) -> dict[tuple, float]:
    resp = client.get("/metrics", **kw)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_the_request_id_is_taken_or_made_and_echoed(client):
    assert client.get("/api/health", headers={"X-Request-ID": "hotline-7f3a.2"}).headers["X-Request-ID"] == \
        "hotline-7f3a.2"
    made = client.get("/api/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    for unusable in ("two words", "x" * 200, "<script>", ""):
        echoed = client.get("/api/health", headers={"X-Request-ID": unusable}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", echoed), unusable
    assert client.get("/no/such/page").headers["X-Request-ID"]               # errors carry it too


def test_one_log_line_per_request_with_its_id_user_and_timing(client, token, caplog):
    caplog.set_level(logging.INFO, logger="web.request")
    headers = {**token(HANDLER), "X-Request-ID": "req-1"}
    client.get("/api/tasks", headers=headers)
    client.post("/api/instances", headers={**headers, "X-Request-ID": "req-2"}, json={"process_key": "nope"})
    lines = [r for r in caplog.records if r.name == "web.request"]
    assert [(r.request_id, r.method, r.path, r.status, r.endpoint) for r in lines] == [
        ("req-1", "GET", "/api/tasks", 200, "api.list_tasks"),
        ("req-2", "POST", "/api/instances", 404, "api.start_instance")]
    assert all(r.user_id == db.session.execute(text("SELECT id FROM users WHERE username = :u"),
                                               {"u": HANDLER}).scalar() for r in lines)
    assert all(r.duration_ms >= 0 for r in lines)
    rendered = json.loads(logs.JsonFormatter(static={"process": "web"}).format(lines[0]))
    assert {k: rendered[k] for k in ("level", "logger", "request_id", "status", "path", "process")} == {
        "level": "INFO", "logger": "web.request", "request_id": "req-1", "status": 200, "path": "/api/tasks",
        "process": "web"}


def test_lines_logged_inside_a_request_carry_its_id(ctx):
    record = logging.LogRecord("engine.runtime", logging.WARNING, __file__, 1, "something odd", (), None)
    with ctx.test_request_context("/x", headers={"X-Request-ID": "inner-9"}):
        logs._start()
        as_json = json.loads(logs.JsonFormatter().format(record))
        as_text = logs.TextFormatter().format(record)
    assert as_json["request_id"] == "inner-9" and as_json["message"] == "something odd"
    assert as_text.endswith("something odd request_id=inner-9")


def test_the_scheduler_logs_each_fired_timer_with_timer_and_instance_ids(ctx, caplog):
    caplog.set_level(logging.INFO, logger="engine.jobs")
    caplog.set_level(logging.INFO, logger="web.scheduler")
    with freeze_time(TODAY) as frozen:
        instance_id = start(ctx, "wait_timer", "LOG-1", {"fire_at": (TODAY + timedelta(minutes=1)).isoformat()})
        frozen.move_to(TODAY + timedelta(minutes=2))
        run_tick(ctx)
    fired = [r for r in caplog.records if r.name == "engine.jobs" and r.getMessage().endswith(": fired")]
    assert len(fired) == 1 and fired[0].instance_id == instance_id and fired[0].timer_id
    line = json.loads(logs.JsonFormatter(static={"process": "scheduler", "scheduler": "node-a"}).format(fired[0]))
    assert (line["timer_id"], line["instance_id"], line["scheduler"]) == (fired[0].timer_id, instance_id, "node-a")
    summary = [r for r in caplog.records if r.name == "web.scheduler" and r.getMessage().startswith("tick:")]
    assert summary and summary[0].fired == 1


def test_the_logs_hold_neither_each_engine_step_nor_the_case_data(ctx, capsys):
    """SpiffWorkflow logs every task state change at INFO with the task's data (the case's fields, names
    included). Configured for a process at INFO, the logs keep the platform's own lines (one per fired
    timer) and leave those out: they would put personal data in the journal, and writing them cost the
    scheduler a sixth of its time (bench/timers.py)."""
    root = logging.getLogger()
    saved = list(root.handlers), root.level, {n: logging.getLogger(n).level for n in logs.QUIET}
    try:
        logs.configure("INFO", "json", process="scheduler")
        with freeze_time(TODAY) as frozen:
            start(ctx, "wait_timer", "LOG-PRIVATE-2", {"fire_at": (TODAY + timedelta(minutes=1)).isoformat()})
            frozen.move_to(TODAY + timedelta(minutes=2))
            run_tick(ctx)
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    assert any(line["logger"] == "engine.jobs" and line["message"].endswith(": fired") for line in lines)
    assert not [line for line in lines if line["logger"].startswith("spiff")]
    assert not [line for line in lines if "LOG-PRIVATE-2" in json.dumps(line, ensure_ascii=False)]


def test_metrics_count_requests_and_read_the_database(ctx, client, token, request):
    before = REGISTRY.get_sample_value("supervision_http_requests_total",
                                       {"method": "GET", "endpoint": "api.health", "status": "200"}) or 0
    client.get("/api/health")
    client.get("/api/health")
    # one open task, one timer due a moment ago, one due for an hour, one incident
    resp = client.post("/api/instances", headers=token(HANDLER), json={
        "process_key": "two_lane_review", "business_key": "M-1", "data": {"title": "指标"}})
    assert resp.status_code == 201, resp.get_json()
    frozen = freeze_time(TODAY)
    frozen.start()
    now = TODAY + timedelta(hours=1)
    start(ctx, "wait_timer", "M-2", {"fire_at": (now - timedelta(seconds=1)).isoformat()})
    start(ctx, "wait_timer", "M-3", {"fire_at": (now - timedelta(minutes=59)).isoformat()})
    broken = start(ctx, "wait_timer", "M-4", {"fire_at": (now + timedelta(days=1)).isoformat()})
    frozen.stop()
    frozen = freeze_time(now)
    frozen.start()
    request.addfinalizer(frozen.stop)
    db.session.execute(text("UPDATE timers SET incident_at = :now, attempts = 3 WHERE instance_id = :id"),
                       {"now": now.replace(tzinfo=None), "id": broken})
    db.session.execute(text("UPDATE human_tasks SET sla_state = 'overdue' WHERE id = :id"),
                       {"id": resp.get_json()["open_tasks"][0]["id"]})
    db.session.commit()

    figures = scrape(client)
    assert figures[("supervision_http_requests_total", (("endpoint", "api.health"), ("method", "GET"),
                                                        ("status", "200")))] == before + 2
    assert figures[("supervision_http_request_duration_seconds_count", (("endpoint", "api.health"),
                                                                        ("method", "GET")))] >= 2
    assert figures[("supervision_database_up", ())] == 1
    assert figures[("supervision_open_tasks", (("sla_state", "overdue"),))] == 1
    assert figures[("supervision_open_tasks", (("sla_state", "on_time"),))] == 0
    assert figures[("supervision_running_instances", ())] == 4
    assert figures[("supervision_timers_waiting", ())] == 3
    assert figures[("supervision_timers_due", ())] == 2
    assert figures[("supervision_timers_late", ())] == 1
    assert figures[("supervision_timer_incidents", ())] == 1

    run_tick(ctx)                                               # the scheduler catches up
    figures = scrape(client)
    assert (figures[("supervision_timers_due", ())], figures[("supervision_timers_late", ())]) == (0, 0)
    assert figures[("supervision_scheduler_last_tick_timestamp_seconds", ())] == now.timestamp()
    assert db.session.query(HumanTask).count() == 1


def test_metrics_are_for_the_loopback_address_or_the_token(ctx, client, token, monkeypatch):
    assert client.get("/metrics").status_code == 200                          # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    away = {"REMOTE_ADDR": "10.20.30.40"}
    refused = client.get("/metrics", environ_base=away)
    assert refused.status_code == 403
    assert refused.get_json()["message"] == "监控指标只提供给本机回环地址，或携带监控令牌的请求"
    # through a proxy on the same host the peer is the loopback address, the caller is not
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", environ_base=away, headers=token("admin")).status_code == 403   # an API token

    monkeypatch.setitem(ctx.config, "METRICS_TOKEN", TOKEN)
    asked = client.get("/metrics", environ_base=away)
    assert asked.status_code == 401 and asked.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", environ_base=away,
                      headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"}).status_code == 401
    assert client.get("/metrics", environ_base=away, headers={"Authorization": "Bearer " + TOKEN}).status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9",
                                           "Authorization": "Bearer " + TOKEN}).status_code == 200
