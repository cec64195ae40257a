"""The security suite (issue 8): stored and reflected XSS in pages, fragments and real
e-mails; IDOR and CSRF on every route the URL map has (a new route fails these tests until
it is covered); open redirects; brute force on the login and the secret links; security
headers; no inline scripts and no third-party resources.

Runs on both backends. Requests go through the real app (test client), mails through the
real SMTP server of tests/support_mail.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import select

from referral_app.config import ROOT
from referral_app.core import crypto
from referral_app.extensions import db
from referral_app.models import Customer, FraudLogEntry, Participant, RewardGrant, RewardMilestone

from .conftest import TEST_REDIS_URL
from .support_mail import html_of, smtp_server, text_of  # noqa: F401
from .support_participants import (  # noqa: F401
    confirm_by_form,
    mail_app,
    setup_program,
    signup,
    token_from,
)
from .support_security import (
    ARGUMENT_SOURCES,
    JS_URL,
    PAYLOAD,
    PUBLIC_TOKEN_ROUTES,
    SHORT_PAYLOAD,
    WEBHOOK_PAYLOAD_URL,
    WRITE_BODY,
    assert_escaped,
    assert_no_injection,
    build_path,
    changed_tables,
    foreign_urls,
    id_rules,
    login,
    make_admin,
    make_tenant,
    path_arguments,
    safe_methods,
    scan,
    snapshot,
    unsafe_methods,
    url_args,
)

# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def sec_app(make_app):
    return make_app(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_RETRY_DELAYS=[3600])


@pytest.fixture
def tenants(sec_app):
    """Customer A (the victim) and B (the attacker), each with one of every object."""
    return make_tenant(sec_app, "a@example.com", "Firma A", 1), make_tenant(
        sec_app, "b@example.com", "Firma B", 2
    )


@pytest.fixture
def sec_admin(sec_app):
    return make_admin(sec_app)


def _role(endpoint: str) -> str:
    blueprint = endpoint.split(".")[0]
    return {
        "customer": "customer",
        "customer_api": "customer",
        "admin": "admin",
        "admin_api": "admin",
    }.get(blueprint, "public")


def _request(client, method: str, path: str, headers=None, json_body: bool = False):
    headers = dict(headers or {})
    if method == "GET":
        return client.get(path, headers=headers)
    if json_body:
        body = dict(WRITE_BODY, enabled=True, events=["click"], threshold=7)
        return client.open(path, method=method, json=body, headers=headers)
    return client.open(path, method=method, data=WRITE_BODY, headers=headers)


# --- 2. IDOR ---------------------------------------------------------------------------------


def test_every_route_with_an_id_or_token_is_covered(sec_app):
    """A new route with an id, code or token in its path must join the tests below: it
    needs a known argument (ARGUMENT_SOURCES) and a role the IDOR test knows."""
    for rule in sec_app.url_map.iter_rules():
        if not path_arguments(rule) or rule.endpoint == "static":
            continue
        url_args(rule, {name: 1 for name in ("unsubscribe_token", *ARGUMENT_SOURCES.values())})
        if rule.endpoint not in PUBLIC_TOKEN_ROUTES:
            assert _role(rule.endpoint) in ("customer", "admin"), (
                f"{rule.rule} ({rule.endpoint}) takes an id but is neither a customer nor an "
                "admin route: decide who owns it and cover it in tests/test_security.py"
            )


def test_customer_b_reaches_none_of_customer_a_objects(sec_app, tenants, sec_admin):
    """Every customer route with an id, by session (with a valid CSRF token, so only the
    ownership check can refuse) and by API key: 404 and nothing changed. Admin routes with
    an id: 403 for a customer."""
    a, b = tenants
    client = sec_app.test_client()
    token = login(client, b.email, b.password)
    bearer = sec_app.test_client()
    rules = id_rules(sec_app)
    assert len(rules) >= 25  # the URL map really was read

    # The ids are real: A reaches every GET route with them.
    owner = sec_app.test_client()
    login(owner, a.email, a.password)
    operator = sec_app.test_client()
    login(operator, sec_admin["email"], sec_admin["password"])
    for rule in rules:
        if safe_methods(rule):
            path = build_path(sec_app, rule, a.ids)
            rightful = owner if _role(rule.endpoint) == "customer" else operator
            assert rightful.get(path).status_code == 200, path

    before = snapshot(sec_app)
    for rule in rules:
        path = build_path(sec_app, rule, a.ids)
        role = _role(rule.endpoint)
        expected = {404} if role == "customer" else {403}
        api = rule.endpoint.split(".")[0].endswith("_api")
        for method in safe_methods(rule) + unsafe_methods(rule):
            session_answer = _request(client, method, path, {"X-CSRFToken": token}, json_body=api)
            assert session_answer.status_code in expected, (
                method,
                path,
                session_answer.status_code,
            )
            key_answer = _request(
                bearer, method, path, {"Authorization": f"Bearer {b.api_key}"}, json_body=api
            )
            allowed = expected if (api or method == "GET") else expected | {400}
            assert key_answer.status_code in allowed, (method, path, key_answer.status_code)
            if api:
                assert key_answer.get_json()["ok"] is False
            assert changed_tables(before, snapshot(sec_app)) == [], (method, path)


def test_ids_in_the_body_are_checked_too(sec_app, tenants):
    """`rewards/reorder` takes reward ids in its body: A's ids are refused for B."""
    a, b = tenants
    before = snapshot(sec_app)
    answer = sec_app.test_client().post(
        "/api/referral/rewards/reorder",
        json={"ids": [a.ids["reward_id"], b.ids["reward_id"]]},
        headers={"Authorization": f"Bearer {b.api_key}"},
    )
    assert answer.status_code == 400
    answer = sec_app.test_client().post(
        "/api/referral/rewards/reorder",
        json={"ids": [a.ids["reward_id"]]},
        headers={"Authorization": f"Bearer {b.api_key}"},
    )
    assert answer.status_code == 400
    assert changed_tables(before, snapshot(sec_app)) == []


