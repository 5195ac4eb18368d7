"""Issue 13 §2: gunicorn with the repository's gunicorn.conf.py starts with the production configuration and
answers /api/health; it refuses to start without SECRET_KEY or with a wrong setting, naming the variable."""
from __future__ import annotations

import os
import subprocess

import pytest

from .servers import BIN, ROOT, gunicorn, production_env, wait_healthy


@pytest.mark.realtime
def test_gunicorn_serves_the_production_configuration(ctx, db_url, tmp_path, figures):
    proc, node = gunicorn("web", production_env(db_url), tmp_path, workers=2)
    try:
        boot = wait_healthy(proc, node)
        health = node.get("/api/health", headers={"X-Request-ID": "probe-42"})
        assert health.status == 200 and health.headers["X-Request-ID"] == "probe-42"
        body = health.json()
        assert body["scheduler"]["stale"] is True            # no scheduler runs in the web workers
        assert "Secure" in node.get("/login").headers["Set-Cookie"]
        metrics = node.get("/metrics")
        assert metrics.status == 200
        assert 'supervision_http_requests_total{endpoint="api.health",method="GET",status="200"}' in metrics.text
        assert "supervision_database_up 1.0" in metrics.text
    finally:
        proc.stop()
    lines = proc.json_lines()
    probe = [line for line in lines if line.get("request_id") == "probe-42"]
    assert len(probe) == 1, proc.log()[-2000:]
    assert probe[0]["logger"] == "web.request" and probe[0]["status"] == 200 and probe[0]["path"] == "/api/health"
    assert any("Booting worker" in line["message"] for line in lines)
    figures(f"gunicorn (2 workers, production configuration) answered /api/health {boot:.1f} s after start; "
            f"health {health.seconds * 1000:.0f} ms, metrics {metrics.seconds * 1000:.0f} ms")


@pytest.mark.realtime
@pytest.mark.nodb
@pytest.mark.parametrize("change, named", [
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
    ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY"),
])
def test_gunicorn_refuses_to_start_without_its_settings(tmp_path, change, named):
    env = {**production_env("sqlite:///" + str(tmp_path / "p.db")), "WEB_BIND": "127.0.0.1:1"}
    env.update(change)
    env = {k: v for k, v in env.items() if v != ""}
    done = subprocess.run([os.path.join(BIN, "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Refusing to start: " in done.stderr and named in done.stderr
    assert "Traceback" not in done.stderr
