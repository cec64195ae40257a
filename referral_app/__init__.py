"""The referral program system: `create_app` builds the Flask application."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import ROOT, Config, check_secrets, config_from_env


def create_app(config: type[Config] | dict[str, Any] | None = None) -> Flask:
    """Build the app. `config` is a config class, or a dict of overrides for the env's one."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    load_config(app, config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_cli(app)
    register_jinja(app)
    register_cache_policy(app)
    register_request_logging(app)
    register_observability(app)
    return app


def load_config(app: Flask, config: type[Config] | dict[str, Any] | None) -> None:
    if isinstance(config, dict):
        app.config.from_object(config_from_env())
        app.config.update(config)
    else:
        app.config.from_object(config or config_from_env())
    for warning in check_secrets(app.config):
        logging.getLogger("referral_app").warning(warning)
    if app.config["TRUSTED_PROXY_COUNT"] > 0:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"timeout": 30},
            "pool_reset_on_return": None,  # db_setup: roll back only what may be open
        }
        Path(app.instance_path).mkdir(exist_ok=True)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("referral_app").setLevel(logging.INFO)


def register_extensions(app: Flask) -> None:
    from .core import db_setup
    from .extensions import babel, csrf, db, htmx, limiter, login_manager, mail, migrate
    from .web import uploads
    from .web.public.cookieless import CookieFreeSessionInterface

    db.init_app(app)
    db_setup.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    limiter.init_app(app)
    mail.init_app(app)
    uploads.init_app(app)  # before CSRFProtect, which reads the body first
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.session_interface = CookieFreeSessionInterface()  # none on visitor pages (§ 25 TDDDG)

    from .web import auth_loaders  # noqa: F401 - registers the Flask-Login loaders


def select_locale() -> str:
    """The user's own setting, then the `lang` session choice, then Accept-Language. Visitor
    pages read neither the login nor the session: the program's language or Accept-Language."""
    from flask import current_app, has_request_context
    from flask_login import current_user

    from .web.public.cookieless import cookie_free_request, visitor_language

    languages = list(current_app.config["LANGUAGES"])
    if not has_request_context():  # CLI and jobs: the default, unless force_locale says else
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if cookie_free_request():
        return visitor_language()
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or "de"


def register_blueprints(app: Flask) -> None:
    from .web import admin, auth, customer, main, public

    for bp in (
        main.bp,
        auth.bp,
        public.api_bp,
        public.pages_bp,
        customer.api_bp,
        customer.pages_bp,
        admin.api_bp,
        admin.pages_bp,
    ):
        app.register_blueprint(bp)
    if app.config.get("ENV_NAME") == "development":
        from .web import dev

        dev.init_app(app)  # the mailbox page: every mail readable without SMTP


def register_errorhandlers(app: Flask) -> None:
    from .web.errors import register

    register(app)


def register_cli(app: Flask) -> None:
    from .cli import register

    register(app)


def register_observability(app: Flask) -> None:
    from .core import metrics
    from .core.observability import init_sentry

    app.register_blueprint(metrics.bp)
    init_sentry()


def register_request_logging(app: Flask) -> None:
    from .web.request_log import register

    register(app)


def register_jinja(app: Flask) -> None:
    from .web.templating import register

    register(app)


def register_cache_policy(app: Flask) -> None:
    from .web.caching import register

    register(app)
