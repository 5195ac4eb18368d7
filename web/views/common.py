"""What every page needs: the signed-in user, CSRF on forms, SLA display, error pages."""
from __future__ import annotations

from functools import wraps

from flask import abort, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.calendar import LOCAL_TZ, WorkCalendar
from engine.errors import N_
from engine.sla import annotate as annotate_tasks

from .. import services
from ..auth import csrf_token
from ..extensions import db

SLA_LABELS = {"on_time": N_("On time"), "due_soon": N_("Due soon"), "overdue": N_("Overdue"),
              "escalated": N_("Escalated")}


def signed_in(view):
    """Pages need a session; without one, go to the sign-in page and come back afterwards."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)
    return wrapper


def me():
    return current_user.row


def roles_of(user) -> set[str]:
    return {ra.role_code for ra in user.roles}


def safe_next(target: str | None, fallback: str | None = None) -> str:
    """Where to go after an action: a path on this site, else ``fallback`` (the inbox) — never another site,
    and never a 500 for something that is not a URL at all."""
    from urllib.parse import urlparse
    try:
        if target and not urlparse(target).netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    except ValueError:                       # e.g. "//[": not a URL at all
        pass
    return fallback or url_for("inbox.index")


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


def init_app(app) -> None:
    app.jinja_env.globals.update(csrf_token=csrf_token, sla_labels=SLA_LABELS)
    app.jinja_env.filters["local"] = local

    @app.context_processor
    def navigation():
        if not current_user.is_authenticated or request.blueprint == "api":
            return {}
        from sqlalchemy import func, select
        user = current_user.row
        if "nav_counts" not in g:
            from engine.models import Notification
            svc = services.tasks()
            g.nav_counts = {
                "mine": db.session.scalar(select(func.count()).select_from(svc.query(user, "mine").subquery())),
                "group": db.session.scalar(select(func.count()).select_from(svc.query(user, "group").subquery())),
                "unread": db.session.scalar(select(func.count()).select_from(Notification).where(
                    Notification.user_id == user.id, Notification.read_at.is_(None))),
            }
        from engine.models import Role
        role_names = {r.code: r.name for r in db.session.scalars(select(Role))} if request.endpoint == "auth.profile" else {}
        roles = roles_of(user)
        if "admin" in roles and "incidents" not in g.nav_counts:
            from engine.incidents import count_open
            g.nav_counts["incidents"] = count_open(db.session)
        return {"me": user, "my_roles": roles, "nav": g.nav_counts, "role_names": role_names,
                "is_supervisor": bool(roles & {"supervision_officer", "admin", "invited_supervisor"}),
                "is_designer": bool(roles & {"process_designer", "admin"}), "is_admin": "admin" in roles}

    for code in ERROR_MESSAGES:
        app.register_error_handler(code, _error_page)


# what a 4xx says when whoever raised it gave no message of its own (werkzeug's defaults are English)
ERROR_MESSAGES = {
    400: N_("The request is not valid."),
    403: N_("You are not allowed to do this."),
    404: N_("The page or item does not exist, or you may not see it."),
    405: N_("This action is not possible here."),
    409: N_("Someone else changed this at the same moment; reload and try again."),
    413: N_("The request is too large."),
    415: N_("The request body must be JSON (Content-Type: application/json)"),
    422: N_("Something in the request cannot be used."),
    429: N_("Too many requests; try again later."),
}


def _error_page(exc):
    """4xx answers in the user's language: JSON for the API, the app's error page for pages."""
    message = exc.description
    if not message or message == type(exc).description:
        message = _(ERROR_MESSAGES.get(exc.code, ERROR_MESSAGES[400]))
    if request.blueprint == "api" or request.path.startswith("/api/"):
        from flask import jsonify
        fields = getattr(exc, "fields", None)
        return jsonify(message=message, **({"fields": fields} if fields else {})), exc.code
    return render_template("error.html", code=exc.code, message=message), exc.code
