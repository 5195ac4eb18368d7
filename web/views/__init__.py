"""Server-rendered pages, one blueprint per area."""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from . import (auth, calendar, case, dashboard, designer, inbox, incidents, notifications, oversight, queue,
                   start, task, vendor)
    for module in (auth, inbox, start, task, case, dashboard, notifications, vendor, designer, incidents,
                   calendar, queue, oversight):
        app.register_blueprint(module.bp)
