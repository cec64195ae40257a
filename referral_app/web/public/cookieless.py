"""Visitor pages store nothing on the visitor's device (§ 25 TDDDG): no session cookie.

The pages a visitor or participant sees (the hosted freebie and thank-you pages, the
confirmation page, the hub, unsubscribe and delete-my-data) and the public API need nothing
remembered between requests: the secret token in the link is the credential. Consent for a
cookie could not be "strictly necessary" here, so none is set:

- `CookieFreeSessionInterface` never writes the session back on these requests, whatever
  touched it (Flask-WTF's `csrf_token()`, `flash`, Flask-Login), and drops any other
  `Set-Cookie` a hook may have added;
- the language comes from the program (the customer's setting, which the mails and the
  consent text use too) or the browser's Accept-Language, never from the session;
- forms there carry no session-bound CSRF token: the secret token in the URL or form is the
  proof of authority, and `cross_site_post()` (Fetch Metadata / Origin, stateless) keeps
  other sites from submitting the page forms on a visitor's behalf.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, has_request_context, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_babel import refresh
from werkzeug.wrappers import Response

COOKIE_FREE_BLUEPRINTS = frozenset({"public", "public_api"})


def cookie_free_request() -> bool:
    """True while serving a visitor page or the public API."""
    return has_request_context() and request.blueprint in COOKIE_FREE_BLUEPRINTS


# Outside the visitor blueprints, what a visitor's browser fetches too: the icon it asks for
# by itself, and the public API documentation.
COOKIE_FREE_ENDPOINTS = frozenset({"main.favicon", "main.api_docs", "static"})


class CookieFreeSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session for customers and admins; on visitor pages it is
    never saved, so no hook that touches `session` there can set a cookie. Nor on requests
    that matched no route: a browser fetches `/favicon.ico` by itself after every visitor
    page, and its 404 page (the app's layout, with `csrf_token()`) must not set one."""

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if (
            cookie_free_request()
            or request.url_rule is None
            or request.endpoint in COOKIE_FREE_ENDPOINTS
        ):
            # The last step before the answer leaves: nothing else may set a cookie either
            # (say, Flask-Login refreshing a remember-me cookie after request).
            response.headers.remove("Set-Cookie")
            return
        super().save_session(app, session, response)


def visitor_language() -> str:
    """The locale selector's answer on visitor pages: the program's language once the view
    named it (`speak`), else the browser's Accept-Language."""
    languages = list(current_app.config["LANGUAGES"])
    chosen = g.get("page_language")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config.get(
        "BABEL_DEFAULT_LOCALE", "de"
    )


def speak(language: str | None) -> None:
    """Render this visitor page in the program's language (a customer's or participant's
    `language`): the page then matches the mails and the consent text."""
    if language in current_app.config["LANGUAGES"]:
        g.page_language = language
        refresh()


def _own_origins() -> set[str]:
    origins = {f"{request.scheme}://{request.host}".lower()}
    base = urlsplit(current_app.config.get("PUBLIC_BASE_URL") or "")
    if base.scheme and base.netloc:
        origins.add(f"{base.scheme}://{base.netloc}".lower())
    return origins


def cross_site_post() -> bool:
    """Whether the browser says this form was sent from another site.

    Stateless, so it needs no cookie: Fetch Metadata first (`Sec-Fetch-Site`, sent by every
    current browser, also where our `Referrer-Policy: no-referrer` turns the Origin into
    `null`), then `Origin`. With neither (an old browser, a mail provider's server, curl)
    there is no browser to trick, and the secret token in the link decides on its own.
    A signed hidden field would prove nothing more here: without a session anyone can fetch
    a fresh one, and whoever can read the page already holds its secret link."""
    site = request.headers.get("Sec-Fetch-Site")
    if site:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return False
    return origin.lower() not in _own_origins()
