"""Server-rendered pages, one blueprint per area."""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from . import (auth, calendar, case, dashboard, designer, inbox, incidents, notifications, queue, start, task,
                   vendor)
    for module in (auth, inbox, start, task, case, dashboard, notifications, vendor, designer, incidents,
                   calendar, queue):
        app.register_blueprint(module.bp)
    from . import assessment, contact_points           # issue 12 §3–4
    for module in (contact_points, assessment):
        app.register_blueprint(module.bp)
