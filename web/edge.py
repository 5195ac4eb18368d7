"""What comes in at the edge of the app, checked once before any view runs: JSON bodies (size, nesting,
number of keys and items, syntax), ids in paths (URL converters), and query values (paging, dates).

Whatever is refused here becomes a 4xx with a message in the user's language — never a 500 from deep
in a view (RecursionError, OverflowError, an integer the database cannot hold)."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from flask import Flask, Request, current_app, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, NotFound, RequestEntityTooLarge, UnprocessableEntity
from werkzeug.routing import BaseConverter, ValidationError

from engine.calendar import LOCAL_TZ, MAX_YEAR, MIN_YEAR
from engine.errors import N_
from engine.limits import MAX_DB_ID, is_uuid

# -- JSON bodies ------------------------------------------------------------------------------------------

# a JSON integer longer than this is kept as a Decimal (Python's int() refuses more than 4,300 digits);
# whoever uses the value refuses it as too large (engine.runtime.check_data, the schemas)
MAX_INT_LITERAL_DIGITS = 18
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.S)


class JSONRefused(ValueError):
    """A JSON body over a limit; ``msgid``/``params`` say which (translated when shown)."""

    def __init__(self, msgid: str, **params):
        super().__init__(msgid % params)
        self.msgid, self.params = msgid, params


def scan(text: str, max_depth: int, max_items: int) -> None:
    """Refuse JSON text nested deeper than ``max_depth`` or holding more than ``max_items`` keys and items
    in total — counted on the text, without recursion, before the parser sees it."""
    depth = items = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            items += 1
            if depth > max_depth:
                raise JSONRefused(N_("The JSON is nested too deeply (at most %(max)s levels)"), max=max_depth)
        elif token in "]}":
            depth -= 1
        elif token == ",":
            items += 1
        else:
            continue
        if items > max_items:
            raise JSONRefused(N_("The JSON has too many keys and items (at most %(max)s)"), max=max_items)


def _refuse_constant(name: str):
    raise JSONRefused(N_("%(value)s is not a JSON number"), value=name)


def _int(literal: str):
    digits = len(literal.lstrip("-"))
    return int(literal) if digits <= MAX_INT_LITERAL_DIGITS else Decimal(literal)


def loads_limited(data: bytes | str, max_depth: int, max_items: int):
    if isinstance(data, bytes):
        data = data.decode(json.detect_encoding(data))
    scan(data, max_depth, max_items)
    return json.loads(data, parse_constant=_refuse_constant, parse_int=_int)


class _LimitedJSON:
    """The ``json_module`` of requests: the app's limits, NaN/Infinity refused, huge integers kept exact."""

    @staticmethod
    def loads(data, **_kwargs):
        cfg = current_app.config
        return loads_limited(data, cfg["JSON_MAX_DEPTH"], cfg["JSON_MAX_ITEMS"])

    @staticmethod
    def dumps(obj, **kwargs):
        return current_app.json.dumps(obj, **kwargs)


class LimitedRequest(Request):
    @property
    def json_module(self):
        return _LimitedJSON

    @json_module.setter
    def json_module(self, _provider) -> None:
        """Flask hands every request the app's JSON provider; request bodies keep the limited parser."""

    def on_json_loading_failed(self, e: ValueError | None):
        if isinstance(e, JSONRefused):
            raise BadRequest(description=_(e.msgid) % e.params)
        if e is None:                       # not sent as application/json
            raise BadRequest(description=_("The request body must be JSON (Content-Type: application/json)"))
        raise BadRequest(description=_("The request body is not valid JSON"))


def json_body(max_bytes: int):
    """Let one view take a larger JSON body than JSON_MAX_BYTES (e.g. a BPMN diagram to validate)."""
    def mark(view):
        view.json_max_bytes = max_bytes
        return view
    return mark


def _check_json_body() -> None:
    """Every JSON request: size first, then parse once (the views get the cached result)."""
    if not request.is_json or request.content_length == 0:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, "json_max_bytes", None) or current_app.config["JSON_MAX_BYTES"]
    size = request.content_length
    if size is None:                        # chunked: read it (MAX_CONTENT_LENGTH bounds this)
        size = len(request.get_data(cache=True))
    if size > limit:
        raise RequestEntityTooLarge(
            description=_("The request body is too large (at most %(max)s bytes)") % {"max": limit})
    if size:
        request.get_json()


def _check_query() -> None:
    """Every request: a query value or name with a NUL character is refused (422) before a view passes it to the
    database (PostgreSQL cannot hold or compare such text)."""
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "")[:64]
            raise QueryValueError(shown, _("%(name)s: contains a character that is not allowed") % {"name": shown})


