"""Sign in, sign out, my account: the page showing who I am, my password and my API tokens."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine.errors import EngineError, Forbidden, InvalidInput
from engine.org import WrongPassword, change_password, revoke_token, sign_in, tokens_of
from engine.passwords import MIN_LENGTH

from .. import services
from ..auth import end_every_session, keep_this_session, start_session
from ..extensions import db
from .common import check_csrf, me, safe_next, signed_in

bp = Blueprint("auth", __name__)


def limits() -> dict:
    """The sign-in limits of the configuration, as keyword arguments of engine.org.sign_in/change_password."""
    cfg = current_app.config
    return {"max_failures": cfg["SIGN_IN_MAX_FAILURES"], "window_minutes": cfg["SIGN_IN_WINDOW_MINUTES"],
            "max_address_failures": cfg["SIGN_IN_MAX_FAILURES_PER_ADDRESS"],
            "password_method": cfg["ORG_PASSWORD_METHOD"]}


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        check_csrf()
        username = request.form.get("username", "").strip()
        try:
            user = sign_in(db.session, username, request.form.get("password", ""), services.clock().now(),
                           request.remote_addr, **limits())
        except EngineError as exc:
            db.session.commit()              # the failed attempt counts toward the limits
            message = exc.render(_)["message"] if isinstance(exc, Forbidden) else _("Wrong user name or password.")
            return render_template("login.html", error=message, username=username), \
                (429 if isinstance(exc, Forbidden) else 401)
        db.session.commit()
        start_session(user)
        return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", username="")


@bp.post("/logout")
@signed_in
def logout():
    check_csrf()
    end_every_session(me())                  # a copy of this session cookie signs nobody in any more
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/profile")
@signed_in
def profile():
    return render_template("profile.html", user=me(), tokens=tokens_of(db.session, me()),
                           now=services.clock().now())


@bp.route("/profile/password", methods=["GET", "POST"])
@signed_in
def password():
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        check_csrf()
        new = request.form.get("new_password", "")
        if new != request.form.get("new_password2", ""):
            errors = {"new_password2": [_("The two new passwords differ.")]}
            status = 422
        else:
            user = me()
            try:
                change_password(db.session, user, request.form.get("current_password", ""), new,
                                services.clock().now(), request.remote_addr, **limits())
                db.session.commit()
                keep_this_session(user)          # every other session has ended
                flash(_("Password changed. You stay signed in here; every other session has ended."), "success")
                return redirect(url_for("auth.profile"))
            except Forbidden as exc:
                db.session.rollback()
                errors, status = {"_": [exc.render(_)["message"]]}, 429
            except InvalidInput as exc:
                if isinstance(exc, WrongPassword):
                    db.session.commit()          # a wrong current password counts as a failed sign-in
                else:
                    db.session.rollback()
                errors, status = field_errors(exc), 422
    return render_template("password.html", errors=errors, min_length=MIN_LENGTH), status


def field_errors(exc: EngineError) -> dict[str, list[str]]:
    """Translated messages by form field (``_``: the whole form)."""
    rendered = exc.render(_)
    out: dict[str, list[str]] = {}
    for entry in rendered["errors"] or [{"message": rendered["message"]}]:
        out.setdefault(entry.get("field") or "_", []).append(entry["message"])
    return out


@bp.post("/profile/tokens/<id:token_id>/revoke")
@signed_in
def revoke(token_id: int):
    check_csrf()
    try:
        row = revoke_token(db.session, me(), token_id)
    except EngineError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_("Token “%(name)s” revoked: it no longer gives access.", name=row.name or row.id), "success")
    return redirect(url_for("auth.profile"))


@bp.get("/lang/<code>")
def language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    came_from = None
    if request.referrer:
        try:
            ref = urlparse(request.referrer)
        except ValueError:                   # e.g. "http://[": not a URL at all
            ref = None
        if ref is not None and ref.netloc == request.host:       # only a page of this site
            came_from = ref.path
    return redirect(safe_next(request.args.get("next") or came_from))
