"""Settings. ``Config`` is the development default (SQLite file and a random secret key under instance/);
``TestConfig`` is used by the tests; ``ProductionConfig`` reads everything from environment variables and
refuses to start without them.

``create_app()`` without an argument picks the configuration named by the environment variable
``SUPERVISION_CONFIG`` (``development``, the default, or ``production``), so ``flask`` commands and a WSGI
server (``wsgi:app``) run in production when it says so."""
from __future__ import annotations

import os
import secrets
import socket

BASE_DIR = os.path.abspath(os.path.dirname(__file__))
INSTANCE_DIR = os.path.join(BASE_DIR, "instance")
CONFIG_VARIABLE = "SUPERVISION_CONFIG"
MIN_SECRET_KEY_LENGTH = 32
# keys found in examples and tutorials; a production key must not contain them
WEAK_KEY_PARTS = ("change-me", "changeme", "change_me", "dev-only", "secret-key", "secretkey", "your-secret",
                  "not-secret", "insecure", "example", "password")


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message names the environment variable to set."""


def development_secret_key(path: str) -> str:
    """The key kept in ``path`` (created once, readable by its owner only); a new random key the first time."""
    try:
        with open(path, encoding="ascii") as fh:
            key = fh.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:                   # another process created it meanwhile: use theirs
        return development_secret_key(path)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key


def weak_secret_key(key: str) -> str | None:
    """Why ``key`` is too weak for production, or None."""
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"it has {len(key)} characters, at least {MIN_SECRET_KEY_LENGTH} are needed"
    if len(set(key)) < 10:
        return "it repeats too few different characters"
    lowered = key.lower()
    if any(part in lowered for part in WEAK_KEY_PARTS):
        return "it contains a placeholder text such as 'change-me'"
    return None


class Config:
    # None: SECRET_KEY from the environment, else the random key kept in SECRET_KEY_FILE (see finish())
    SECRET_KEY: str | None = None
    SECRET_KEY_FILE = os.path.join(INSTANCE_DIR, "secret_key")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "sqlite:///" + os.path.join(INSTANCE_DIR, "supervision.db"))
    # a pooled connection the database dropped (restart, failover, idle timeout) is replaced before use
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    BPMN_DIR = os.path.join(BASE_DIR, "workflows", "bpmn")
    DEMO_ORG_FILE = os.path.join(BASE_DIR, "web", "demo", "langfang.yaml")
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh", "en")
    # every JSON request body, checked before any view runs (web/edge.py): bytes, nesting, keys and items
    JSON_MAX_BYTES = int(os.environ.get("JSON_MAX_BYTES", str(1024 * 1024)))
    JSON_MAX_DEPTH = int(os.environ.get("JSON_MAX_DEPTH", "32"))
    JSON_MAX_ITEMS = int(os.environ.get("JSON_MAX_ITEMS", "2000"))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    TESTING = False
    ATTACHMENT_DIR = os.environ.get("ATTACHMENT_DIR", os.path.join(INSTANCE_DIR, "attachments"))
    ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024
    # the request size limit: one attachment of the largest size plus room for the rest of the form
    # (None: ATTACHMENT_MAX_BYTES + FORM_ROOM_BYTES, computed at start-up)
    MAX_CONTENT_LENGTH: int | None = None
    FORM_ROOM_BYTES = 1024 * 1024
    # accepted file extensions; the server serves each with the content type of engine.attachments.CONTENT_TYPES
    ATTACHMENT_TYPES = (".pdf", ".doc", ".docx", ".xls", ".xlsx", ".jpg", ".jpeg", ".png", ".txt", ".ofd", ".zip")
    # messages other systems may send through POST /api/messages (each starts a procedure)
    EXTERNAL_MESSAGES = ("revisit_clue", "case_closed")
    SCHEDULER_POLL_SECONDS = int(os.environ.get("SCHEDULER_POLL_SECONDS", "5"))
    SCHEDULER_BATCH_SIZE = int(os.environ.get("SCHEDULER_BATCH_SIZE", "100"))
    SCHEDULER_SLA_BATCH_SIZE = int(os.environ.get("SCHEDULER_SLA_BATCH_SIZE", "500"))
    # a failing timer is tried this often, waiting 1, 2, 4 … times SCHEDULER_RETRY_SECONDS in between (at most
    # SCHEDULER_RETRY_MAX_SECONDS); then it becomes an incident for an administrator (/admin/incidents)
    SCHEDULER_MAX_ATTEMPTS = int(os.environ.get("SCHEDULER_MAX_ATTEMPTS", "3"))
    SCHEDULER_RETRY_SECONDS = int(os.environ.get("SCHEDULER_RETRY_SECONDS", "60"))
    SCHEDULER_RETRY_MAX_SECONDS = int(os.environ.get("SCHEDULER_RETRY_MAX_SECONDS", "3600"))
    # the name a scheduler process records its ticks under (scheduler_heartbeats), and whether /api/health
    # warns when no scheduler ever ticked
    SCHEDULER_NAME = os.environ.get("SCHEDULER_NAME") or socket.gethostname()[:128]
    SCHEDULER_EXPECTED = os.environ.get("SCHEDULER_EXPECTED", "1") not in ("0", "false", "no")
    # werkzeug password-hash method for users created from an organisation file (None = werkzeug default)
    ORG_PASSWORD_METHOD = None
    # sign-in limits: failures per user name, and per source address, within the window
    SIGN_IN_MAX_FAILURES = 5
    SIGN_IN_MAX_FAILURES_PER_ADDRESS = 20
    SIGN_IN_WINDOW_MINUTES = 15
    API_TOKEN_DAYS = 90
    # how many reverse proxies in front of the app set X-Forwarded-For (0: none; the client address is the peer)
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))

    @classmethod
    def finish(cls, config: dict) -> None:
        """Settings that depend on the environment at start-up (after explicit overrides were applied)."""
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or development_secret_key(config["SECRET_KEY_FILE"])
        if config.get("MAX_CONTENT_LENGTH") is None:
            config["MAX_CONTENT_LENGTH"] = config["ATTACHMENT_MAX_BYTES"] + config["FORM_ROOM_BYTES"]


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    ORG_PASSWORD_METHOD = "pbkdf2:sha256:1000"   # fast hashing for the demo users the tests load
    SCHEDULER_EXPECTED = False                   # no scheduler runs beside the test client


class ProductionConfig(Config):
    """Everything from the environment: SECRET_KEY (at least 32 characters) and DATABASE_URL are required."""

    SQLALCHEMY_DATABASE_URI = None
    SESSION_COOKIE_SECURE = True

    @classmethod
    def finish(cls, config: dict) -> None:
        key = config.get("SECRET_KEY") or os.environ.get("SECRET_KEY")
        if not key:
            raise ConfigError(
                "SUPERVISION_CONFIG=production needs the environment variable SECRET_KEY: a random text of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters, e.g. from `python -c \"import secrets; print(secrets.token_hex(32))\"`. "
                "生产环境须设置环境变量 SECRET_KEY（至少 32 个字符的随机字符串）。")
        why = weak_secret_key(key)
        if why:
            raise ConfigError(f"The SECRET_KEY environment variable is too weak ({why}); set a random text of at "
                              f"least {MIN_SECRET_KEY_LENGTH} characters. 环境变量 SECRET_KEY 过于简单，"
                              "请设置至少 32 个字符的随机字符串。")
        config["SECRET_KEY"] = key
        url = config.get("SQLALCHEMY_DATABASE_URI") or os.environ.get("DATABASE_URL")
        if not url:
            raise ConfigError("SUPERVISION_CONFIG=production needs the environment variable DATABASE_URL, e.g. "
                              "postgresql://user@host/dbname. 生产环境须设置环境变量 DATABASE_URL（数据库地址）。")
        config["SQLALCHEMY_DATABASE_URI"] = url
        super().finish(config)


CONFIGS = {"development": Config, "default": Config, "testing": TestConfig, "production": ProductionConfig}


def from_environment() -> type[Config]:
    """The configuration named by SUPERVISION_CONFIG (development when unset)."""
    name = (os.environ.get(CONFIG_VARIABLE) or "development").strip().lower()
    if name not in ("development", "production"):
        raise ConfigError(f"{CONFIG_VARIABLE} must be 'development' or 'production', not {name!r}. "
                          f"环境变量 {CONFIG_VARIABLE} 只能是 development 或 production。")
    return CONFIGS[name]
