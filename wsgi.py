"""The application for a WSGI server: ``gunicorn -c gunicorn.conf.py wsgi:app`` (``make serve``). The
configuration comes from the environment: SUPERVISION_CONFIG=production with SECRET_KEY and DATABASE_URL
(see README). No timers fire in the web processes: run ``flask scheduler`` beside them."""
from web import create_app
from web.logs import configure_for

app = create_app()
configure_for(app, process="web")
