"""What every page needs: the signed-in user, CSRF on forms, SLA display, error pages."""
from __future__ import annotations

from functools import lru_cache, wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.calendar import LOCAL_TZ, WorkCalendar
from engine.errors import N_
from engine.sla import annotate as annotate_tasks

from .. import services
from ..auth import csrf_token, sign_in_needed
from ..extensions import db

# Content-Security-Policy: scripts only from this site (no inline code: page scripts live in web/static and
# read their data from JSON blocks); styles may be inline (the diagram libraries set style attributes).
CSP = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "font-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'"))
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin"}
# what an error says when whoever raised it gave no message of its own (werkzeug's defaults are English)
ERROR_MESSAGES = {
    400: N_("Something is wrong with the request."),
    403: N_("You are not allowed to do this."),
    404: N_("Not found, or you are not allowed to see it."),
    405: N_("This address does not accept this kind of request."),
    409: N_("Someone else changed this at the same time; reload the page and try again."),
    413: N_("The request is too large."),
    415: N_("The request body must be JSON (Content-Type: application/json)"),
    422: N_("Something in the request cannot be used."),
    429: N_("Too many requests; please wait a moment and try again."),
    500: N_("Something went wrong on the server; please try again later."),
    503: N_("The service is busy or the database cannot be reached; please try again in a moment."),
}
TOO_LARGE = N_("The upload is too large: each file may have at most %(file_mb)s MB, one submission at most "
               "%(total_mb)s MB.")

SLA_LABELS = {"on_time": N_("On time"), "due_soon": N_("Due soon"), "overdue": N_("Overdue"),
              "escalated": N_("Escalated")}


CALENDAR_WATCHERS = frozenset({"admin", "supervision_officer"})   # see the banner about a missing year


def calendar_notice() -> dict | None:
    """From 1 December until next year's holidays are entered (or while this year's are missing): which year,
    and how many open deadlines are provisional meanwhile (DOMAIN §6)."""
    from engine.jobs import calendar_warning
    from engine.provisional import pending_count
    warning = calendar_warning(db.session, services.clock().now().astimezone(LOCAL_TZ).date())
    if warning is None:
        return None
    return {"year": warning[1]["year"], "pending": pending_count(db.session)}


def safe_next(target: str | None, default: str | None = None) -> str:
    """``target`` if it is a path of this site, else ``default`` (the inbox). Every ``next`` parameter goes
    through here: refused are other sites (``https://…``, ``//…``), schemes (``javascript:``), backslashes
    (``/\\evil`` — browsers read them as slashes) and control characters or spaces."""
    fallback = default or url_for("inbox.index")
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def signed_in(view):
    """Pages need a session; without one, go to the sign-in page and come back afterwards."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return sign_in_needed()
        return view(*args, **kwargs)
    return wrapper


def me():
    return current_user.row


def roles_of(user) -> set[str]:
    return {ra.role_code for ra in user.roles}


def check_csrf() -> None:
    """Every page form carries the session's token; a post without it is refused."""
    sent = request.form.get("csrf_token", "")
    if not sent or sent != session.get("csrf"):
        abort(400, description=_("The form has expired or did not come from this site; reload the page and try again."))


def annotate(tasks):
    """Live SLA state and working days left on task rows (see engine.sla.annotate)."""
    return annotate_tasks(tasks, services.clock().now(), WorkCalendar(db.session))


