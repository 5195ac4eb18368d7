"""Settings. ``Config`` is the development default (SQLite file and a random secret key under instance/);
``TestConfig`` is used by the tests; ``ProductionConfig`` reads everything from environment variables and
refuses to start without them.

``create_app()`` without an argument picks the configuration named by the environment variable
``SUPERVISION_CONFIG`` (``development``, the default, or ``production``), so ``flask`` commands and a WSGI
server (``wsgi:app``) run in production when it says so.

Every configuration reads the variables in ``ENVIRONMENT`` (see README, "Configuration"): each value is
checked (type, range, URL, address) when the app is created, and a wrong one stops the start with a message
naming the variable (:class:`ConfigError`, listing every wrong variable at once). ``load()`` does the same
without Flask (used by gunicorn.conf.py)."""
from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass
from typing import Any, Callable

import click

BASE_DIR = os.path.abspath(os.path.dirname(__file__))
INSTANCE_DIR = os.path.join(BASE_DIR, "instance")
CONFIG_VARIABLE = "SUPERVISION_CONFIG"
MIN_SECRET_KEY_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
# keys found in examples and tutorials; a production key must not contain them
WEAK_KEY_PARTS = ("change-me", "changeme", "change_me", "dev-only", "secret-key", "secretkey", "your-secret",
                  "not-secret", "insecure", "example", "password")


class ConfigError(RuntimeError, click.ClickException):
    """The configuration cannot be used; the message names the environment variable to set. A ``flask``
    command shows it as ``Error: …`` (no traceback) and exits with status 1."""

    def __init__(self, message: str):
        RuntimeError.__init__(self, message)
        click.ClickException.__init__(self, message)

    def __str__(self) -> str:
        return self.message


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


# -- reading environment variables -------------------------------------------------------------------------

class Invalid(ValueError):
    """A value a parser refuses: ``en`` and ``zh`` say what is expected."""

    def __init__(self, en: str, zh: str):
        super().__init__(en)
        self.en, self.zh = en, zh


def integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        text = raw.strip().replace("_", "")
        if not re.fullmatch(r"[+-]?\d{1,12}", text) or not low <= int(text) <= high:
            raise Invalid(f"give a whole number from {low} to {high}", f"应为 {low} 到 {high} 之间的整数")
        return int(text)
    return parse


