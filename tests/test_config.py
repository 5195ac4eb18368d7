"""Hardening §1: no constant secret. Development keeps a random key in instance/, the environment's
SECRET_KEY wins, production (SUPERVISION_CONFIG=production) refuses to start without a strong key and a
database URL, tests keep a fixed key."""
from __future__ import annotations

import importlib
import logging
import os
import stat
import sys

import pytest
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from engine.models import User
from web import create_app
from web.extensions import db

STRONG = "k3Y-9f0a7c1e5b2d4a6c8e0f1a3b5c7d9e1f"          # 36 characters, many distinct
CONFIG_VARS = ("SECRET_KEY", "SUPERVISION_CONFIG", "DATABASE_URL")


@pytest.fixture
def clean_env(monkeypatch):
    for name in CONFIG_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def dev_app(tmp_path, **overrides):
    settings = {"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY_FILE": str(tmp_path / "instance" / "secret_key"),
                **overrides}
    return create_app("development", **settings)


@pytest.mark.nodb
def test_development_key_is_random_kept_in_instance_and_reused(clean_env, tmp_path):
    first = dev_app(tmp_path)
    key_file = tmp_path / "instance" / "secret_key"
    assert first.secret_key != "dev-only-change-me" and len(first.secret_key) >= 32
    assert key_file.read_text().strip() == first.secret_key
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert dev_app(tmp_path).secret_key == first.secret_key            # the next start reuses it
    other = tmp_path / "elsewhere"
    assert dev_app(other).secret_key != first.secret_key               # another installation: another key


@pytest.mark.nodb
def test_the_environments_secret_key_wins(clean_env, tmp_path):
    clean_env.setenv("SECRET_KEY", STRONG)
    assert dev_app(tmp_path).secret_key == STRONG
    assert not (tmp_path / "instance" / "secret_key").exists()


@pytest.mark.nodb
def test_tests_keep_a_fixed_key(clean_env):
    assert create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://").secret_key == "test-secret"


@pytest.mark.nodb
@pytest.mark.parametrize("key", [None, "short-key", "x" * 40, "dev-only-change-me" + "-" * 20])
def test_production_refuses_a_missing_or_weak_secret_key(clean_env, tmp_path, key):
    clean_env.setenv("SUPERVISION_CONFIG", "production")
    clean_env.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "prod.db"))
    if key:
        clean_env.setenv("SECRET_KEY", key)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


@pytest.mark.nodb
def test_production_refuses_to_start_without_a_database_url(clean_env):
    clean_env.setenv("SUPERVISION_CONFIG", "production")
    clean_env.setenv("SECRET_KEY", STRONG)
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_app()


@pytest.mark.nodb
def test_an_unknown_configuration_name_is_refused(clean_env):
    clean_env.setenv("SUPERVISION_CONFIG", "prod")
    with pytest.raises(RuntimeError, match="SUPERVISION_CONFIG"):
        create_app()


@pytest.mark.nodb
def test_wsgi_and_flask_commands_pick_production_from_the_environment(clean_env, tmp_path):
    clean_env.setenv("SUPERVISION_CONFIG", "production")
    clean_env.setenv("SECRET_KEY", STRONG)
    clean_env.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "prod.db"))
    sys.modules.pop("wsgi", None)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    wsgi = importlib.import_module("wsgi")          # also sends the logs to stderr as JSON lines
    try:
        assert wsgi.app.secret_key == STRONG
        assert wsgi.app.config["SESSION_COOKIE_SECURE"] is True
        assert wsgi.app.config["SQLALCHEMY_DATABASE_URI"].endswith("prod.db")
        assert any(type(h).__name__ == "StderrHandler" for h in root.handlers)
    finally:
        sys.modules.pop("wsgi", None)
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_cookie_signed_with_the_old_constant_signs_nobody_in(clean_env, tmp_path, db_url, ctx):
    """Before: every installation signed sessions with "dev-only-change-me", so anyone could forge one."""
    app = dev_app(tmp_path, SQLALCHEMY_DATABASE_URI=db_url)
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        forged_app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY="dev-only-change-me")
        serializer = SecureCookieSessionInterface().get_signing_serializer(forged_app)
        cookie = serializer.dumps({"_user_id": str(admin.id), "_fresh": True, "session_version": 0, "sv": 0})
        client = app.test_client()
        client.set_cookie("session", cookie)
        resp = client.get("/profile")
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]
        db.engine.dispose()
