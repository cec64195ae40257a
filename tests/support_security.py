"""Helpers for the security suite: the XSS payloads and a DOM check that finds a payload
that escaped its text or attribute, two customers with one of every id-taking object each,
a snapshot of every table (to prove a refused request changed nothing), and the list of
routes with ids or tokens, so a new one cannot go untested."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select

from referral_app.accounts import users as accounts
from referral_app.extensions import db
from referral_app.models import ApiKey, Participant, RewardGrant, User
from referral_app.participants import links
from referral_app.webhooks import deliveries, endpoints

from .support_customer import add_milestone, add_participant, csrf_from, grant

# A script, an attribute break-out in both quote styles and an event handler (55 chars).
PAYLOAD = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>"
# For fields with 50 characters or fewer (the reward tier).
SHORT_PAYLOAD = "\"'><img src=x onerror=alert(1)>"
JS_URL = "javascript:alert(1)"
# A webhook URL the URL check accepts (no spaces, http) that still breaks out of an attribute.
WEBHOOK_PAYLOAD_URL = (
    "http://127.0.0.1:9/hook?x=\"'><img/src=x/onerror=alert(1)><script>alert(1)</script>"
)

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "data", "hx-get"}
DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


class _Scan(HTMLParser):
    """Collects what an injected payload would add to the DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False
        self.scripts: list[str] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"event handler attribute <{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES or name.startswith("hx-"):
                cleaned = re.sub(r"[\s\x00-\x1f]", "", value).lower()
                if cleaned.startswith(DANGEROUS_SCHEMES):
                    self.problems.append(f"script URL <{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES:
                self.urls.append((tag, name, value))
        if tag == "img" and dict(attrs).get("src") == "x":
            self.problems.append("injected <img src=x>")
        if tag == "script":
            src = dict(attrs).get("src") or ""
            self.scripts.append(src)
            if not src:
                self.problems.append("inline <script> block")
            self._in_script = True
        if tag in ("iframe", "object", "embed", "base"):
            self.problems.append(f"<{tag}> element")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self._in_script = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"script content {data.strip()[:60]!r}")


def scan(html: str) -> _Scan:
    scanner = _Scan()
    scanner.feed(html)
    scanner.close()
    return scanner


def assert_no_injection(html: str, where: str) -> None:
    """The page (or mail) holds no script, handler or script URL that a payload made, and
    its only scripts are our own files."""
    scanner = scan(html)
    assert not scanner.problems, f"{where}: {scanner.problems}"
    for src in scanner.scripts:
        assert src.startswith(("/static/", "http://localhost/static/")), f"{where}: {src}"
    assert "<script>alert(1)" not in html, where
    assert "onerror=alert(1)>" not in html.replace("&gt;", "").replace("&#62;", ""), where


def assert_escaped(html: str, marker: str, where: str) -> None:
    """The field was rendered (its marker is there) and its payload only escaped."""
    assert marker in html, f"{where}: {marker} not shown"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;img" in html, where


ALLOWED_FOREIGN_LINKS = ("wa.me", "www.facebook.com", "twitter.com", "x.com", "www.linkedin.com")


def foreign_urls(html: str, own_hosts: tuple[str, ...] = ("localhost",)) -> list[str]:
    """Every http(s) URL in a page that loads or submits to another host. Plain links
    (`<a href>`) to the share services and to the customer's own site are allowed: they
    load nothing until clicked."""
    found = []
    for tag, attribute, value in scan(html).urls:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or parts.hostname in own_hosts:
            continue
        if tag == "a" and attribute == "href":
            continue
        found.append(f"<{tag} {attribute}={value}>")
    for match in re.finditer(r"url\(\s*['\"]?(https?://[^)'\"]+)", html):
        if urlsplit(match.group(1)).hostname not in own_hosts:
            found.append(match.group(0))
    for match in re.finditer(r"@import\s+['\"]?(https?://[^'\";]+)", html):
        found.append(match.group(0))
    return found


# --- two customers with one of every object --------------------------------------------------


@dataclass
class Tenant:
    customer_id: int
    user_id: int
    email: str
    password: str
    ref_code: str
    api_key: str = ""
    ids: dict[str, Any] = field(default_factory=dict)


