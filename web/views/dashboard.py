"""The supervisor dashboard (issue 5 §6)."""
from __future__ import annotations

from flask import Blueprint, abort, render_template

from .common import me, roles_of, signed_in

bp = Blueprint("dashboard", __name__)
SUPERVISOR_ROLES = {"supervision_officer", "admin", "invited_supervisor"}


@bp.get("/dashboard")
@signed_in
def index():
    if not roles_of(me()) & SUPERVISOR_ROLES:
        abort(403)
    return render_template("dashboard.html")
