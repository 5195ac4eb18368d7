"""Issue 13 §1: every setting comes from the environment, is checked when the app is created, and a wrong or
missing one stops the start with a message naming the variable (all wrong variables at once)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import config
from config import ConfigError, load
from web import create_app

from .servers import ROOT

STRONG = "k3Y-9f0a7c1e5b2d4a6c8e0f1a3b5c7d9e1f"
READ = [s.variable for s in config.ENVIRONMENT] + ["SECRET_KEY", "SUPERVISION_CONFIG"]


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean production environment: a strong key and a SQLite database in tmp_path."""
    for name in READ:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPERVISION_CONFIG", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "prod.db"))
    return monkeypatch


@pytest.mark.nodb
def test_production_reads_storage_mail_logs_and_scheduler_settings(env, tmp_path):
    values = {"ATTACHMENT_STORAGE": "filesystem", "ATTACHMENT_DIR": str(tmp_path / "files"),
              "ATTACHMENT_MAX_MB": "50", "SMTP_HOST": "smtp.example.gov.cn", "SMTP_SECURITY": "ssl",
              "SMTP_USERNAME": "noreply", "SMTP_PASSWORD": "s3cret-s3cret",
              "SMTP_FROM": "督办平台 <noreply@example.gov.cn>",
              "LOG_LEVEL": "warning", "LOG_FORMAT": "text", "SCHEDULER_POLL_SECONDS": "10",
              "SCHEDULER_BATCH_SIZE": "250", "SCHEDULER_MAX_ATTEMPTS": "5", "SCHEDULER_RETRY_SECONDS": "30",
              "SCHEDULER_RETRY_MAX_SECONDS": "600", "SCHEDULER_NAME": "node-b-2", "SCHEDULER_EXPECTED": "no",
              "METRICS_TOKEN": "m" * 4 + "0123456789abcdef", "PROXY_COUNT": "1",
              "DATABASE_URL": "postgres://app:pw@db.internal:5432/supervision", "DATABASE_POOL_SIZE": "20"}
    for name, value in values.items():
        env.setenv(name, value)
    cfg = load()
    assert cfg["ATTACHMENT_STORAGE"] == "filesystem" and cfg["ATTACHMENT_DIR"] == str(tmp_path / "files")
    assert os.path.isdir(tmp_path / "files")                       # created and checked at start
    assert cfg["ATTACHMENT_MAX_BYTES"] == 50 * 1024 * 1024
    assert cfg["MAX_CONTENT_LENGTH"] == 51 * 1024 * 1024
    assert (cfg["SMTP_HOST"], cfg["SMTP_PORT"], cfg["SMTP_SECURITY"]) == ("smtp.example.gov.cn", 465, "ssl")
    assert cfg["SMTP_FROM"] == "督办平台 <noreply@example.gov.cn>"
    assert (cfg["LOG_LEVEL"], cfg["LOG_FORMAT"]) == ("WARNING", "text")
    assert (cfg["SCHEDULER_POLL_SECONDS"], cfg["SCHEDULER_BATCH_SIZE"], cfg["SCHEDULER_MAX_ATTEMPTS"],
            cfg["SCHEDULER_RETRY_SECONDS"], cfg["SCHEDULER_RETRY_MAX_SECONDS"]) == (10, 250, 5, 30, 600)
    assert cfg["SCHEDULER_NAME"] == "node-b-2" and cfg["SCHEDULER_EXPECTED"] is False
    assert cfg["PROXY_COUNT"] == 1
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql://app:pw@db.internal:5432/supervision"
    assert cfg["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True, "pool_size": 20}


@pytest.mark.nodb
def test_production_defaults_keep_attachments_in_the_database_and_log_json(env):
    cfg = load()
    assert (cfg["ATTACHMENT_STORAGE"], cfg["LOG_FORMAT"], cfg["LOG_LEVEL"]) == ("database", "json", "INFO")
    assert cfg["SMTP_HOST"] is None and cfg["SMTP_PORT"] == 587
    assert load(config.Config)["ATTACHMENT_STORAGE"] == "filesystem"        # the SQLite demo keeps a folder


@pytest.mark.nodb
@pytest.mark.parametrize("variable, value", [
    ("DATABASE_URL", "mysql://root@localhost/supervision"),
    ("DATABASE_URL", "not a url"),
    ("DATABASE_URL", "postgresql://db.internal"),
    ("DATABASE_POOL_SIZE", "0"),
    ("ATTACHMENT_STORAGE", "s4"),
    ("ATTACHMENT_MAX_MB", "0"),
    ("ATTACHMENT_MAX_MB", "20MB"),
    ("SMTP_HOST", "smtp://mail.example.gov.cn"),
    ("SMTP_PORT", "70000"),
    ("SMTP_SECURITY", "tls1.3"),
    ("SMTP_FROM", "noreply"),
    ("LOG_LEVEL", "loud"),
    ("LOG_FORMAT", "xml"),
    ("SCHEDULER_POLL_SECONDS", "abc"),
    ("SCHEDULER_POLL_SECONDS", "0"),
    ("SCHEDULER_POLL_SECONDS", "1.5"),
    ("SCHEDULER_BATCH_SIZE", "-5"),
    ("SCHEDULER_MAX_ATTEMPTS", "1000"),
    ("SCHEDULER_EXPECTED", "maybe"),
    ("SCHEDULER_NAME", "x" * 200),
    ("PROXY_COUNT", "many"),
    ("JSON_MAX_DEPTH", "1"),
    ("METRICS_TOKEN", "short"),
])
def test_a_wrong_value_stops_the_start_naming_the_variable(env, variable, value):
    env.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        create_app()
    message = str(refused.value)
    assert message.startswith(f"Environment variable {variable}")
    assert f"环境变量 {variable}" in message
    if variable in ("DATABASE_URL", "METRICS_TOKEN"):              # may hold a password: never echoed
        assert value not in message


@pytest.mark.nodb
@pytest.mark.parametrize("given, named", [
    ({"SMTP_HOST": "smtp.example.gov.cn"}, "SMTP_FROM"),
    ({"SMTP_FROM": "noreply@example.gov.cn"}, "SMTP_HOST"),
    ({"SMTP_HOST": "smtp.example.gov.cn", "SMTP_FROM": "a@example.gov.cn", "SMTP_USERNAME": "a"}, "SMTP_PASSWORD"),
    ({"SCHEDULER_RETRY_SECONDS": "600", "SCHEDULER_RETRY_MAX_SECONDS": "60"}, "SCHEDULER_RETRY_MAX_SECONDS"),
])
def test_settings_that_go_together_are_checked_together(env, given, named):
    for name, value in given.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError, match=f"Environment variable {named}"):
        load()


