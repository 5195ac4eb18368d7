"""The application for a WSGI server, e.g. ``gunicorn wsgi:app``. The configuration comes from the
environment: SUPERVISION_CONFIG=production with SECRET_KEY and DATABASE_URL (see README)."""
from web import create_app

app = create_app()