def test_lists_and_exports_hold_only_the_own_customers_rows(sec_app, tenants):
    a, b = tenants
    client = sec_app.test_client()
    headers = {"Authorization": f"Bearer {b.api_key}"}
    for path, id_name in [
        ("/api/referral/participants", "participant_id"),
        ("/api/referral/rewards", "reward_id"),
        ("/api/referral/webhooks", "endpoint_id"),
    ]:
        ids = {item["id"] for item in client.get(path, headers=headers).get_json()["items"]}
        assert ids == {b.ids[id_name]}, (path, ids)
    deliveries = client.get(
        f"/api/referral/webhooks/{b.ids['endpoint_id']}/deliveries", headers=headers
    ).get_json()["items"]
    assert {d["id"] for d in deliveries} == {b.ids["delivery_id"]}
    stats = client.get("/api/referral/get-stats", headers=headers).get_json()
    assert stats["customer_id"] == b.customer_id
    login(client, b.email, b.password)
    csv = client.get("/dashboard/participants.csv").get_data(as_text=True)
    assert a.ids["participant_code"] not in csv and b.ids["participant_code"] in csv
    keys = client.get("/dashboard/api-keys").get_data(as_text=True)
    assert "key 1" not in keys and "key 2" in keys


def test_customers_get_403_on_every_admin_route(sec_app, tenants):
    _a, b = tenants
    client = sec_app.test_client()
    token = login(client, b.email, b.password)
    bearer = {"Authorization": f"Bearer {b.api_key}"}
    before = snapshot(sec_app)
    checked = 0
    for rule in sec_app.url_map.iter_rules():
        if _role(rule.endpoint) != "admin":
            continue
        path = build_path(sec_app, rule, b.ids)
        for method in safe_methods(rule) + unsafe_methods(rule):
            assert _request(client, method, path, {"X-CSRFToken": token}).status_code == 403
            answer = _request(sec_app.test_client(), method, path, bearer, json_body=True)
            assert answer.status_code in ({403} if "_api" in rule.endpoint else {400, 403})
            checked += 1
    assert checked >= 15
    assert changed_tables(before, snapshot(sec_app)) == []


def test_secret_links_of_one_participant_do_not_open_another(sec_app, tenants):
    """The unsubscribe link is bound to its participant id; hub tokens are only hashes."""
    a, b = tenants
    client = sec_app.test_client()
    before = snapshot(sec_app)
    mixed = f"/unsubscribe/{a.ids['participant_id']}/{b.ids['unsubscribe_token']}"
    assert client.get(mixed).status_code == 404
    assert client.post(mixed, data={"action": "delete"}).status_code == 404
    assert client.get(f"/hub/{a.ids['token'][:-1]}x").status_code == 404
    assert client.get(f"/hub/{a.ids['participant_code']}").status_code == 404
    assert changed_tables(before, snapshot(sec_app)) == []


def test_static_files_do_not_leave_the_static_folder(client):
    for path in (
        "/static/../referral_app/config.py",
        "/static/%2e%2e/referral_app/config.py",
        "/static/..%2freferral_app%2fconfig.py",
        "/static/%2e%2e%2f.env",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "SECRET_KEY" not in response.get_data(as_text=True)


# --- 3. CSRF ---------------------------------------------------------------------------------

# Writes without a CSRF token by design: the public tracking and sign-up API (CORS-open,
# called from customers' own sites, no cookies), RFC 8058 one-click unsubscribe (the
# signed link is the key), and "delete my data" on the hub: visitor pages set no session
# cookie (§ 25 TDDDG) to keep a token in, the secret hub link is the key, and posts from
# other sites are refused by Fetch Metadata / Origin instead (tests/test_public_cookies.py).
CSRF_EXEMPT = {
    "public_api.track_click",
    "public_api.track_conversion",
    "public_api.register_lead",
    "public_api.confirm_lead",
    "public_api.resend_confirmation",
    "public.unsubscribe",
    "public.hub_delete",
}


def _is_csrf_refusal(response) -> bool:
    if response.status_code != 400:
        return False
    return response.is_json and response.get_json()["error"] == "csrf_failed"


def test_every_state_changing_route_needs_a_csrf_token(sec_app, tenants, sec_admin):
    """Every POST/PUT/PATCH/DELETE in the URL map, from a logged-in browser session but
    without the token (or with another session's token): 400 csrf_failed, nothing changed."""
    a, _b = tenants
    clients = {"customer": sec_app.test_client(), "admin": sec_app.test_client()}
    login(clients["customer"], a.email, a.password)
    login(clients["admin"], sec_admin["email"], sec_admin["password"])
    clients["public"] = sec_app.test_client()
    foreign = sec_app.test_client()
    foreign_token = login(foreign, "b@example.com", "geheimes-passwort")

    before = snapshot(sec_app)
    checked = []
    for rule in sec_app.url_map.iter_rules():
        methods = unsafe_methods(rule)
        if not methods or rule.endpoint in CSRF_EXEMPT:
            continue
        client = clients[_role(rule.endpoint)]
        path = build_path(sec_app, rule, a.ids)
        for method in methods:
            for headers in ({}, {"X-CSRFToken": foreign_token}, {"X-CSRFToken": "forged"}):
                # JSON errors (negotiated by Accept) name the reason: csrf_failed.
                headers = {**headers, "Accept": "application/json"}
                answer = _request(client, method, path, headers, json_body="_api" in rule.endpoint)
                assert _is_csrf_refusal(answer), (method, path, headers, answer.status_code)
            checked.append(rule.endpoint)
        assert changed_tables(before, snapshot(sec_app)) == [], rule.endpoint
    assert len(set(checked)) >= 35
    assert {"auth.login", "auth.logout", "auth.set_language"} <= set(checked)


def test_api_key_writes_need_no_csrf_token_and_get_no_cors(sec_app, tenants):
    """Bearer keys are not sent by browsers on their own, so they need no CSRF token; the
    customer API answers without CORS headers, so no other site can read it."""
    _a, b = tenants
    client = sec_app.test_client()
    headers = {"Authorization": f"Bearer {b.api_key}", "Origin": "https://evil.example"}
    for rule in sec_app.url_map.iter_rules():
        if not rule.endpoint.startswith("customer_api."):
            continue
        path = build_path(sec_app, rule, b.ids)
        for method in safe_methods(rule) + unsafe_methods(rule):
            answer = _request(client, method, path, headers, json_body=True)
            assert not _is_csrf_refusal(answer), (method, path)
            assert answer.status_code < 500, (method, path)
            assert "Access-Control-Allow-Origin" not in answer.headers, path
    answer = client.post("/api/referral/toggle", json={"enabled": False}, headers=headers)
    assert answer.get_json() == {"ok": True, "enabled": False}


def test_a_session_with_a_bad_bearer_header_is_refused(sec_app, tenants):
    """A cookie session cannot skip CSRF by adding some `Authorization: Bearer` header."""
    a, _b = tenants
    client = sec_app.test_client()
    login(client, a.email, a.password)
    answer = client.post(
        "/api/referral/toggle", json={"enabled": False}, headers={"Authorization": "Bearer x"}
    )
    assert answer.status_code == 401
    with sec_app.app_context():
        assert db.session.get(Customer, a.customer_id).referral_enabled is True


def test_session_cookies_are_httponly_and_samesite(sec_app, tenants):
    a, _b = tenants
    client = sec_app.test_client()
    token = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', token).group(1)
    answer = client.post(
        "/login",
        data={"email": a.email, "password": a.password, "csrf_token": token, "remember": "1"},
    )
    cookies = answer.headers.getlist("Set-Cookie")
    assert cookies
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


# --- 4. open redirect ------------------------------------------------------------------------

EVIL_TARGETS = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "https:/evil.example",
    "//evil.example@localhost",
    "/.//evil.example",
    "data:text/html,<script>alert(1)</script>",
]


