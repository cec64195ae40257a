"""Every Flask extension object, created once and bound in `create_app`."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

from .core.crypto import keyed_hash
from .core.netaddr import ip_key

# Stable constraint names, so Alembic migrations run the same on SQLite and MariaDB.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def client_ip() -> str:
    """The client address as ProxyFix left it: the socket, or a trusted proxy's header."""
    return request.remote_addr or "0.0.0.0"  # noqa: S104 - a key, not a bind address


def client_key() -> str:
    """A rate-limit bucket per client without the raw IP in the limiter's storage (Redis,
    shared by all app servers): a keyed hash of the address (IPv6: of its /64, `ip_key`)."""
    return keyed_hash("ratelimit", ip_key(client_ip()))


db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
limiter = Limiter(key_func=client_key, default_limits=[])
mail = Mail()
csrf = CSRFProtect()
htmx = HTMX()
babel = Babel()
