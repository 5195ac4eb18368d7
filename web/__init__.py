"""The Flask application factory."""
from __future__ import annotations

import os

from flask import Flask, request
from sqlalchemy import event

from config import CONFIGS, from_environment
from engine.clock import Clock

from .extensions import babel, db, login_manager, migrate


def _select_locale():
    from flask import current_app, has_request_context, session
    if not has_request_context():      # CLI commands and scheduler jobs speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    wanted = request.args.get("lang")
    if wanted in current_app.config["LANGUAGES"]:
        session["lang"] = wanted
        return wanted
    if session.get("lang") in current_app.config["LANGUAGES"]:
        return session["lang"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]   # Simplified Chinese unless the user chose otherwise


def _tune_sqlite(engine) -> None:
    """SQLite: every transaction takes the write lock at BEGIN (BEGIN IMMEDIATE) and waits for it, so two
    concurrent actions serialize instead of failing with 'database is locked'; WAL lets readers go on."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA foreign_keys = ON")
        if engine.url.database and engine.url.database != ":memory:":
            cur.execute("PRAGMA journal_mode = WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _watch_writes(engine):
    """PostgreSQL: psycopg forgets the statements it has prepared on a connection at every ROLLBACK, and every
    request used to end with one — so the statements every page sends (the user, the badges, the task lists)
    were parsed and planned again at each request, never prepared once per connection. A transaction that only
    read ends the same with COMMIT, which keeps them. Returns whether a session's transaction only read: it
    sent nothing but SELECTs (noted per connection from its BEGIN) and holds no change the ORM has not written
    yet — anything else, and any failed request, is rolled back as before."""

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.info["wrote"] = False

    @event.listens_for(engine, "before_cursor_execute")
    def _note(conn, _cursor, statement, _parameters, _context, _executemany):
        if not statement.startswith("SELECT "):
            conn.info["wrote"] = True

    def only_read(session) -> bool:
        if not session.in_transaction() or session.new or session.dirty or session.deleted:
            return False
        return not session.connection().info.get("wrote", True)
    return only_read


def create_app(config: str | type | None = None, **overrides) -> Flask:
    """The application. Without ``config``, the configuration named by the environment variable
    SUPERVISION_CONFIG (development or production; see config.py)."""
    app = Flask(__name__, instance_relative_config=True)
    settings = from_environment() if config is None else CONFIGS[config] if isinstance(config, str) else config
    app.config.from_object(settings)
    settings.read_environment(app.config)   # every variable checked; a wrong one stops the start (ConfigError)
    app.config.update(overrides)
    settings.finish(app.config)
    if app.config.get("PROXY_COUNT"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=app.config["PROXY_COUNT"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(os.path.dirname(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]) or ".",
                    exist_ok=True)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                                                   "connect_args": {"timeout": 30, "check_same_thread": False}}
    app.extensions["clock"] = Clock()

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"),
                     render_as_batch=True)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=os.path.join(os.path.dirname(__file__), "translations"))
    login_manager.init_app(app)

    from flask_babel import get_locale
    app.jinja_env.globals["get_locale"] = get_locale

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _tune_sqlite(db.engine)
        only_read = _watch_writes(db.engine) if db.engine.dialect.name == "postgresql" else None

    @app.teardown_request
    def _end_transaction(exc):
        # Whatever a request did not commit is not kept, and its transaction (on SQLite: the write lock
        # taken at BEGIN) ends with the request even when the app context lives on (tests, CLI). On
        # PostgreSQL a request that only read ends it with COMMIT (see _watch_writes).
        session = db.session
        if exc is None and only_read is not None and only_read(session()):
            try:
                session.commit()
                return
            except Exception:          # nothing was written; a connection lost just now is the pool's to replace
                pass
        session.rollback()

    from . import auth, edge, logs, metrics
    from .api import bp as api_bp
    from .cli import register as register_cli
    from .views import common as view_common
    from .views import register as register_views

    logs.init_app(app)                      # first: the request id and the per-request log line
    metrics.init_app(app)
    auth.init_app(app)
    edge.init_app(app)                      # after auth: each request forgets the previous one's user first
    edge.register_converters(app)           # before the blueprints, whose rules use <id:…>, <uid:…>
    app.register_blueprint(api_bp)
    register_views(app)
    view_common.init_app(app)
    from . import display
    display.init_app(app)
    register_cli(app)
    from .ops_cli import register as register_ops_cli
    register_ops_cli(app)
    return app
