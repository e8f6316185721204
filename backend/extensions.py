"""Extension objects, created unbound and bound to an app in ``create_app``."""

from collections.abc import Callable

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from backend.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address)


def limit_of(setting: str) -> Callable[[], str]:
    """A rate limit read from its setting (config/settings.py) at each request: every limit
    is a setting an operator can change, never a literal in a route."""
    return lambda: current_app.extensions["settings"].values[setting]