def _stays_on_site(location: str) -> bool:
    cleaned = re.sub(r"[\t\n\r]", "", location)
    parts = urlsplit(cleaned)
    if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", "localhost"):
        return False
    return not cleaned.startswith(("//", "/\\", "\\")) and "\\" not in cleaned.split("?")[0]


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_login_next_never_leaves_the_site(sec_app, tenants, target):
    a, _b = tenants
    client = sec_app.test_client()
    page = client.get("/login?next=" + quote(target, safe=""))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    answer = client.post(
        "/login?next=" + quote(target, safe=""),
        data={"email": a.email, "password": a.password, "csrf_token": token},
    )
    assert answer.status_code == 302
    assert _stays_on_site(answer.headers["Location"]), answer.headers["Location"]
    assert_no_injection(page.get_data(as_text=True), f"login page next={target!r}")


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_safe_next_itself_refuses_what_a_browser_would_read_as_another_host(target):
    """Not only the Location header Werkzeug makes: `safe_next` alone lets through only
    a path on this site (tabs and line breaks, which browsers drop, included)."""
    from referral_app.web.auth import safe_next

    kept = safe_next(target)
    assert kept is None or _stays_on_site(kept), kept
    if re.search(r"[\t\n\\]|^\s|//|:", target):
        assert kept is None or kept.startswith("/."), target


def test_other_next_parameters_never_leave_the_site(sec_app, tenants, sec_admin):
    a, _b = tenants
    client = sec_app.test_client()
    token = login(client, a.email, a.password)
    admin = sec_app.test_client()
    admin_token = login(admin, sec_admin["email"], sec_admin["password"])
    for target in EVIL_TARGETS:
        answer = client.post("/language", data={"lang": "en", "next": target, "csrf_token": token})
        assert _stays_on_site(answer.headers["Location"]), (target, answer.headers["Location"])
        answer = admin.post("/admin/fraud/review", data={"next": target, "csrf_token": admin_token})
        assert _stays_on_site(answer.headers["Location"]), (target, answer.headers["Location"])
    good = client.post(
        "/language", data={"lang": "de", "next": "/dashboard/rewards", "csrf_token": token}
    )
    assert good.headers["Location"] == "/dashboard/rewards"


def test_an_anonymous_visit_keeps_only_the_local_path_as_next(sec_app):
    answer = sec_app.test_client().get("/dashboard/rewards?x=1")
    location = answer.headers["Location"]
    assert urlsplit(location).path == "/login"
    assert (
        "next=%2Fdashboard%2Frewards%3Fx%3D1" in location or "next=/dashboard/rewards" in location
    )


# --- 5. brute force --------------------------------------------------------------------------


@pytest.fixture
def limited_app(make_app, backend_name):
    """Rate limits on, small: 3 tries a minute on the login and on secret-link routes.
    On MariaDB the limits live in the test Redis, as in production."""
    overrides = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_LOGIN": "3/minute",
        "RATELIMIT_TOKEN_ROUTES": "3/minute",
        "RATELIMIT_PUBLIC_API": "1000/second",
    }
    if backend_name == "mariadb" and TEST_REDIS_URL:
        overrides["RATELIMIT_STORAGE_URI"] = TEST_REDIS_URL
    return make_app(**overrides)


def test_login_is_limited_after_the_configured_number_of_wrong_passwords(limited_app, customer):
    client = limited_app.test_client()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)
    ).group(1)

    def attempt(password: str):
        return client.post(
            "/login", data={"email": customer["email"], "password": password, "csrf_token": token}
        )

    assert [attempt(f"falsch-{n}").status_code for n in range(3)] == [401, 401, 401]
    blocked = attempt(customer["password"])  # even the right one, until the window passes
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
    assert client.get("/dashboard/").status_code == 302  # not logged in
    assert client.get("/login").status_code == 200  # the form itself is not limited
    other = limited_app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', other.get("/login").get_data(as_text=True)
    ).group(1)
    answer = other.post(
        "/login",
        data={"email": customer["email"], "password": customer["password"], "csrf_token": token},
    )
    assert answer.status_code == 302  # another client is not locked out


