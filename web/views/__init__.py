"""Server-rendered pages, one blueprint per area."""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from . import (auth, calendar, case, casework, dashboard, designer, documents, inbox, incidents, lists,
                   notifications, oversight, public, queue, start, task, vendor)
    for module in (auth, inbox, start, task, case, dashboard, notifications, vendor, designer, incidents,
                   calendar, queue, casework, documents, lists, public, oversight):
        app.register_blueprint(module.bp)
    from . import personnel
    app.register_blueprint(personnel.bp)
    from . import assessment, contact_points           # issue 12 §3–4
    for module in (contact_points, assessment):
        app.register_blueprint(module.bp)