@pytest.mark.nodb
def test_every_wrong_variable_is_listed_at_once(env):
    env.setenv("SCHEDULER_POLL_SECONDS", "soon")
    env.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ConfigError) as refused:
        load()
    assert "SCHEDULER_POLL_SECONDS" in str(refused.value) and "LOG_LEVEL" in str(refused.value)


@pytest.mark.nodb
def test_an_attachment_folder_that_cannot_be_written_is_refused(env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env.setenv("ATTACHMENT_STORAGE", "filesystem")
    env.setenv("ATTACHMENT_DIR", str(blocker / "attachments"))
    with pytest.raises(ConfigError, match="ATTACHMENT_DIR"):
        load()


@pytest.mark.nodb
def test_development_reads_the_environment_too(env, tmp_path):
    env.setenv("SUPERVISION_CONFIG", "development")
    env.setenv("SCHEDULER_POLL_SECONDS", "2")
    app = create_app(SECRET_KEY_FILE=str(tmp_path / "key"))
    assert app.config["SCHEDULER_POLL_SECONDS"] == 2
    env.setenv("SCHEDULER_POLL_SECONDS", "never")
    with pytest.raises(ConfigError, match="SCHEDULER_POLL_SECONDS"):
        create_app(SECRET_KEY_FILE=str(tmp_path / "key"))


@pytest.mark.nodb
def test_a_flask_command_refuses_with_the_message_and_no_traceback(env):
    env.setenv("SCHEDULER_BATCH_SIZE", "lots")
    done = subprocess.run([sys.executable, "-m", "flask", "scheduler", "--drain"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "FLASK_APP": "web", "PYTHONPATH": ROOT})
    assert done.returncode == 1
    assert "Error: Environment variable SCHEDULER_BATCH_SIZE='lots'" in done.stderr
    assert "Traceback" not in done.stderr