SECRET_ROUTES = [
    ("GET", "/api/referral/confirm-lead?token={t}", 400),
    ("POST", "/api/referral/confirm-lead", 400),
    ("POST", "/api/referral/resend-confirmation", 400),
    ("GET", "/hub/{t}", 404),
    ("GET", "/hub/{t}/delete", 404),
    ("GET", "/unsubscribe/1/{t}", 404),
    ("POST", "/unsubscribe/1/{t}", 404),
    ("GET", "/password/reset/{t}", 400),  # POST needs a CSRF token: tests/test_sessions.py
    ("GET", "/reward-file/1/{t}", 404),
]


def test_every_secret_link_route_is_in_the_brute_force_tests(sec_app):
    """A new route with a token in its path must join SECRET_ROUTES (and be limited)."""
    covered = {path.split("?")[0].replace("{t}", "<token>") for _m, path, _s in SECRET_ROUTES}
    covered = {path.replace("/1/", "/<int:participant_id>/") for path in covered}
    covered.add("/hub/<token>/delete")  # POST: test_hub_delete_guesses_are_limited
    covered.add("/reward-file/<int:grant_id>/<token>")  # /reward-file/1/{t} above
    for rule in sec_app.url_map.iter_rules():
        if "token" in path_arguments(rule):
            assert rule.rule in covered, f"{rule.rule}: add it to SECRET_ROUTES"


@pytest.mark.parametrize(("method", "path", "status"), SECRET_ROUTES)
def test_guessing_secret_links_is_limited(limited_app, customer, method, path, status):
    client = limited_app.test_client()
    answers = []
    for n in range(4):
        guess = f"geraten{n}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        url = path.format(t=guess)
        if method == "GET":
            answers.append(client.get(url).status_code)
        else:
            answers.append(client.post(url, json={"token": guess}).status_code)
    assert answers == [status, status, status, 429]


def test_hub_delete_guesses_are_limited(limited_app, customer):
    client = limited_app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    answers = [
        client.post(
            f"/hub/geraten{n}AAAAAAAAAAAAAAAAAAAAAAAAAAA/delete", data={"csrf_token": token}
        )
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]


# --- 6. headers, inline scripts, third parties -----------------------------------------------


def _assert_security_headers(response, where: str) -> None:
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in (
        "strict-origin-when-cross-origin",
        "no-referrer",
        "same-origin",
    ), where
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (where, csp)
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (where, csp)
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip()
    )
    script_src = directives.get("script-src", directives.get("default-src", ""))
    assert "*" not in script_src and "http" not in script_src and "data:" not in script_src, where


def _pages(app, a, admin) -> list[tuple[object, str, dict]]:
    """(client, path, headers) for every kind of answer: pages, fragments, JSON, errors."""
    customer_client, admin_client, anonymous = (app.test_client() for _ in range(3))
    login(customer_client, a.email, a.password)
    login(admin_client, admin["email"], admin["password"])
    fragment = {"HX-Request": "true"}
    customer_pages = [
        "/dashboard/",
        "/dashboard/stats",
        "/dashboard/not-counted",
        "/dashboard/company",
        "/dashboard/participants",
        f"/dashboard/participants/{a.ids['participant_id']}/delete",
        "/dashboard/rewards",
        "/dashboard/embed",
        "/dashboard/api-keys",
        "/dashboard/webhooks",
        f"/dashboard/webhooks/{a.ids['endpoint_id']}",
        f"/dashboard/webhooks/{a.ids['endpoint_id']}/delete",
    ]
    admin_pages = [
        "/admin/",
        "/admin/customers",
        f"/admin/customers/{a.customer_id}",
        "/admin/fraud",
        "/admin/audit",
        "/admin/backtest",
        "/admin/export",
    ]
    public_pages = [
        f"/p/{a.ref_code}?ref={a.ref_code}",
        f"/p/{a.ref_code}/danke",
        f"/hub/{a.ids['token']}",
        f"/hub/{a.ids['token']}/delete",
        f"/unsubscribe/{a.ids['participant_id']}/{a.ids['unsubscribe_token']}",
        "/api/referral/confirm-lead?token=abc",
        "/login",
        "/api/docs",
    ]
    pages = []
    for path in customer_pages:
        pages += [(customer_client, path, {}), (customer_client, path, fragment)]
    for path in admin_pages:
        pages += [(admin_client, path, {}), (admin_client, path, fragment)]
    pages += [(anonymous, path, {}) for path in public_pages]
    return pages


def test_security_headers_on_pages_fragments_json_and_errors(sec_app, tenants, sec_admin):
    a, _b = tenants
    anonymous = sec_app.test_client()
    customer_client = sec_app.test_client()
    login(customer_client, a.email, a.password)
    answers = [
        (path, client.get(path, headers=headers))
        for client, path, headers in _pages(sec_app, a, sec_admin)
    ]
    answers += [
        (
            "get-stats",
            anonymous.get(
                "/api/referral/get-stats", headers={"Authorization": f"Bearer {a.api_key}"}
            ),
        ),
        ("openapi", anonymous.get("/api/openapi.json")),
        ("healthz", anonymous.get("/healthz")),
        ("404 page", anonymous.get("/nowhere")),
        ("404 json", anonymous.get("/api/referral/nowhere")),
        ("401 json", anonymous.get("/api/referral/get-stats")),
        ("403 page", customer_client.get("/admin/")),
        ("400 csrf", customer_client.post("/dashboard/program/toggle")),
        ("405", anonymous.delete("/login")),
        ("register-lead", anonymous.post("/api/referral/register-lead", json={})),
        ("csv", customer_client.get("/dashboard/participants.csv")),
        ("qr svg", customer_client.get("/dashboard/embed/qr.svg")),
        ("static js", anonymous.get("/static/js/app.js")),
    ]
    for where, response in answers:
        response.get_data()  # a streamed answer (the CSV) ends its request context here
        assert response.status_code < 500, where
        _assert_security_headers(response, where)
    # The tracking hot path keeps the two cheap headers.
    pixel = anonymous.get(f"/api/referral/track?ref={a.ref_code}")
    assert pixel.headers["X-Content-Type-Options"] == "nosniff"