def boolean(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise Invalid("give 1/true/yes/on or 0/false/no/off", "应为 1/true/yes/on 或 0/false/no/off")


def choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        text = raw.strip().lower()
        if text not in options:
            listed = ", ".join(options)
            raise Invalid(f"give one of: {listed}", f"应为以下之一：{listed}")
        return text
    return parse


def text(max_length: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if not value or len(value) > max_length or not value.isprintable():
            raise Invalid(f"give 1 to {max_length} printable characters", f"应为 1 到 {max_length} 个可打印字符")
        return value
    return parse


def log_level(raw: str) -> str:
    return choice("debug", "info", "warning", "error", "critical")(raw).upper()


_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+")
_EMAIL = re.compile(r"[^@\s<>\"']{1,64}@" + _HOST.pattern.replace("(?=.{1,253}$)", ""))


def hostname(raw: str) -> str:
    value = raw.strip()
    if not _HOST.fullmatch(value):
        raise Invalid("give a host name or an IP address (without scheme or port)",
                      "应为主机名或 IP 地址（不含协议和端口）")
    return value


def email_address(raw: str) -> str:
    """``someone@host`` or ``Name <someone@host>``."""
    value = raw.strip()
    match = re.fullmatch(r"(?:[^<>]*<([^<>]+)>)", value)
    if not _EMAIL.fullmatch(match.group(1) if match else value) or len(value) > 254:
        raise Invalid("give an e-mail address such as noreply@example.gov.cn", "应为电子邮件地址，如 noreply@example.gov.cn")
    return value


def database_url(raw: str) -> str:
    """A PostgreSQL or SQLite SQLAlchemy URL (``postgres://`` is accepted as ``postgresql://``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    value = raw.strip()
    if value.startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://"):]
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise Invalid("give a database URL such as postgresql://user@host:5432/dbname",
                      "应为数据库地址，如 postgresql://user@host:5432/dbname") from None
    backend = url.get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise Invalid(f"{backend} is not supported: give a postgresql:// (or sqlite:///) URL",
                      f"不支持 {backend}：应为 postgresql://（或 sqlite:///）地址")
    if backend == "postgresql" and not url.database:
        raise Invalid("the URL names no database (…/dbname)", "地址中缺少数据库名（…/dbname）")
    return value


def directory(raw: str) -> str:
    value = raw.strip()
    if not value or "\0" in value:
        raise Invalid("give a directory path", "应为目录路径")
    return os.path.abspath(value)


@dataclass(frozen=True)
class Setting:
    """One environment variable: the config key it sets, how its text becomes a value, whether the value may
    be shown in an error message, and the configurations that do not read it."""
    variable: str
    key: str
    parse: Callable[[str], Any]
    secret: bool = False
    scale: int = 1                       # e.g. megabytes in the variable, bytes in the config


ENVIRONMENT: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "SQLALCHEMY_DATABASE_URI", database_url, secret=True),
    Setting("DATABASE_POOL_SIZE", "DATABASE_POOL_SIZE", integer(1, 200)),
    Setting("DATABASE_MAX_OVERFLOW", "DATABASE_MAX_OVERFLOW", integer(0, 200)),
    Setting("ATTACHMENT_STORAGE", "ATTACHMENT_STORAGE", choice("database", "filesystem")),
    Setting("ATTACHMENT_DIR", "ATTACHMENT_DIR", directory),
    Setting("ATTACHMENT_MAX_MB", "ATTACHMENT_MAX_BYTES", integer(1, 512), scale=1024 * 1024),
    Setting("DOCUMENT_TEMPLATE_DIR", "DOCUMENT_TEMPLATE_DIR", directory),
    Setting("SMTP_HOST", "SMTP_HOST", hostname),
    Setting("SMTP_PORT", "SMTP_PORT", integer(1, 65535)),
    Setting("SMTP_SECURITY", "SMTP_SECURITY", choice("starttls", "ssl", "none")),
    Setting("SMTP_USERNAME", "SMTP_USERNAME", text(254)),
    Setting("SMTP_PASSWORD", "SMTP_PASSWORD", text(1024), secret=True),
    Setting("SMTP_FROM", "SMTP_FROM", email_address),
    Setting("SMTP_TIMEOUT", "SMTP_TIMEOUT", integer(1, 300)),
    Setting("MAIL_MAX_ATTEMPTS", "MAIL_MAX_ATTEMPTS", integer(1, 100)),
    Setting("MAIL_RETRY_SECONDS", "MAIL_RETRY_SECONDS", integer(1, 86_400)),
    Setting("BELL_POLL_SECONDS", "BELL_POLL_SECONDS", integer(1, 3600)),
    Setting("LOG_LEVEL", "LOG_LEVEL", log_level),
    Setting("LOG_FORMAT", "LOG_FORMAT", choice("json", "text")),
    Setting("METRICS_TOKEN", "METRICS_TOKEN", text(256), secret=True),
    Setting("SCHEDULER_POLL_SECONDS", "SCHEDULER_POLL_SECONDS", integer(1, 3600)),
    Setting("SCHEDULER_BATCH_SIZE", "SCHEDULER_BATCH_SIZE", integer(1, 10_000)),
    Setting("SCHEDULER_SLA_BATCH_SIZE", "SCHEDULER_SLA_BATCH_SIZE", integer(1, 100_000)),
    Setting("SCHEDULER_MAX_ATTEMPTS", "SCHEDULER_MAX_ATTEMPTS", integer(1, 100)),
    Setting("SCHEDULER_RETRY_SECONDS", "SCHEDULER_RETRY_SECONDS", integer(1, 86_400)),
    Setting("SCHEDULER_RETRY_MAX_SECONDS", "SCHEDULER_RETRY_MAX_SECONDS", integer(1, 7 * 86_400)),
    Setting("SCHEDULER_NAME", "SCHEDULER_NAME", text(128)),
    Setting("SCHEDULER_EXPECTED", "SCHEDULER_EXPECTED", boolean),
    Setting("PROXY_COUNT", "PROXY_COUNT", integer(0, 10)),
    Setting("JSON_MAX_BYTES", "JSON_MAX_BYTES", integer(1024, 100 * 1024 * 1024)),
    Setting("JSON_MAX_DEPTH", "JSON_MAX_DEPTH", integer(2, 1000)),
    Setting("JSON_MAX_ITEMS", "JSON_MAX_ITEMS", integer(10, 1_000_000)),
)


def problem(variable: str, raw: str | None, en: str, zh: str, secret: bool = False) -> str:
    """One line of a ConfigError: English, then Chinese, naming the variable (and its value unless secret)."""
    shown = "" if raw is None or secret else f"={raw.strip()[:80]!r}"
    return f"Environment variable {variable}{shown}: {en}. 环境变量 {variable} 无效：{zh}。"


def read_environment(config: dict, environ, skip: frozenset[str] = frozenset()) -> list[str]:
    """Set the config keys of the variables present in ``environ``; returns the problems found."""
    problems = []
    for setting in ENVIRONMENT:
        raw = environ.get(setting.variable)
        if setting.variable in skip or raw is None or raw.strip() == "":
            continue
        try:
            value = setting.parse(raw)
            config[setting.key] = value * setting.scale if setting.scale != 1 else value
        except Invalid as exc:
            problems.append(problem(setting.variable, raw, exc.en, exc.zh, setting.secret))
    return problems


def check_combinations(config: dict) -> list[str]:
    """Rules between settings (after explicit overrides were applied)."""
    problems = []
    if config.get("SCHEDULER_RETRY_MAX_SECONDS", 0) < config.get("SCHEDULER_RETRY_SECONDS", 0):
        problems.append(problem("SCHEDULER_RETRY_MAX_SECONDS", str(config["SCHEDULER_RETRY_MAX_SECONDS"]),
                                f"must not be below SCHEDULER_RETRY_SECONDS ({config['SCHEDULER_RETRY_SECONDS']})",
                                f"不得小于 SCHEDULER_RETRY_SECONDS（{config['SCHEDULER_RETRY_SECONDS']}）"))
    if config.get("SMTP_HOST"):
        if not config.get("SMTP_FROM"):
            problems.append(problem("SMTP_FROM", None, "is required when SMTP_HOST is set (the sender address)",
                                    "设置 SMTP_HOST 时必须同时设置发件人地址 SMTP_FROM"))
        if bool(config.get("SMTP_USERNAME")) != bool(config.get("SMTP_PASSWORD")):
            missing = "SMTP_PASSWORD" if config.get("SMTP_USERNAME") else "SMTP_USERNAME"
            problems.append(problem(missing, None, "SMTP_USERNAME and SMTP_PASSWORD go together",
                                    "SMTP_USERNAME 与 SMTP_PASSWORD 须同时设置"))
    else:
        for name in ("SMTP_FROM", "SMTP_USERNAME", "SMTP_PASSWORD"):
            if config.get(name):
                problems.append(problem("SMTP_HOST", None, f"is required when {name} is set",
                                        f"设置 {name} 时必须同时设置 SMTP_HOST"))
                break
    if config.get("SMTP_PORT") is None:
        config["SMTP_PORT"] = 465 if config.get("SMTP_SECURITY") == "ssl" else 587
    token = config.get("METRICS_TOKEN")
    if token and len(token) < MIN_METRICS_TOKEN_LENGTH:
        problems.append(problem("METRICS_TOKEN", None, f"give at least {MIN_METRICS_TOKEN_LENGTH} random characters",
                                f"应为至少 {MIN_METRICS_TOKEN_LENGTH} 个随机字符", secret=True))
    if config.get("ATTACHMENT_STORAGE") not in ("database", "filesystem"):
        problems.append(problem("ATTACHMENT_STORAGE", str(config.get("ATTACHMENT_STORAGE")),
                                "give database or filesystem", "应为 database 或 filesystem"))
    return problems


def raise_problems(problems: list[str]) -> None:
    if problems:
        raise ConfigError("\n".join(problems) if len(problems) > 1 else problems[0])


class Config:
    # None: SECRET_KEY from the environment, else the random key kept in SECRET_KEY_FILE (see finish())
    SECRET_KEY: str | None = None
    SECRET_KEY_FILE = os.path.join(INSTANCE_DIR, "secret_key")
    SQLALCHEMY_DATABASE_URI: str | None = "sqlite:///" + os.path.join(INSTANCE_DIR, "supervision.db")
    # a pooled connection the database dropped (restart, failover, idle timeout) is replaced before use
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    DATABASE_POOL_SIZE: int | None = None        # PostgreSQL: connections kept per process (SQLAlchemy: 5)
    DATABASE_MAX_OVERFLOW: int | None = None     # PostgreSQL: extra connections under load (SQLAlchemy: 10)
    BPMN_DIR = os.path.join(BASE_DIR, "workflows", "bpmn")
    DEMO_ORG_FILE = os.path.join(BASE_DIR, "web", "demo", "langfang.yaml")
    DEMO_LISTS_FILE = os.path.join(BASE_DIR, "web", "demo", "public_lists.yaml")
    # the dashboard flags a public list (任务4) not published again within this many months
    LIST_STALE_MONTHS = 12
    DEMO_REGISTERS_FILE = os.path.join(BASE_DIR, "web", "demo", "oversight.yaml")   # supervisors, experts
    # the assessment's indicators and weights (engine/analytics/assessment.py), and the days after a quarter's
    # or year's end before the scheduler closes (freezes) it
    ASSESSMENT_CONFIG = os.path.join(BASE_DIR, "engine", "data", "assessment.yaml")
    ASSESSMENT_CLOSE_GRACE_DAYS = 15
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh", "en")
    # every JSON request body, checked before any view runs (web/edge.py): bytes, nesting, keys and items
    JSON_MAX_BYTES = 1024 * 1024
    JSON_MAX_DEPTH = 32
    JSON_MAX_ITEMS = 2000
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    TESTING = False
    # where the bytes of attachments live: "filesystem" (ATTACHMENT_DIR; one machine, the SQLite demo) or
    # "database" (table attachment_blobs; every app node sees them, a database backup includes them)
    ATTACHMENT_STORAGE = "filesystem"
    ATTACHMENT_DIR = os.path.join(INSTANCE_DIR, "attachments")
    ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024
    # the request size limit: one attachment of the largest size plus room for the rest of the form
    # (None: ATTACHMENT_MAX_BYTES + FORM_ROOM_BYTES, computed at start-up)
    MAX_CONTENT_LENGTH: int | None = None
    FORM_ROOM_BYTES = 1024 * 1024
    # accepted file extensions; the server serves each with the content type of engine.attachments.CONTENT_TYPES
    ATTACHMENT_TYPES = (".pdf", ".doc", ".docx", ".wps", ".xls", ".xlsx", ".jpg", ".jpeg", ".png", ".txt", ".ofd", ".zip")
    # the templates of the official documents (文书) the steps issue: Jinja HTML + CSS an administrator may
    # edit (one file per kind, see engine/documents.py KINDS), rendered to PDF by WeasyPrint
    DOCUMENT_TEMPLATE_DIR = os.path.join(BASE_DIR, "documents", "templates")
    # messages other systems may send through POST /api/messages (each starts a procedure)
    EXTERNAL_MESSAGES = ("revisit_clue", "case_closed")
    SCHEDULER_POLL_SECONDS = 5
    # due timers claimed and fired per transaction (engine.jobs.run_due_timers). Each batch costs a dozen
    # statements and a commit whatever its size: 200 fire about a fifth faster than 50 (bench/timers.py:
    # 456 against 298 timers/s for one scheduler on PostgreSQL). A batch holds its instances (on SQLite: the
    # write lock) while it runs, about half a second for 200, so a user acting on one of them waits that long
    SCHEDULER_BATCH_SIZE = 200
    SCHEDULER_SLA_BATCH_SIZE = 500
    # a failing timer is tried this often, waiting 1, 2, 4 … times SCHEDULER_RETRY_SECONDS in between (at most
    # SCHEDULER_RETRY_MAX_SECONDS); then it becomes an incident for an administrator (/admin/incidents)
    SCHEDULER_MAX_ATTEMPTS = 3
    SCHEDULER_RETRY_SECONDS = 60
    SCHEDULER_RETRY_MAX_SECONDS = 3600
    # the name a scheduler process records its ticks under (scheduler_heartbeats), and whether /api/health
    # warns when no scheduler ever ticked
    SCHEDULER_NAME = socket.gethostname()[:128] or "scheduler"
    SCHEDULER_EXPECTED = True
    # the personnel register (engine/registers/personnel.py): a legal reviewer is offered review tasks only
    # when qualified — at least this many training hours in the current calendar year, and a 法律职业资格 on
    # record. REVIEWER_CERTIFICATE_REQUIRED_FROM (ISO date): None = every reviewer needs the certificate; a
    # date = only reviewers first appointed on or after it ("first-time reviewers"; earlier ones are exempt)
    REVIEWER_MIN_TRAINING_HOURS = 30
    REVIEWER_CERTIFICATE_REQUIRED_FROM: str | None = None
    # from this day of the year (MM-DD) a reviewer below the hours and his or her supervision officers are told
    REVIEWER_REMINDER_FROM = "10-01"
    # werkzeug password-hash method for users created from an organisation file (None = werkzeug default)
    ORG_PASSWORD_METHOD = None
    # sign-in limits: failures per user name, and per source address, within the window
    SIGN_IN_MAX_FAILURES = 5
    SIGN_IN_MAX_FAILURES_PER_ADDRESS = 20
    SIGN_IN_WINDOW_MINUTES = 15
    API_TOKEN_DAYS = 90
    # how many reverse proxies in front of the app set X-Forwarded-For (0: none; the client address is the peer)
    PROXY_COUNT = 0
    # logs: level, and "text" (development) or "json" (one object per line; production)
    LOG_LEVEL = "INFO"
    LOG_FORMAT = "text"
    # /metrics answers the loopback address without a token; others need "Authorization: Bearer <token>"
    METRICS_TOKEN: str | None = None
    # outgoing mail: with SMTP_HOST set, notifications of users who asked for e-mail (profile page) are sent by
    # the scheduler from the mail outbox after the step's commit, tried MAIL_MAX_ATTEMPTS times with a backoff
    # of MAIL_RETRY_SECONDS, 2×, 4× …; a failing server never fails the step
    SMTP_HOST: str | None = None
    SMTP_PORT: int | None = None                 # None: 465 with SMTP_SECURITY=ssl, else 587
    SMTP_SECURITY = "starttls"
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_FROM: str | None = None
    SMTP_TIMEOUT = 30
    MAIL_MAX_ATTEMPTS = 5
    MAIL_RETRY_SECONDS = 60
    # how often each page asks for the bell's count (seconds)
    BELL_POLL_SECONDS = 15
    # variables this configuration does not read
    IGNORED_VARIABLES: frozenset[str] = frozenset()

    @classmethod
    def read_environment(cls, config: dict, environ=None) -> None:
        """Apply the environment's settings to ``config`` (before explicit overrides); refuses wrong values."""
        raise_problems(read_environment(config, os.environ if environ is None else environ,
                                        cls.IGNORED_VARIABLES))

    @classmethod
    def finish(cls, config: dict) -> None:
        """Settings that depend on the environment at start-up (after explicit overrides were applied)."""
        raise_problems(check_combinations(config))
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or development_secret_key(config["SECRET_KEY_FILE"])
        if config.get("MAX_CONTENT_LENGTH") is None:
            config["MAX_CONTENT_LENGTH"] = config["ATTACHMENT_MAX_BYTES"] + config["FORM_ROOM_BYTES"]
        url = config.get("SQLALCHEMY_DATABASE_URI") or ""
        if url.startswith("postgresql"):
            pool = {k: v for k, v in (("pool_size", config.get("DATABASE_POOL_SIZE")),
                                       ("max_overflow", config.get("DATABASE_MAX_OVERFLOW"))) if v is not None}
            if pool:
                config["SQLALCHEMY_ENGINE_OPTIONS"] = {**config["SQLALCHEMY_ENGINE_OPTIONS"], **pool}


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    ORG_PASSWORD_METHOD = "pbkdf2:sha256:1000"   # fast hashing for the demo users the tests load
    SCHEDULER_EXPECTED = False                   # no scheduler runs beside the test client
    ATTACHMENT_STORAGE = "database"              # the tests' attachments live in the test database
    BELL_POLL_SECONDS = 1                        # the browser tests see the bell follow quickly
    IGNORED_VARIABLES = frozenset({"DATABASE_URL", "ATTACHMENT_STORAGE", "ATTACHMENT_DIR", "SCHEDULER_EXPECTED"})


class ProductionConfig(Config):
    """Everything from the environment: SECRET_KEY (at least 32 characters) and DATABASE_URL are required;
    attachments are kept in the database unless ATTACHMENT_STORAGE=filesystem; logs are JSON lines."""

    SQLALCHEMY_DATABASE_URI = None
    SESSION_COOKIE_SECURE = True
    ATTACHMENT_STORAGE = "database"
    LOG_FORMAT = "json"

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
        if not config.get("SQLALCHEMY_DATABASE_URI"):
            raise ConfigError("SUPERVISION_CONFIG=production needs the environment variable DATABASE_URL, e.g. "
                              "postgresql://user@host/dbname. 生产环境须设置环境变量 DATABASE_URL（数据库地址）。")
        if config.get("ATTACHMENT_STORAGE") == "filesystem":
            path = config["ATTACHMENT_DIR"]
            try:
                os.makedirs(path, exist_ok=True)
                writable = os.access(path, os.W_OK | os.X_OK)
            except OSError:
                writable = False
            if not writable:
                raise_problems([problem("ATTACHMENT_DIR", path, "the directory cannot be created or written",
                                        "该目录无法创建或写入")])
        super().finish(config)


CONFIGS = {"development": Config, "default": Config, "testing": TestConfig, "production": ProductionConfig}


def from_environment() -> type[Config]:
    """The configuration named by SUPERVISION_CONFIG (development when unset)."""
    name = (os.environ.get(CONFIG_VARIABLE) or "development").strip().lower()
    if name not in ("development", "production"):
        raise ConfigError(f"{CONFIG_VARIABLE} must be 'development' or 'production', not {name!r}. "
                          f"环境变量 {CONFIG_VARIABLE} 只能是 development 或 production。")
    return CONFIGS[name]


def load(settings: type[Config] | None = None, **overrides) -> dict:
    """The settings as the app would see them, without Flask: the class's values, the environment, the
    overrides, checked. Raises ConfigError like ``create_app``."""
    settings = settings or from_environment()
    config = {name: getattr(settings, name) for name in dir(settings) if name.isupper()}
    settings.read_environment(config)
    config.update(overrides)
    settings.finish(config)
    return config
