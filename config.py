"""Settings. ``Config`` is the embedded default (SQLite file under instance/); ``TestConfig`` is used by the
tests; ``ProductionConfig`` reads everything from environment variables."""
import os
import socket

BASE_DIR = os.path.abspath(os.path.dirname(__file__))


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-change-me")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", "sqlite:///" + os.path.join(BASE_DIR, "instance", "supervision.db"))
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    BPMN_DIR = os.path.join(BASE_DIR, "workflows", "bpmn")
    DEMO_ORG_FILE = os.path.join(BASE_DIR, "web", "demo", "langfang.yaml")
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh", "en")
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    # every JSON request body, checked before any view runs (web/edge.py): bytes, nesting, keys and items
    JSON_MAX_BYTES = int(os.environ.get("JSON_MAX_BYTES", str(1024 * 1024)))
    JSON_MAX_DEPTH = int(os.environ.get("JSON_MAX_DEPTH", "32"))
    JSON_MAX_ITEMS = int(os.environ.get("JSON_MAX_ITEMS", "2000"))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    TESTING = False
    ATTACHMENT_DIR = os.environ.get("ATTACHMENT_DIR", os.path.join(BASE_DIR, "instance", "attachments"))
    ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024
    ATTACHMENT_TYPES = (".pdf", ".doc", ".docx", ".xls", ".xlsx", ".jpg", ".jpeg", ".png", ".txt", ".ofd", ".zip")
    # messages other systems may send through POST /api/messages (each starts a procedure)
    EXTERNAL_MESSAGES = ("revisit_clue",)
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


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    ORG_PASSWORD_METHOD = "pbkdf2:sha256:1000"   # fast hashing for the demo users the tests load
    SCHEDULER_EXPECTED = False                   # no scheduler runs beside the test client


class ProductionConfig(Config):
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SESSION_COOKIE_SECURE = True


CONFIGS = {"default": Config, "testing": TestConfig, "production": ProductionConfig}