def test_a_server_error_page_has_the_headers_and_no_details(sec_app):
    @sec_app.get("/_security_boom")
    def boom():
        raise RuntimeError("secret internals")

    response = sec_app.test_client().get("/_security_boom")
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    _assert_security_headers(response, "500")


TEMPLATES = ROOT / "templates"


def _page_templates() -> list[Path]:
    return [p for p in TEMPLATES.rglob("*.html") if "emails" not in p.parts]


def test_no_template_has_inline_script_handlers_or_foreign_urls():
    """The CSP forbids inline script; the templates must not need it. Mail templates may
    style inline (mail clients ignore style sheets) but load nothing either."""
    for template in TEMPLATES.rglob("*.html"):
        source = template.read_text()
        where = str(template.relative_to(ROOT))
        for match in re.finditer(r"<script\b[^>]*>", source):
            assert "src=" in match.group(0), f"{where}: inline {match.group(0)}"
        for body in re.findall(r"<script\b[^>]*>(.*?)</script>", source, re.S):
            assert not body.strip(), f"{where}: inline script {body.strip()[:60]!r}"
        assert not re.search(r"\son[a-z]+\s*=", source, re.I), f"{where}: event handler"
        assert not re.search(r"\shx-on", source), f"{where}: hx-on"
        assert "javascript:" not in source.lower(), where
        foreign = re.findall(r"""(?:src|href|action)=["']https?://[^"']+""", source)
        assert foreign == [], f"{where}: {foreign}"
    for template in _page_templates():
        source = template.read_text()
        assert not re.search(r"\sstyle=", source), f"{template}: inline style (CSP)"
    for asset in (ROOT / "static").rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?https?:|@import", asset.read_text()), asset


def test_rendered_pages_have_no_inline_script_and_load_nothing_foreign(sec_app, tenants, sec_admin):
    a, _b = tenants
    with sec_app.app_context():
        website = "https://mueller-soehne.example"
        db.session.get(Customer, a.customer_id).website = website
        db.session.commit()
    for client, path, headers in _pages(sec_app, a, sec_admin):
        response = client.get(path, headers=headers)
        assert response.status_code == (400 if "confirm-lead" in path else 200), path
        html = response.get_data(as_text=True)
        assert_no_injection(html, path)
        assert foreign_urls(html) == [], path


def test_schemathesis_checks_that_no_input_makes_a_5xx():
    """Part 7 lives in tests/test_openapi.py; this only proves it keeps the 5xx check."""
    source = (Path(__file__).parent / "test_openapi.py").read_text()
    assert "not_a_server_error" in source
    assert re.search(r"CHECKS\s*=\s*\[[^\]]*not_a_server_error", source, re.S)


# --- 1. XSS ----------------------------------------------------------------------------------


def _marked(name: str, payload: str = PAYLOAD) -> str:
    return f"XSS{name}{payload}"