# -- ids in paths -----------------------------------------------------------------------------------------

class IdConverter(BaseConverter):
    """``<id:name>``: a database id — a positive integer the id columns can hold (anything else: 404)."""

    regex = r"\d{1,19}"
    weight = 50
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_DB_ID:
            raise ValidationError()
        return number

    def to_url(self, value) -> str:
        return str(int(value))


class YearConverter(BaseConverter):
    """``<year:name>``: a calendar year as written; the view says which years it takes."""

    regex = r"\d{1,9}"
    weight = 50
    part_isolating = True

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))


class UidConverter(BaseConverter):
    """``<uid:name>``: a task or document id, i.e. a UUID (given to the view as a lowercase str); else 404."""

    regex = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    part_isolating = True

    def to_python(self, value: str) -> str:
        if not is_uuid(value):
            raise ValidationError()
        return value.lower()


# -- query values -----------------------------------------------------------------------------------------

MAX_PAGE = 100_000


class QueryValueError(UnprocessableEntity):
    """A query value that cannot be used (422): the API answers with ``fields`` as for a body, pages show the
    error page."""

    def __init__(self, name: str, message: str):
        super().__init__(description=message)
        self.fields = {name: [message]}


def arg_page(name: str = "page") -> int:
    """A page number: missing, malformed or below 1 → 1; absurdly large → the last page anyone reaches."""
    raw = request.args.get(name, "")
    if not re.fullmatch(r"\s*-?\d{1,12}\s*", raw):
        return 1
    return min(max(int(raw), 1), MAX_PAGE)


def arg_id(name: str, source=None) -> int | None:
    """An optional database id from the query (or ``source``): None when missing; a value that cannot be
    an id names nothing that exists (404), like a bad id in a path."""
    raw = (source if source is not None else request.args).get(name, "")
    if not raw.strip():
        return None
    number = as_id(raw)
    if number is None:
        raise NotFound()
    return number


def as_id(raw) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 < raw <= MAX_DB_ID else None
    if isinstance(raw, str) and re.fullmatch(r"\d{1,19}", raw.strip()):
        number = int(raw)
        return number if 0 < number <= MAX_DB_ID else None
    return None


def _out_of_range(name: str):
    return QueryValueError(name, _("%(name)s: give a date between %(min)s and %(max)s")
                           % {"name": name, "min": f"{MIN_YEAR}-01-01", "max": f"{MAX_YEAR}-12-31"})


def arg_date(name: str) -> date | None:
    """An optional ISO date from the query, within the years the app handles (422 otherwise)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise QueryValueError(name, _("%(name)s: give a date as YYYY-MM-DD") % {"name": name}) from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise _out_of_range(name)
    return day


def arg_day_start(name: str, end: bool = False) -> datetime | None:
    """A date filter as an aware local time: the start of that day, or (``end``) the start of the next."""
    day = arg_date(name)
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1) if end else day, time(0), LOCAL_TZ)


def arg_int(name: str, default: int, low: int, high: int) -> int:
    """An optional whole number (paging: ``limit``, ``offset``), held within [low, high]; 422 when not a number."""
    raw = request.args.get(name, "")
    if not raw.strip():
        return default
    if not re.fullmatch(r"\s*\d{1,9}\s*", raw):
        raise QueryValueError(name, _("Give a whole number from %(low)s to %(high)s") % {"low": low, "high": high})
    return min(max(int(raw), low), high)


def arg_datetime(name: str) -> datetime | None:
    """An optional ISO date and time with a time zone, within the years the app handles (422 otherwise)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise QueryValueError(name, _("%(name)s: not a date and time") % {"name": name}) from None
    if value.tzinfo is None:
        raise QueryValueError(name, _("%(name)s: give a time zone, e.g. +08:00") % {"name": name})
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _out_of_range(name)
    return value.astimezone(timezone.utc)


# -- wiring -----------------------------------------------------------------------------------------------

def register_converters(app: Flask) -> None:
    """Before any blueprint is registered: their rules name these converters."""
    app.url_map.converters.update(id=IdConverter, year=YearConverter, uid=UidConverter)


def init_app(app: Flask) -> None:
    app.request_class = LimitedRequest
    app.config.setdefault("JSON_MAX_DEPTH", 32)
    app.config.setdefault("JSON_MAX_ITEMS", 2000)
    app.config.setdefault("JSON_MAX_BYTES", 1024 * 1024)
    app.before_request(_check_query)
    app.before_request(_check_json_body)
