"""Logs: text for development, one JSON object per line for production (``LOG_FORMAT``), at ``LOG_LEVEL``.

Every request gets a request id — the caller's ``X-Request-ID`` when it is a sensible token, else a new one —
echoed in the response header ``X-Request-ID``, written on every log line the request causes, and on the one
line logged per request (logger ``web.request``: method, path, endpoint, status, duration, user). The
scheduler's lines carry the scheduler's name and, for each timer, the timer and instance ids (the ``extra``
fields of engine.jobs' records).

``configure`` is called by the entry points that own the process — wsgi.py (gunicorn), ``flask serve``,
``flask scheduler`` — not by ``create_app``, so tests and other commands keep their logging."""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request
from sqlalchemy import inspect as sa_inspect

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
# the attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
request_log = logging.getLogger("web.request")
# loggers kept at WARNING even when LOG_LEVEL is lower: apscheduler and werkzeug write a line per poll and per
# request; SpiffWorkflow ("spiff.task", "spiff.workflow", …) one per task state change, with the task's data —
# the case's fields, personal data included — which has no place in the logs (engine.history keeps the trail)
QUIET = ("apscheduler", "werkzeug", "spiff")


def request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def _extras(record: logging.LogRecord) -> dict:
    out = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
    if "request_id" not in out:
        rid = request_id()
        if rid:
            out["request_id"] = rid
    return out


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "pid", …static fields, …extra fields, "exc"}`` on one line."""

    def __init__(self, *args, static: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage(),
               "pid": record.process, **self.static, **_extras(record)}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value …`` for a terminal."""

    def __init__(self, static: dict | None = None):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {**self.static, **_extras(record)}
        if fields:
            head, sep, tail = line.partition("\n")      # keep a traceback below the fields
            line = head + " " + " ".join(f"{k}={v}" for k, v in fields.items()) + sep + tail
        return line


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the moment (a test's capture, a redirected stream)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure(level: str = "INFO", fmt: str = "text", **static) -> None:
    """Send every log record at ``level`` and above to stderr as ``fmt`` (json or text), with ``static``
    fields (e.g. process=scheduler) on each line. Replaces what an earlier call installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StderrHandler):        # ours, from an earlier call or gunicorn.conf.py
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter(static=static) if fmt == "json" else TextFormatter(static))
    root.addHandler(handler)
    root.setLevel(level)
    quiet = max(logging.getLevelName(level), logging.WARNING)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(quiet)


def configure_for(app: Flask, **static) -> None:
    configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"], **static)


def _start() -> None:
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if _VALID_ID.fullmatch(sent) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def elapsed() -> float:
    started = g.get("request_started")
    return time.perf_counter() - started if started is not None else 0.0


def _finish(response):
    rid = g.get("request_id")
    if rid:
        response.headers[REQUEST_ID_HEADER] = rid
    row = getattr(g.get("_login_user"), "row", None)
    # the id from the identity map: after a commit the row is expired and reading row.id would query again
    identity = sa_inspect(row).identity if row is not None else None
    request_log.log(
        logging.ERROR if response.status_code >= 500 else logging.INFO,
        "%s %s %s", request.method, request.path, response.status_code,
        extra={"request_id": rid, "method": request.method, "path": request.path[:512],
               "endpoint": request.endpoint, "status": response.status_code,
               "duration_ms": round(elapsed() * 1000, 1), "bytes": response.calculate_content_length(),
               "user_id": identity[0] if identity else None, "remote_addr": request.remote_addr})
    return response


def init_app(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, _start)    # before any other hook
    app.after_request(_finish)