@pytest.fixture
def xss_world(make_app, smtp_server, customer):  # noqa: F811
    """Customer A's every typed field holds a payload, stored through the real forms and
    API where they accept it (and straight into the table where validation refuses it,
    to prove the templates escape even then)."""
    app = make_app(
        **smtp_server.config,
        WEBHOOK_ALLOW_PRIVATE=True,
        WEBHOOK_RETRY_DELAYS=[3600],
        SIGNUP_MAIL_INTERVAL_MINUTES=0,
    )
    setup_program(app, customer["id"], milestones=False)
    client = app.test_client()
    token = login(client, customer["email"], customer["password"])
    headers = {"X-CSRFToken": token}

    for url in (JS_URL, "JAVASCRIPT://%0aalert(1)", "data:text/html,x", "vbscript:x"):
        answer = client.post(
            "/api/referral/update-company",
            json={
                "company_name": "x",
                "contact_email": "a@b.example",
                "imprint": "x",
                "website": url,
            },
            headers=headers,
        )
        # Refused, or made into a harmless https:// address ("javascript" as a host name).
        assert answer.status_code == 400 or answer.get_json()["company"]["website"].startswith(
            "https://"
        ), (url, answer.get_json())
    website = "https://shop.example/\"'><img/src=x/onerror=alert(1)>"
    saved = client.post(
        "/api/referral/update-company",
        json={
            "company_name": _marked("company"),
            "contact_email": "kontakt@mueller-soehne.example",
            "imprint": _marked("imprint") + "\nZeile 2 " + PAYLOAD,
            "website": website,
            "sender_name": "XSSsender & 'onmouseover=alert(1)",
        },
        headers=headers,
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)

    for n, (tier, title, description, delivery) in enumerate(
        [
            (_marked("t", SHORT_PAYLOAD), _marked("title"), _marked("descr"), JS_URL),
            ("Silber", "Zwei", "", _marked("delivery")),
            ("Gold", "Drei", "", 'https://x.example/"><script>alert(1)</script>'),
        ]
    ):
        answer = client.post(
            "/dashboard/rewards",
            data={
                "threshold": str(n + 1),
                "tier": tier,
                "title": title,
                "description": description,
                "delivery": delivery,
                "csrf_token": token,
            },
        )
        assert answer.status_code == 303, answer.get_data(as_text=True)[:500]

    answer = client.post("/dashboard/api-keys", data={"name": _marked("key"), "csrf_token": token})
    assert answer.status_code == 201
    answer = client.post(
        "/dashboard/webhooks",
        data={"url": WEBHOOK_PAYLOAD_URL, "events": "click", "csrf_token": token},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]

    # A visitor signs up with a payload as page (and as name, which the sign-up refuses,
    # so it goes straight into the table); confirms; gets a reward.
    visitor = app.test_client()
    refused = signup(visitor, customer["ref_code"], "opfer@example.org", name=_marked("name"))
    assert refused.status_code == 400 and "name" in refused.get_json()["fields"]
    assert (
        signup(
            visitor,
            customer["ref_code"],
            "opfer@example.org",
            page='https://shop.example/?q="><script>alert(1)</script>',
        ).status_code
        == 202
    )
    with app.app_context():
        db.session.scalar(select(Participant)).name_encrypted = crypto.encrypt(_marked("name"))
        db.session.commit()
    [confirmation] = smtp_server.to("opfer@example.org")
    confirmed = confirm_by_form(visitor, token_from(confirmation))
    assert confirmed.status_code == 303
    assert signup(visitor, customer["ref_code"], "opfer@example.org").status_code == 202

    from referral_app.participants import mail as mail_service
    from referral_app.webhooks import deliveries, endpoints

    with app.app_context():
        participant = db.session.scalar(select(Participant))
        first = db.session.scalar(select(RewardMilestone).order_by(RewardMilestone.threshold))
        second = db.session.scalar(select(RewardMilestone).where(RewardMilestone.tier == "Silber"))
        ids = []
        for milestone in (first, second):
            grant = RewardGrant(participant_id=participant.id, reward_id=milestone.id)
            db.session.add(grant)
            db.session.flush()
            ids.append(mail_service.queue(customer["id"], participant.id, "reward", grant.id))
        db.session.add(
            FraudLogEntry(
                customer_id=customer["id"],
                ref_code=participant.ref_code,
                type="disposable_email",
                event="lead",
                details={"domain": _marked("fraud"), "page": JS_URL},
            )
        )
        db.session.commit()
        for mail_id in ids:
            mail_service.dispatch(mail_id)
        endpoint_id = endpoints.list_endpoints(customer["id"])[0].id
        assert deliveries.notify_disabled(endpoint_id)
        participant_id, hub = participant.id, confirmed.headers["Location"]
        from referral_app.participants import links

        unsubscribe = links.unsubscribe_url(participant).removeprefix("http://localhost")
    return {
        "app": app,
        "client": client,
        "token": token,
        "participant_id": participant_id,
        "endpoint_id": endpoint_id,
        "hub": hub,
        "unsubscribe": unsubscribe,
        "website": website,
    }


def _check_page(client, path: str, markers: list[str], **kwargs) -> str:
    method = kwargs.pop("method", "GET")
    page = ""
    for headers in ({"HX-Request": "true"}, {}):
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code in (200, 201, 302, 400, 404, 422), (path, response.status_code)
        if response.status_code == 302:
            assert urlsplit(response.headers["Location"]).netloc in ("", "localhost"), path
        page = response.get_data(as_text=True)
        assert_no_injection(page, f"{path} {headers}")
    for marker in markers:
        assert_escaped(page, marker, path)
    return page


def test_stored_payloads_are_escaped_on_every_customer_page(xss_world, customer):
    client, world = xss_world["client"], xss_world
    company = "XSScompany"
    pages = {
        "/dashboard/": [company],
        "/dashboard/company": [company, "XSSimprint"],
        "/dashboard/participants": ["XSSname"],
        f"/dashboard/participants/{world['participant_id']}/delete": [],
        "/dashboard/rewards": ["XSSt", "XSStitle", "XSSdescr", "XSSdelivery"],
        "/dashboard/embed": [],
        "/dashboard/api-keys": ["XSSkey"],
        "/dashboard/webhooks": [],
        f"/dashboard/webhooks/{world['endpoint_id']}": [],
        f"/dashboard/webhooks/{world['endpoint_id']}/delete": [],
        "/dashboard/stats": [],
        "/dashboard/not-counted": [],
    }
    for path, markers in pages.items():
        html = _check_page(client, path, markers)
        if "webhooks/" in path:
            assert "&lt;script&gt;" in html or "%3Cscript%3E" in html, path
    embed = client.get("/dashboard/embed").get_data(as_text=True)
    assert "onerror=alert(1)&gt;" in embed or "%3E" in embed
    # The live mail preview renders whatever is typed, unsaved and unvalidated.
    _check_page(
        client,
        "/dashboard/company/preview",
        ["XSSpreview"],
        method="POST",
        data={
            "company_name": _marked("preview"),
            "imprint": PAYLOAD,
            "sender_name": PAYLOAD,
            "website": JS_URL,
            "contact_email": '"><script>alert(1)</script>@x.example',
            "csrf_token": xss_world["token"],
        },
    )
    # An invalid form comes back with the typed values in its inputs.
    _check_page(
        client,
        "/dashboard/company",
        [],
        method="POST",
        data={
            "company_name": PAYLOAD,
            "contact_email": PAYLOAD,
            "sender_name": PAYLOAD,
            "website": PAYLOAD,
            "imprint": PAYLOAD,
            "privacy_url": PAYLOAD,
            "time_zone": PAYLOAD,
            "accent_color": PAYLOAD,
            "csrf_token": xss_world["token"],
        },
    )
    _check_page(
        client,
        "/dashboard/freebie",
        [],
        method="POST",
        data={
            "title": PAYLOAD,
            "description": PAYLOAD,
            "url": JS_URL,
            "csrf_token": xss_world["token"],
        },
    )
    _check_page(
        client,
        "/dashboard/rewards",
        [],
        method="POST",
        data={
            "threshold": "x",
            "tier": PAYLOAD,
            "title": PAYLOAD,
            "csrf_token": xss_world["token"],
        },
    )
    _check_page(
        client,
        "/dashboard/webhooks",
        [],
        method="POST",
        data={"url": JS_URL, "events": PAYLOAD, "csrf_token": xss_world["token"]},
    )