def make_tenant(app: Flask, email: str, company: str, n: int) -> Tenant:
    """A customer with a participant (hub and unsubscribe tokens), a reward, a webhook
    endpoint with a delivery and an API key: a value for every route argument."""
    with app.app_context():
        customer, user = accounts.create_customer(email, "geheimes-passwort", company)
        customer.referral_enabled = True
        db.session.commit()
        tenant = Tenant(customer.id, user.id, email, "geheimes-passwort", customer.ref_code)
        _key, tenant.api_key = accounts.create_api_key(user, f"key {n}")
    participant = add_participant(app, tenant.customer_id, f"teilnehmer{n}@example.org")
    reward_id = add_milestone(app, tenant.customer_id, 3, "Bronze", "Checkliste")
    grant(app, participant["id"], reward_id)
    with app.app_context():
        row = db.session.get(Participant, participant["id"])
        row.hub_token_hash = _hub_hash(row)
        db.session.commit()
        endpoint, _secret = endpoints.create_endpoint(
            tenant.customer_id, f"http://127.0.0.1:9/hook{n}", ["click"]
        )
        delivery_id = deliveries.send_test(tenant.customer_id, endpoint.id)
        key_id = db.session.scalar(select(ApiKey.id).where(ApiKey.user_id == tenant.user_id))
        grant_id = db.session.scalar(
            select(RewardGrant.id).where(RewardGrant.participant_id == participant["id"])
        )
        tenant.ids = {
            "participant_id": participant["id"],
            "reward_id": reward_id,
            "grant_id": grant_id,
            "endpoint_id": endpoint.id,
            "delivery_id": delivery_id,
            "key_id": key_id,
            "customer_id": tenant.customer_id,
            "code": tenant.ref_code,
            "token": links.hub_token(row),
            "unsubscribe_token": links.unsubscribe_token(row),
            "participant_code": row.ref_code,
        }
    return tenant


def _hub_hash(participant: Participant) -> str:
    from referral_app.core import crypto

    return crypto.token_hash(links.hub_token(participant))


def make_admin(app: Flask) -> dict:
    with app.app_context():
        user = accounts.create_admin("sicherheit-admin@example.com", "admin-passwort")
        _key, raw = accounts.create_api_key(db.session.get(User, user.id), "admin")
        return {
            "id": user.id,
            "email": "sicherheit-admin@example.com",
            "password": "admin-passwort",
            "api_key": raw,
        }


def login(client, email: str, password: str) -> str:
    """Log in through the form; returns the session's CSRF token."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return csrf_from(client.get("/login", follow_redirects=True).get_data(as_text=True))


# --- "nothing changed" -----------------------------------------------------------------------

# Columns a read legitimately touches (bookkeeping, not the customer's data).
VOLATILE_COLUMNS = {"last_used_at", "last_login_at"}
VOLATILE_TABLES = {"rate_counters", "hash_salts", "participant_devices"}


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table (bookkeeping columns left out), to compare before/after."""
    with app.app_context():
        result = {}
        for table in db.metadata.sorted_tables:
            if table.name in VOLATILE_TABLES:
                continue
            columns = [c for c in table.columns if c.name not in VOLATILE_COLUMNS]
            rows = db.session.execute(select(*columns)).all()
            result[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
        db.session.rollback()
        return result


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


# --- routes with ids or tokens ---------------------------------------------------------------

# Which value each route argument takes (a key of `Tenant.ids`). A new argument name makes
# `url_args` fail, so a new kind of id cannot slip past the IDOR test.
ARGUMENT_SOURCES = {
    "participant_id": "participant_id",
    "reward_id": "reward_id",
    "grant_id": "grant_id",
    "endpoint_id": "endpoint_id",
    "delivery_id": "delivery_id",
    "key_id": "key_id",
    "customer_id": "customer_id",
    "code": "code",
    "token": "token",
}

# Routes whose id is a secret link or a public code: reached without a login, protected by
# the token itself (tested in their own tests below), not by the session's customer.
PUBLIC_TOKEN_ROUTES = {
    "public.freebie",
    "public.thankyou",
    "public.imprint",
    "public.logo",
    "public.freebie_image",
    "public.download",
    "public.theme",
    "public.hub",
    "public.hub_delete_confirm",
    "public.hub_delete",
    "public.unsubscribe_page",
    "public.unsubscribe",
    "auth.reset_password",  # the mailed reset link (tests/test_sessions.py)
    "public.reward_file",
    "static",
}

# A body every write route accepts as well-formed, so a refusal is the ownership check and
# not input validation that happens to run first.
WRITE_BODY = {
    "threshold": "7",
    "tier": "Gold",
    "title": "Übernommen",
    "description": "x",
    "delivery": "x",
    "url": "http://127.0.0.1:9/taken",
    "events": "click",
    "enabled": "1",
    "direction": "up",
    "action": "disable",
    "reason": "x",
    "confirm": "x",
    "code": "x",
    "name": "x",
}


def url_args(rule, ids: dict[str, Any]) -> dict[str, Any]:
    args = {}
    for name in path_arguments(rule):
        assert name in ARGUMENT_SOURCES, (
            f"{rule.rule}: new route argument {name!r}; add it to ARGUMENT_SOURCES and cover "
            "the route in tests/test_security.py"
        )
        args[name] = ids[ARGUMENT_SOURCES[name]]
    if rule.endpoint.startswith("public.unsubscribe"):
        args["token"] = ids["unsubscribe_token"]
    return args


def build_path(app: Flask, rule, ids: dict[str, Any]) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **url_args(rule, ids))


def path_arguments(rule) -> set[str]:
    """The values a route takes from its path (not the fixed `defaults` of a rule)."""
    return set(rule.arguments) - set(rule.defaults or {})


def id_rules(app: Flask) -> list:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if path_arguments(rule) and rule.endpoint not in PUBLIC_TOKEN_ROUTES
    ]


def unsafe_methods(rule) -> list[str]:
    return sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"})


def safe_methods(rule) -> list[str]:
    return ["GET"] if "GET" in (rule.methods or set()) else []
