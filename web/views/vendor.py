"""Front-end libraries installed from the npm registry (package.json), served by the app itself."""
from __future__ import annotations

import os

from flask import Blueprint, abort, send_from_directory

bp = Blueprint("vendor", __name__)
NODE_MODULES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "node_modules")
# only these folders are exposed
SERVED = {"bpmn-js": "bpmn-js/dist", "chart.js": "chart.js/dist", "dmn-js": "dmn-js/dist",
          "swagger-ui-dist": "swagger-ui-dist"}


@bp.get("/vendor/<package>/<path:filename>")
def file(package: str, filename: str):
    if package not in SERVED:
        abort(404)
    return send_from_directory(os.path.join(NODE_MODULES, SERVED[package]), filename, max_age=86400)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says; the pages link the SVG one as well."""
    return send_from_directory(os.path.join(os.path.dirname(os.path.dirname(__file__)), "static"), "favicon.ico",
                               mimetype="image/vnd.microsoft.icon", max_age=86400)