def test_an_address_with_markup_is_refused_or_shown_escaped(xss_world, customer):
    """E-mail addresses are typed by visitors too: a quoted local part may hold markup."""
    visitor = xss_world["app"].test_client()
    for address in (
        '"<script>alert(1)</script>"@example.org',
        "a'><img/src=x/onerror=alert(1)>@x.org",
    ):
        answer = signup(visitor, customer["ref_code"], address)
        assert answer.status_code in (202, 400), answer.get_data(as_text=True)
    _check_page(xss_world["client"], "/dashboard/participants", [])
    with xss_world["app"].app_context():
        ids = db.session.scalars(select(Participant.id)).all()
    for participant_id in ids:
        _check_page(xss_world["client"], f"/dashboard/participants/{participant_id}/delete", [])


def test_reflected_parameters_are_escaped(xss_world, customer, admin):
    client = xss_world["client"]
    q = quote(PAYLOAD, safe="")
    for path in (
        f"/dashboard/participants?q={q}&status={q}",
        f"/dashboard/participants?cursor={q}",
        f"/dashboard/webhooks/{xss_world['endpoint_id']}?cursor={q}",
        f"/login?next={q}",
        f"/nowhere/{q}",
        f"/api/referral/confirm-lead?token={q}",
        f"/unsubscribe/1/{q}",
        f"/hub/{q}",
        f"/p/{q}",
        f"/p/{customer['ref_code']}/danke?ref={q}&click_id={q}",
    ):
        _check_page(client, path, [])
    admin_client = xss_world["app"].test_client()
    login(admin_client, admin["email"], admin["password"])
    for path in (
        f"/admin/customers?q={q}&sort={q}&status={q}",
        f"/admin/fraud?type={q}&customer_id={q}&since={q}",
        f"/admin/backtest?rule={q}&threshold={q}",
        f"/admin/audit?action={q}&target_type={q}",
    ):
        _check_page(admin_client, path, [])
    # The JSON errors echo nothing as HTML.
    answer = admin_client.get(f"/api/referral/get-fraud-log?type={q}")
    assert answer.mimetype == "application/json"


def test_stored_payloads_are_escaped_on_public_pages(xss_world, customer):
    visitor = xss_world["app"].test_client()
    code = customer["ref_code"]
    _check_page(visitor, f"/p/{code}?ref={code}", ["XSScompany"])
    _check_page(visitor, f"/p/{code}/danke", ["XSScompany"])
    _check_page(visitor, f"/p/{code}/impressum", ["XSScompany", "XSSimprint"])
    hub = _check_page(visitor, xss_world["hub"], ["XSScompany", "XSSt", "XSStitle", "XSSdescr"])
    assert "XSSdelivery" in hub
    for url, label in re.findall(r'<a class="button" href="([^"]+)"[^>]*>([^<]+)</a>', hub):
        assert url.startswith(("https://", "mailto:", "/")), (label, url)
    _check_page(visitor, xss_world["hub"] + "/delete", [])
    _check_page(visitor, xss_world["unsubscribe"], [])
    program = visitor.get(f"/api/referral/program?ref={code}")
    assert program.mimetype == "application/json"


def test_stored_payloads_are_escaped_on_admin_pages(xss_world, customer, admin):
    app = xss_world["app"]
    client = app.test_client()
    token = login(client, admin["email"], admin["password"])
    answer = client.post(
        f"/admin/customers/{customer['id']}/program",
        data={"action": "suspend", "reason": _marked("reason"), "csrf_token": token},
    )
    assert answer.status_code == 302
    answer = client.post(
        f"/admin/customers/{customer['id']}/erase-participant",
        data={"code": PAYLOAD, "csrf_token": token},
    )
    assert answer.status_code == 302
    _check_page(client, "/admin/", ["XSScompany"])
    _check_page(client, "/admin/customers", ["XSScompany"])
    _check_page(client, f"/admin/customers/{customer['id']}", ["XSScompany", "XSSreason"])
    _check_page(client, "/admin/fraud", ["XSScompany", "XSSfraud"])
    _check_page(client, "/admin/audit", ["XSSreason"])
    _check_page(client, "/admin/export", [])
    flash = client.get("/admin/customers").get_data(as_text=True)
    assert_no_injection(flash, "flash after erase")


def test_mails_escape_html_keep_text_plain_and_resist_header_injection(
    xss_world, smtp_server, customer
):
    messages = smtp_server.to("opfer@example.org")
    kinds = [str(m["Subject"]) for m in messages]
    assert len(messages) == 5, kinds  # confirmation, welcome, already-in, two rewards
    for message in messages:
        html, text = html_of(message), text_of(message)
        where = str(message["Subject"])
        assert_no_injection(html, where)
        assert foreign_urls(html) == [], where
        assert_escaped(html, "XSScompany", where)
        assert "XSSimprint" in html
        # The plain part shows what was typed, not HTML entities.
        assert _marked("company") in text, where
        assert "&lt;" not in text and "&amp;" not in text and "&#39;" not in text, where
        for name in ("Subject", "From", "To", "Reply-To"):
            assert "\n" not in str(message[name]) and "\r" not in str(message[name])
        assert message["Bcc"] is None
    # A stored name that is no name is not greeted with (nor its payload shown at all).
    for message in messages:
        assert "XSSname" not in html_of(message) and "XSSname" not in text_of(message)
    rewards = [m for m in messages if "XSStitle" in html_of(m) or "XSSdelivery" in html_of(m)]
    assert len(rewards) == 2
    for message in rewards:
        assert JS_URL not in re.findall(r'href="([^"]+)"', html_of(message))
    [notice] = smtp_server.to("kontakt@mueller-soehne.example")
    assert "<script" not in str(notice["Subject"])
    assert notice.get_content_type() == "text/plain"


