"""Who is calling: a Flask-Login session or an ``Authorization: Bearer <token>`` header.

Session-authenticated API calls that change something must carry the ``X-CSRF-Token`` header issued at
sign-in; token-authenticated calls need none (a browser never sends the header by itself).

A session holds the user's ``session_version`` from when it was signed in; signing out or changing the
password raises the version, so every older session cookie — copies included — signs nobody in."""
from __future__ import annotations

import secrets

from flask import Flask, g, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_user, logout_user

from engine.models import User
from engine.org import end_sessions, signed_in_user, user_for_token

from . import services
from .extensions import db, login_manager

SESSION_VERSION = "session_version"

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SessionUser(UserMixin):
    """Flask-Login wrapper around an engine User row."""

    def __init__(self, user: User):
        self.row = user

    def get_id(self) -> str:
        return str(self.row.id)


def _script_request() -> bool:
    """A page's own script (fetch: the bell's poll and menu, a diagram), not the person opening a page."""
    mode = request.headers.get("Sec-Fetch-Mode")
    return mode is not None and mode != "navigate"


class SessionCookies(SecureCookieSessionInterface):
    """Flask re-sends a permanent session's cookie with every answer, to renew its idle timeout. A page's
    script requests do not: sent with the cookie of a moment ago and answered after a navigation that changed
    the session (a step's "done" message, a sign-out), their copy would overwrite the new one. Nor does a
    polling tab keep an idle session alive. They send it only when they changed the session."""

    def should_set_cookie(self, app: Flask, session) -> bool:
        return session.modified or (super().should_set_cookie(app, session) and not _script_request())


def init_app(app: Flask) -> None:
    app.session_interface = SessionCookies()

    @app.before_request
    def _forget_previous_user():
        # g lives as long as the app context; when a caller (a test, a CLI command) keeps one app context
        # across several requests, each request must still authenticate and choose its language on its own.
        for cached in ("_login_user", "token_auth", "_flask_babel", "nav_counts"):
            g.pop(cached, None)

    @login_manager.user_loader
    def _load(user_id: str):
        try:
            user = signed_in_user(db.session, int(user_id))
        except ValueError:
            return None
        if user is None or not user.active or session.get(SESSION_VERSION) != user.session_version:
            return None                  # signed out, password changed, or deactivated since this session began
        return SessionUser(user)

    @login_manager.request_loader
    def _from_header(req):
        header = req.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = user_for_token(db.session, header[7:].strip(), services.clock().now())
            if user is not None:
                if db.session.dirty:
                    db.session.commit()  # keeps the token's last use (written at most once a minute)
                g.token_auth = True
                return SessionUser(user)
        return None

    @login_manager.unauthorized_handler
    def _unauthorized():
        return sign_in_needed()


def sign_in_needed():
    """The answer to a caller without a valid session: a page navigation goes to the sign-in page and comes
    back afterwards; the API and a page's own scripts (the bell's menu, a diagram) get 401. A script's
    request must never be sent on to the sign-in page: rendering it there would use up the message meant
    for the person (such as "You have signed out.") before their own page shows it."""
    if request.path.startswith("/api/"):
        return jsonify(message=_("Please sign in")), 401
    if _script_request():
        return _("Please sign in"), 401, {"Content-Type": "text/plain; charset=utf-8"}
    from flask import redirect, url_for
    return redirect(url_for("auth.login", next=request.full_path))


def start_session(user: User) -> None:
    """Sign ``user`` in with a fresh session (a new CSRF token; the chosen language is kept)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session.permanent = True             # expires after PERMANENT_SESSION_LIFETIME without activity
    login_user(SessionUser(user))
    session[SESSION_VERSION] = user.session_version


def end_every_session(user: User) -> None:
    """Sign out here and everywhere else: every session of ``user`` ends (committed)."""
    end_sessions(user)
    db.session.commit()
    logout_user()
    session.clear()


def keep_this_session(user: User) -> None:
    """After a password change ended every session: this one goes on under the new version."""
    session[SESSION_VERSION] = user.session_version


def current() -> User | None:
    return current_user.row if current_user.is_authenticated else None


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def csrf_ok() -> bool:
    if request.method in SAFE_METHODS or not current_user.is_authenticated or g.get("token_auth"):
        return True
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
    # bytes: compare_digest refuses str with non-ASCII characters (a forged header must not make a 500)
    return bool(sent) and secrets.compare_digest(sent.encode("utf-8", "replace"),
                                                 session.get("csrf", "").encode("utf-8"))
