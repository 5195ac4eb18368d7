"""Sign in, sign out, and the page showing who I am."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from engine.errors import EngineError, Forbidden
from engine.org import sign_in

from .. import services
from ..auth import SessionUser
from ..extensions import db
from .common import check_csrf, me, safe_next, signed_in

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    return safe_next(target)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        check_csrf()
        username = request.form.get("username", "").strip()
        try:
            user = sign_in(db.session, username, request.form.get("password", ""), services.clock().now(),
                           request.remote_addr)
        except EngineError as exc:
            db.session.commit()              # the failed attempt counts toward the limit
            message = _("Too many failed sign-ins; try again later.") if isinstance(exc, Forbidden) \
                else _("Wrong user name or password.")
            return render_template("login.html", error=message, username=username), \
                (429 if isinstance(exc, Forbidden) else 401)
        db.session.commit()
        session.clear()
        session.permanent = True             # expires after PERMANENT_SESSION_LIFETIME without activity
        login_user(SessionUser(user))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", username="")


@bp.post("/logout")
@signed_in
def logout():
    check_csrf()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/profile")
@signed_in
def profile():
    return render_template("profile.html", user=me())


@bp.get("/lang/<code>")
def language(code: str):
    from flask import current_app
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next") or _path_of(request.referrer)))


def _path_of(url: str | None) -> str | None:
    try:
        return urlparse(url).path if url else None
    except ValueError:
        return None