def test_line_breaks_in_customer_text_cannot_add_mail_headers(mail_app, smtp_server, customer):
    with mail_app.app_context():
        row = db.session.get(Customer, customer["id"])
        row.company_name = "Firma\r\nBcc: evil@example.com\r\nX-Evil: 1"
        row.sender_name = "Absender\nBcc: evil@example.com"
        db.session.commit()
    assert (
        signup(mail_app.test_client(), customer["ref_code"], "kopf@example.org").status_code == 202
    )
    [message] = smtp_server.to("kopf@example.org")
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "evil@example.com" not in json.dumps(smtp_server.envelopes)
    assert "\n" not in str(message["Subject"]) and "\n" not in str(message["From"])
    # The sign-up form refuses such a sender name in the first place.
    client = mail_app.test_client()
    token = login(client, customer["email"], customer["password"])
    refused = client.post(
        "/api/referral/update-company",
        json={
            "company_name": "Firma",
            "contact_email": "a@b.example",
            "imprint": "x",
            "sender_name": "Absender\r\nBcc: evil@example.com",
        },
        headers={"X-CSRFToken": token},
    )
    assert refused.status_code == 400 and "sender_name" in refused.get_json()["fields"]


def test_json_answers_are_json_and_never_sniffable_html(xss_world, customer):
    """Customer text comes back in JSON as data: the content type says JSON, nosniff holds,
    and `<` is escaped so the body cannot be read as HTML."""
    client = xss_world["client"]
    for path in ("/api/referral/rewards", "/api/referral/participants", "/api/referral/webhooks"):
        response = client.get(path)
        assert response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_forged_forwarded_for_header_does_not_reset_the_login_limit(limited_app, customer):
    """Without trusted proxies (TRUSTED_PROXY_COUNT=0) X-Forwarded-For is ignored, so a
    guesser cannot get a fresh bucket per request by inventing addresses."""
    client = limited_app.test_client()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)
    ).group(1)
    answers = [
        client.post(
            "/login",
            data={"email": customer["email"], "password": f"x{n}", "csrf_token": token},
            headers={"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"203.0.113.{n}"},
        ).status_code
        for n in range(4)
    ]
    assert answers == [401, 401, 401, 429]


def test_metrics_are_not_public(sec_app):
    client = sec_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403


def test_the_anonymous_admin_login_page_escapes_the_path(sec_app):
    q = quote(PAYLOAD, safe="")
    answer = sec_app.test_client().get(f"/admin/customers?q={q}")
    assert answer.status_code == 401
    assert_no_injection(answer.get_data(as_text=True), "admin 401 login page")


def test_static_scripts_never_build_html_from_strings():
    for script in (ROOT / "static").rglob("*.js"):
        if "vendor" in script.parts:
            continue
        source = re.sub(r"(?m)(^|\s)//.*$", "", script.read_text())
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{script.name}: {sink}"
        assert "new Function" not in source, script.name


def test_csv_exports_defuse_formulas(sec_app, tenants, sec_admin):
    """Customer and visitor text in CSV files cannot run as a spreadsheet formula."""
    import csv
    import io

    a, _b = tenants
    formula = '=HYPERLINK("https://evil.example","x")'
    with sec_app.app_context():
        db.session.get(Customer, a.customer_id).company_name = formula
        participant = db.session.get(Participant, a.ids["participant_id"])
        from referral_app.core import crypto

        participant.name_encrypted = crypto.encrypt("@SUM(1+1)*cmd|' /C calc'!A0")
        db.session.commit()
    customer_client = sec_app.test_client()
    login(customer_client, a.email, a.password)
    admin_client = sec_app.test_client()
    token = login(admin_client, sec_admin["email"], sec_admin["password"])
    files = [
        customer_client.get("/dashboard/participants.csv").get_data(as_text=True),
        admin_client.post("/admin/export/stats.csv", data={"csrf_token": token}).get_data(
            as_text=True
        ),
    ]
    cells = [cell for text in files for row in csv.reader(io.StringIO(text)) for cell in row]
    assert any("HYPERLINK" in cell for cell in cells) and any("SUM(1+1)" in cell for cell in cells)
    for cell in cells:
        assert not cell.lstrip("\ufeff").startswith(("=", "@", "+")), cell


@pytest.mark.parametrize(
    "html",
    [
        f"<p>{PAYLOAD}</p>",
        f'<input value="{SHORT_PAYLOAD}">',
        f"<input value='{SHORT_PAYLOAD}'>",
        f'<a href="{JS_URL}">x</a>',
        f'<a href=" {JS_URL.upper()}">x</a>',
        '<div hx-on:click="alert(1)"></div>',
        "<script>var a = 1;</script>",
        '<script src="https://cdn.example/x.js"></script>',
    ],
)
def test_the_injection_check_finds_a_raw_payload(html):
    """The checker itself: each of these would be a hole, and each is caught."""
    with pytest.raises(AssertionError):
        assert_no_injection(html, "sample")


def test_the_injection_check_accepts_escaped_payloads():
    from markupsafe import escape

    assert_no_injection(f'<p>{escape(PAYLOAD)}</p><input value="{escape(PAYLOAD)}">', "ok")
    assert scan(f"<textarea>{escape(PAYLOAD)}</textarea>").problems == []


def test_https_deployments_send_hsts_and_plain_http_ones_do_not(make_app):
    """Strict-Transport-Security only where the public address is https (a header a
    browser would keep for a year must not appear on a laptop's http://127.0.0.1)."""
    secure = make_app(PUBLIC_BASE_URL="https://empfehlen.example")
    for path in ("/login", "/healthz", "/api/openapi.json"):
        answer = secure.test_client().get(path, base_url="https://empfehlen.example")
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000", path
    plain = make_app(PUBLIC_BASE_URL="http://127.0.0.1:5000")
    assert "Strict-Transport-Security" not in plain.test_client().get("/login").headers
