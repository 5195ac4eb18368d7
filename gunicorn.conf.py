"""gunicorn settings for the web nodes: ``gunicorn -c gunicorn.conf.py wsgi:app`` (``make serve``, deploy/).

Why gunicorn: the most used, well-kept pre-fork WSGI server for Python on Linux, configured in Python (this
file), with graceful reloads (SIGHUP) and restarts of stuck workers (timeout). Put nginx (TLS, slow clients,
static caching) in front of it and set PROXY_COUNT=1.

The web workers fire no timers: run one or more ``flask scheduler`` processes beside them (see README).

Read from the environment (each value checked; a wrong one stops the start naming the variable):

    WEB_BIND              address:port (or unix:/path) to listen on, several separated by commas
                          (default 127.0.0.1:8000; 0.0.0.0:$PORT when PORT is set)
    WEB_CONCURRENCY       worker processes (default 2 × CPUs + 1, at most 8)
    WEB_THREADS           threads per worker (default 1: sync workers; more: gthread workers)
    WEB_TIMEOUT           seconds before a silent worker is restarted (default 60)
    WEB_GRACEFUL_TIMEOUT  seconds a worker gets to finish its requests on stop/reload (default 30)
    WEB_KEEPALIVE         seconds to keep an idle client connection (default 5)
    WEB_MAX_REQUESTS      restart a worker after this many requests (default 0: never)
    WEB_ACCESS_LOG        "-" for gunicorn's access log on stdout, or a file (default: off — the app logs one
                          line per request itself, with the request id)
    WEB_CONTROL_SOCKET    path of gunicorn's control socket for gunicornc (default: none)
    PROMETHEUS_MULTIPROC_DIR  where the workers share their metrics (default: a new temporary folder)

and the application's own settings (SUPERVISION_CONFIG, SECRET_KEY, DATABASE_URL, LOG_LEVEL, LOG_FORMAT …),
checked here before any worker starts."""
from __future__ import annotations

import glob
import multiprocessing
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from config import ConfigError, Invalid, integer, load, problem, text  # noqa: E402


def _fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(1)                 # gunicorn stops; the message names the variable


try:
    _settings = load()
except ConfigError as exc:
    _fail(f"Refusing to start: {exc}")


def _env(name: str, parse, default):
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse(raw)
    except Invalid as exc:
        _fail(f"Refusing to start: {problem(name, raw, exc.en, exc.zh)}")


_port = _env("PORT", integer(1, 65535), None)
bind = [b.strip() for b in _env("WEB_BIND", text(500), f"0.0.0.0:{_port}" if _port else "127.0.0.1:8000")
        .split(",") if b.strip()]
workers = _env("WEB_CONCURRENCY", integer(1, 64), min(2 * multiprocessing.cpu_count() + 1, 8))
threads = _env("WEB_THREADS", integer(1, 64), 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _env("WEB_TIMEOUT", integer(5, 3600), 60)
graceful_timeout = _env("WEB_GRACEFUL_TIMEOUT", integer(1, 3600), 30)
keepalive = _env("WEB_KEEPALIVE", integer(1, 300), 5)
max_requests = _env("WEB_MAX_REQUESTS", integer(0, 10_000_000), 0)
max_requests_jitter = max_requests // 10
proc_name = "supervision-web"
wsgi_app = "wsgi:app"
# gunicorn's control socket (gunicornc) only when a path is given: by default every instance on a host would
# share ~/.gunicorn/gunicorn.ctl
control_socket = os.environ.get("WEB_CONTROL_SOCKET") or "gunicorn.ctl"
control_socket_disable = not os.environ.get("WEB_CONTROL_SOCKET")

# gunicorn's access log is off unless asked for: the app writes one line per request (logger web.request)
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
access_log_format = ('%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s '
                     'referer="%(f)s" agent="%(a)s"')
errorlog = "-"
loglevel = _settings["LOG_LEVEL"].lower()
if _settings["LOG_FORMAT"] == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": _settings["LOG_LEVEL"], "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": _settings["LOG_LEVEL"], "handlers": [], "propagate": True,
                               "qualname": "gunicorn.error"},
            # a logging configuration switches gunicorn's access log on: keep it quiet unless WEB_ACCESS_LOG
            "gunicorn.access": {"level": "INFO" if accesslog else "WARNING", "handlers": [], "propagate": True,
                                "qualname": "gunicorn.access"},
        },
        "handlers": {"stderr": {"class": "web.logs.StderrHandler", "formatter": "json"}},
        "formatters": {"json": {"()": "web.logs.JsonFormatter", "static": {"process": "web"}}},
    }

# Prometheus: each worker writes its counters to files here; /metrics adds them up (web/metrics.py)
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="supervision-metrics-")


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):    # figures of an earlier run
        os.remove(stale)


def when_ready(server):
    server.log.info("supervision web: %s workers × %s threads on %s (no timers fire here: run `flask scheduler`)",
                    workers, threads, ", ".join(bind))


def post_worker_init(worker):
    """The application is loaded: what it holds for good (modules, mappers, templates, translations) is moved
    out of the garbage collector's reach (gc.freeze). Otherwise every full collection walks it again — on a
    large dashboard page that was a pause of up to 90 ms every few requests."""
    import gc
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
