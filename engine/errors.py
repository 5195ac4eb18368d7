"""Exceptions raised by engine services; the web layer maps them to HTTP status codes.

Messages are English message ids with ``%(name)s`` parameters, marked with :func:`N_` so Babel extracts
them; the web layer translates them (Simplified Chinese by default) with :meth:`EngineError.render`."""
from __future__ import annotations

from typing import Any, Callable


def N_(msgid: str) -> str:
    """Mark a message id for extraction; translation happens where the message is shown."""
    return msgid


MAX_REPORTED_FIELDS = 20        # a refused submission reports this many fields, then "and N more"
MAX_REPORTED_ERRORS = 100       # a refused deployment lists this many problems, then "and N more"


def more_message(count: int, gettext: Callable[[str], str]) -> str:
    return gettext(N_("… and %(count)s more")) % {"count": count}


def cap_fields(fields: dict, gettext: Callable[[str], str]) -> dict:
    """At most MAX_REPORTED_FIELDS entries of a field → messages map; the rest are counted under ``_more``
    (a submission with 100,000 unknown keys gets a short answer, not megabytes of messages)."""
    if len(fields) <= MAX_REPORTED_FIELDS:
        return fields
    kept = dict(list(fields.items())[:MAX_REPORTED_FIELDS])
    kept["_more"] = [more_message(len(fields) - MAX_REPORTED_FIELDS, gettext)]
    return kept


def problem(msgid: str, *, file: str | None = None, element_id: str | None = None, line: int | None = None,
            **params: Any) -> dict:
    """One entry of an error list: where, and what (a message id with its parameters)."""
    return {"file": file, "element_id": element_id, "line": line, "msgid": msgid, "params": params,
            "message": msgid % params if params else msgid}


def render_problem(entry: dict, gettext: Callable[[str], str]) -> dict:
    """One entry of a problem list (see :func:`problem`) with its message translated by ``gettext``."""
    text = gettext(entry["msgid"])
    return {**{k: v for k, v in entry.items() if k not in ("msgid", "params")},
            "message": text % entry["params"] if entry["params"] else text}


class EngineError(Exception):
    """Base class. ``status`` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, msgid: str, errors: list[dict] | None = None, fields: dict[str, list[str]] | None = None,
                 **params: Any):
        self.msgid = msgid
        self.params = params
        self.errors = errors or []
        self.fields = fields or {}     # field name -> messages, already in the user's language
        self.where: tuple[str, dict] | None = None   # (message id, params) of where it happened, e.g. the step
        super().__init__(self.message)

    def at(self, msgid: str, **params: Any) -> "EngineError":
        """Say where the error happened (e.g. in which step); rendered before the message."""
        self.where = (msgid, params)
        self.args = (self.message,)
        return self

    @property
    def message(self) -> str:
        text = self.msgid % self.params if self.params else self.msgid
        if self.where:
            text = (self.where[0] % self.where[1]) + text
        return text

    def render(self, gettext: Callable[[str], str]) -> dict:
        """The error as a JSON-able dict with messages translated by ``gettext``."""
        def tr(msgid, params):
            text = gettext(msgid)
            return text % params if params else text
        body = {"message": (tr(*self.where) if self.where else "") + tr(self.msgid, self.params),
                "errors": [render_problem(e, gettext) for e in self.errors[:MAX_REPORTED_ERRORS]]}
        if len(self.errors) > MAX_REPORTED_ERRORS:
            body["errors"].append({"file": None, "element_id": None, "line": None,
                                   "message": more_message(len(self.errors) - MAX_REPORTED_ERRORS, gettext)})
        if self.fields:
            body["fields"] = cap_fields(self.fields, gettext)
        return body


class NotFound(EngineError):
    status = 404


class Forbidden(EngineError):
    status = 403


class Conflict(EngineError):
    """A stale or concurrent update lost the race; nothing was changed."""

    status = 409


class InvalidInput(EngineError):
    status = 422


class DeploymentError(EngineError):
    """The uploaded BPMN/DMN was refused; ``errors`` lists each problem with file, element id and line."""

    status = 422


class ScriptError(EngineError):
    """A script or expression was refused by the guard or failed while running."""

    status = 422


class CalendarError(EngineError):
    """A date outside the holiday calendar's known years."""

    status = 422