def local(dt, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return dt.astimezone(LOCAL_TZ).strftime(fmt) if dt else ""


def _page_gettext(translations):
    """``_``/``gettext`` and ``ngettext`` for one page, bound to the language's catalogue: the same as
    Flask-Babel's (jinja's "newstyle": the text escaped as markup, always formatted with its variables), without
    looking the language up again for each of a page's hundred-odd strings (a third of their cost)."""
    from jinja2 import pass_context
    from markupsafe import Markup
    lookup, plural = translations.ugettext, translations.ungettext

    @pass_context
    def gettext(context, string, **variables):
        rv = lookup(string)
        return (Markup(rv) if context.eval_ctx.autoescape else rv) % variables

    @pass_context
    def ngettext(context, singular, plural_form, num, **variables):
        variables.setdefault("num", num)
        rv = plural(singular, plural_form, num)
        return (Markup(rv) if context.eval_ctx.autoescape else rv) % variables
    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


_ROW_MARK = "9081726354453627180"       # stands for a row's id while a list's address is built once


def row_url(endpoint: str, name: str, **values):
    """``url_for(endpoint, name=…, **values)`` for each row of a list: the address is built once (a full route
    build costs as much as drawing the row) and each row's id put into it. Ids are database ids or UUIDs, which
    need no quoting in a path."""
    prefix, _mark, suffix = url_for(endpoint, **{name: _ROW_MARK}, **values).partition(_ROW_MARK)
    return lambda value: f"{prefix}{value}{suffix}"


def read_nav_counts(user, **counts) -> dict[str, int]:
    """The navigation's three badges (my tasks, tasks to claim, unread notifications), and the page's own
    ``counts`` (name → engine.tasks.Bound count statement) with them, in one statement. The badges are kept for
    the page's navigation; returns the page's counts."""
    svc = services.tasks()
    parts = {"mine": svc.count_query(user, "mine"), "group": svc.count_query(user, "group"), **counts}
    params = {"nav_user_id": user.id}
    for bound in parts.values():
        params.update(bound.params)
    statement = _counts_statement(tuple((name, bound.statement) for name, bound in parts.items()))
    read = dict(db.session.execute(statement, params).one()._mapping)
    g.nav_counts = {name: read[name] for name in ("mine", "group", "unread")}
    return {name: read[name] for name in counts}


@lru_cache(maxsize=256)
def _counts_statement(parts: tuple):
    """One row: each (name, count statement) of ``parts`` and the unread notifications of :nav_user_id (built
    once per shape, like the task lists' statements)."""
    from sqlalchemy import bindparam, func, select

    from engine.models import Notification
    unread = select(func.count()).select_from(Notification).where(
        Notification.user_id == bindparam("nav_user_id"), Notification.read_at.is_(None))
    return select(*(statement.scalar_subquery().label(name) for name, statement in parts),
                  unread.scalar_subquery().label("unread"))


def init_app(app) -> None:
    app.jinja_env.globals.update(csrf_token=csrf_token, sla_labels=SLA_LABELS, row_url=row_url)
    app.jinja_env.filters["local"] = local

    @app.context_processor
    def translations():
        from flask_babel import get_translations
        return _page_gettext(get_translations())

    @app.context_processor
    def navigation():
        if g.get("database_down") or not current_user.is_authenticated or request.blueprint == "api":
            return {}
        from sqlalchemy import func, select
        user = current_user.row
        if "nav_counts" not in g:
            read_nav_counts(user)
        from engine.models import Role
        role_names = {r.code: r.name for r in db.session.scalars(select(Role))} if request.endpoint == "auth.profile" else {}
        roles = roles_of(user)
        if "admin" in roles and "incidents" not in g.nav_counts:
            from engine.incidents import count_open
            g.nav_counts["incidents"] = count_open(db.session)
        may_assign = bool(roles & {"supervision_officer", "admin"})
        if may_assign and "queue" not in g.nav_counts:
            g.nav_counts["queue"] = db.session.scalar(select(func.count()).select_from(
                services.tasks().queue_query(user).subquery()))
        return {"me": user, "my_roles": roles, "nav": g.nav_counts, "role_names": role_names,
                "calendar_notice": calendar_notice() if roles & CALENDAR_WATCHERS else None,
                "is_supervisor": bool(roles & {"supervision_officer", "admin", "invited_supervisor"}),
                "is_designer": bool(roles & {"process_designer", "admin"}), "is_admin": "admin" in roles,
                "may_assign": may_assign}

    for code in ERROR_MESSAGES:
        app.register_error_handler(code, _error_page)

    from sqlalchemy.exc import InterfaceError, OperationalError

    def _database_unavailable(exc):
        """The database dropped the connection or is locked: nothing of the request was kept (its
        transaction is rolled back); say so and ask to try again — never as a script or model error."""
        import logging
        logging.getLogger(__name__).warning("database unavailable: %s", str(exc).split("\n")[0][:200])
        try:
            db.session.rollback()
        except Exception:            # the connection is gone; the pool replaces it (pool_pre_ping)
            pass
        g.database_down = True       # the page is drawn without asking the database anything,
        if "_login_user" not in g:   # not even who is signed in
            from flask_login import AnonymousUserMixin
            g._login_user = AnonymousUserMixin()
        message = _(ERROR_MESSAGES[503])
        if request.blueprint == "api" or request.path.startswith("/api/"):
            from flask import jsonify
            return jsonify(message=message), 503
        return render_template("error.html", code=503, message=message), 503

    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)

    @app.after_request
    def _security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _error_message(exc) -> str:
    """The error's own message when a view gave one (already translated), else a translated general one —
    never werkzeug's English default text."""
    code = getattr(exc, "code", 500) or 500
    if code == 413:
        mib = 1024 * 1024
        cfg = current_app.config
        return _(TOO_LARGE, file_mb=max(cfg["ATTACHMENT_MAX_BYTES"] // mib, 1),
                 total_mb=max(round((cfg["MAX_CONTENT_LENGTH"] or 0) / mib), 1))
    description = getattr(exc, "description", None)
    if description and description != type(exc).description:
        return description
    return _(ERROR_MESSAGES.get(code, ERROR_MESSAGES[400]))


def _error_page(exc):
    """Errors in the user's language: JSON for the API, the app's error page for pages."""
    code = getattr(exc, "code", 500) or 500
    message = _error_message(exc)
    if request.blueprint == "api" or request.path.startswith("/api/"):
        from flask import jsonify
        fields = getattr(exc, "fields", None)
        return jsonify(message=message, **({"fields": fields} if fields else {})), code
    return render_template("error.html", code=code, message=message), code
