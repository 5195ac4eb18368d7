"""Flask extensions, bound to the engine's declarative models."""
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as _FlaskSession

from engine.models import Base


class Session(_FlaskSession):
    """``db.session``. With one database (no SQLALCHEMY_BINDS) every statement and every flush goes to its one
    engine: found once per session instead of through the application context at each statement and, in a
    flush, at each table written."""

    _one_engine = None

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is not None:
            return bind
        if self._one_engine is None:
            engines = self._db.engines
            if list(engines) != [None]:
                return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
            self._one_engine = engines[None]
        return self._one_engine


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
migrate = Migrate()
babel = Babel()
login_manager = LoginManager()
