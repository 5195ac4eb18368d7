"""Server-rendered pages."""
from flask import Blueprint, render_template

from .auth import current

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return render_template("index.html", user=current())
