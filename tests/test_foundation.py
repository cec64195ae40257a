"""The foundation: migrations on both databases, roles, CSRF, CLI, health, i18n, codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from referral_app.core import codes
from referral_app.extensions import db

from .conftest import api_key_for

pytestmark = pytest.mark.both_backends  # migrations with no drift, CLI and health on each engine

ROOT = Path(__file__).resolve().parent.parent


def _routes(blueprint: str) -> list[tuple[str, str]]:
    """Every (method, path) of a blueprint, path arguments filled with 1: new routes are
    covered by the role tests without anyone remembering to add them."""
    from referral_app import create_app
    from referral_app.config import TestConfig

    app = create_app(TestConfig)
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] != blueprint:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


ADMIN_API = _routes("admin_api")
ADMIN_PAGES = _routes("admin")
CUSTOMER_PAGES = _routes("customer")


def test_migrations_reach_head_with_no_drift(app):
    """The real migrations made this database; the models add nothing to them."""
    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert diff == []
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        assert version


def test_login_page_is_german_by_default(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert "Anmelden" in page.get_data(as_text=True)
    assert 'lang="de"' in page.get_data(as_text=True)


def test_login_page_in_english_by_accept_language(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Log in" in page.get_data(as_text=True)
    assert 'lang="en"' in page.get_data(as_text=True)


def test_pages_load_nothing_from_another_host(client):
    page = client.get("/login").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith("/") or url.startswith("#"), url


def test_customer_logs_in_and_sees_the_dashboard(client, auth, customer):
    response = auth.login(customer["email"], customer["password"])
    assert response.status_code == 302
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert customer["ref_code"] in page.get_data(as_text=True)


def test_wrong_password_is_refused_with_a_message(client, auth, customer):
    response = auth.login(customer["email"], "falsch-falsch")
    assert response.status_code == 401
    assert "falsch" in response.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302


def test_logout_ends_the_session(client, auth, customer):
    auth.login(customer["email"], customer["password"])
    auth.logout()
    assert client.get("/dashboard/").status_code == 302


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
def test_customer_gets_403_on_admin_pages(client, auth, customer, method, path):
    auth.login(customer["email"], customer["password"])
    token = auth.csrf_token("/dashboard/")
    response = client.open(path, method=method, headers={"X-CSRFToken": token})
    assert response.status_code == 403


def test_the_contract_admin_api_is_guarded():
    for path in (
        "/api/referral/get-overview",
        "/api/referral/get-fraud-log",
        "/api/referral/get-customer-details",
        "/api/referral/export-stats",
    ):
        assert ("GET", path) in ADMIN_API or not ADMIN_API


@pytest.mark.parametrize(("method", "path"), CUSTOMER_PAGES)
def test_admin_gets_403_on_every_customer_page(client, auth, admin, method, path):
    auth.login(admin["email"], admin["password"])
    token = auth.csrf_token("/admin/")
    response = client.open(path, method=method, headers={"X-CSRFToken": token})
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path"), ADMIN_API)
def test_customer_gets_403_on_every_admin_api(client, auth, customer, method, path):
    auth.login(customer["email"], customer["password"])
    response = client.open(path, method=method)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


@pytest.mark.parametrize(("method", "path"), ADMIN_API)
def test_customer_api_key_gets_403_on_admin_api(app, client, customer, method, path):
    key = api_key_for(app, customer["user_id"])
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path"), ADMIN_API)
def test_anonymous_gets_401_json_on_admin_api(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 401
    assert response.get_json()["ok"] is False


def test_admin_gets_403_on_customer_pages(client, auth, admin):
    auth.login(admin["email"], admin["password"])
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/admin/").status_code == 200


def test_revoked_or_unknown_api_key_gets_401(app, client, customer):
    from referral_app.models import ApiKey

    key = api_key_for(app, customer["user_id"])
    with app.app_context():
        from referral_app.accounts import users as accounts
        from referral_app.models import User

        user = db.session.get(User, customer["user_id"])
        key_id = db.session.scalars(db.select(ApiKey.id)).first()
        accounts.revoke_api_key(user, key_id)
    for bearer in (key, "rk_not-a-real-key"):
        response = client.get(
            "/api/referral/get-stats", headers={"Authorization": f"Bearer {bearer}"}
        )
        assert response.status_code == 401
        assert response.get_json()["error"] == "unauthorized"


def test_api_keys_are_stored_hashed(app, customer):
    from tests.conftest import sql

    key = api_key_for(app, customer["user_id"])
    rows = sql(app, "SELECT prefix, key_hash FROM api_keys")
    assert rows and all(key not in " ".join(map(str, row)) for row in rows)


def test_tokenless_post_is_refused_by_csrf(client, customer):
    response = client.post(
        "/login", data={"email": customer["email"], "password": customer["password"]}
    )
    assert response.status_code == 400
    assert client.get("/dashboard/").status_code == 302


def test_htmx_post_with_the_token_in_a_header_passes_csrf(client, auth, customer):
    auth.login(customer["email"], customer["password"])
    token = auth.csrf_token("/dashboard/")
    response = client.post(
        "/language", data={"lang": "en"}, headers={"X-CSRFToken": token, "HX-Request": "true"}
    )
    assert response.status_code == 302
    response = client.post("/language", data={"lang": "de"}, headers={"HX-Request": "true"})
    assert response.status_code == 400


def test_language_choice_is_kept_on_the_user(client, auth, customer):
    auth.login(customer["email"], customer["password"])
    token = auth.csrf_token("/dashboard/")
    client.post("/language", data={"lang": "en", "csrf_token": token})
    assert "Log out" in client.get("/dashboard/").get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_next_never_redirects_off_site(client, auth, customer, target):
    token = auth.csrf_token()
    response = client.post(
        f"/login?next={target}",
        data={"email": customer["email"], "password": customer["password"], "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] in ("/", "http://localhost/")


def test_login_next_keeps_a_local_path(client, auth, customer):
    token = auth.csrf_token()
    response = client.post(
        "/login?next=/dashboard/",
        data={"email": customer["email"], "password": customer["password"], "csrf_token": token},
    )
    assert response.headers["Location"].endswith("/dashboard/")


def test_session_cookie_is_httponly_and_lax(client, auth, customer):
    response = auth.login(customer["email"], customer["password"])
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_login_attempts_are_rate_limited(make_app, customer):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3/minute")
    client = app.test_client()
    from tests.conftest import AuthActions

    auth = AuthActions(client)
    statuses = [auth.login(customer["email"], "falsch-falsch").status_code for _ in range(5)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[-1] == 429


def test_unknown_api_path_answers_json_404(client):
    response = client.get("/api/referral/does-not-exist")
    assert response.status_code == 404
    assert response.get_json() == {
        "ok": False,
        "error": "not_found",
        "message": response.get_json()["message"],
    }


def test_unknown_page_answers_a_readable_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "text/html" in response.content_type


# --- /healthz -------------------------------------------------------------------------------


def test_healthz_is_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["database"] == "ok"


def test_healthz_is_503_when_the_database_is_gone(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing/dir/db.sqlite3")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unreachable"


def test_healthz_is_503_when_redis_is_configured_but_down(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] == "unreachable"


# --- codes ----------------------------------------------------------------------------------


def test_program_code_has_the_seed_length_and_reveals_no_customer_id():
    made = {codes.program_code() for _ in range(200)}
    assert len(made) == 200
    for code in made:
        assert re.fullmatch(r"REF[2-9A-HJKMNP-Z]{12}", code)
        assert codes.looks_like_program_code(code)


def test_participant_codes_are_short_and_unambiguous():
    for _ in range(200):
        code = codes.participant_code()
        assert len(code) == 8
        assert not set(code) & set("01OILl")


# --- CLI ------------------------------------------------------------------------------------


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_create_customer_prints_json_and_creates_a_login(runner, client, auth):
    result = runner.invoke(
        args=[
            "create-customer",
            "neu@example.com",
            "--password",
            "geheim-123",
            "--company",
            "Neu GmbH",
            "--api-key",
        ]
    )
    assert result.exit_code == 0, result.output
    payload = _last_json(result.output)
    assert payload["ok"] is True
    assert re.fullmatch(r"REF[2-9A-HJKMNP-Z]{12}", payload["ref_code"])
    assert payload["api_key"].startswith("rk_")
    response = client.get(
        "/api/referral/get-stats", headers={"Authorization": f"Bearer {payload['api_key']}"}
    )
    assert response.status_code != 401
    assert auth.login("neu@example.com", "geheim-123").status_code == 302


def test_create_customer_twice_fails_clearly(runner):
    args = [
        "create-customer",
        "doppelt@example.com",
        "--password",
        "geheim-123",
        "--company",
        "Doppelt GmbH",
    ]
    assert runner.invoke(args=args).exit_code == 0
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Traceback" not in result.output
    assert _last_json(result.output)["error"] == "email_taken"


def test_create_customer_with_bad_input_fails_clearly(runner):
    result = runner.invoke(
        args=["create-customer", "kein-at-zeichen", "--password", "geheim-123", "--company", "X"]
    )
    assert result.exit_code == 1
    assert _last_json(result.output)["error"] == "invalid_email"
    result = runner.invoke(
        args=["create-customer", "kurz@example.com", "--password", "kurz", "--company", "X"]
    )
    assert result.exit_code == 1
    assert _last_json(result.output)["error"] == "weak_password"


def test_create_admin_prints_json_and_api_key(runner, client):
    result = runner.invoke(
        args=["create-admin", "root@example.com", "--password", "geheim-123", "--api-key"]
    )
    assert result.exit_code == 0, result.output
    payload = _last_json(result.output)
    assert payload["ok"] is True and payload["user_id"] > 0
    assert payload["api_key"].startswith("rk_")
    again = runner.invoke(args=["create-admin", "root@example.com", "--password", "geheim-123"])
    assert again.exit_code == 1
    assert "Traceback" not in again.output


def test_seed_demo_is_idempotent_and_prints_logins(runner, client, auth):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    summary = _last_json(first.output)
    assert summary["created"] is True and summary["clicks"] > 0
    assert "demo@example.com" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert _last_json(second.output)["created"] is False
    assert _last_json(second.output)["customer_id"] == summary["customer_id"]
    check = runner.invoke(args=["stats", "rebuild", "--check"])
    assert check.exit_code == 0, check.output
    assert auth.login("demo@example.com", "demo-passwort").status_code == 302


def test_stats_rebuild_check_finds_and_fixes_a_difference(app, runner, customer):
    from tests.conftest import sql

    with app.app_context():
        db.session.execute(db.text("UPDATE referral_stats SET clicks = clicks + 5"))
        db.session.commit()
    check = runner.invoke(args=["stats", "rebuild", "--check"])
    assert check.exit_code == 1
    assert _last_json(check.output)["differences"] == 1
    fix = runner.invoke(args=["stats", "rebuild"])
    assert fix.exit_code == 0
    assert runner.invoke(args=["stats", "rebuild", "--check"]).exit_code == 0
    assert sql(app, "SELECT clicks FROM referral_stats")[0][0] == 0


def test_cli_runs_as_an_operator_would(tmp_path):
    """The real `flask --app wsgi` entry point on a fresh SQLite file."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
        "PATH": "/usr/bin:/bin",
        "APP_ENV": "development",
    }
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    result = subprocess.run(
        [
            *flask,
            "create-customer",
            "ops@example.com",
            "--password",
            "geheim-123",
            "--company",
            "Ops GmbH",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert _last_json(result.stdout)["ok"] is True


GOOD_KEY = "k" * 40


def start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """`import wsgi` as a server would, with exactly this environment (no .env: a temp cwd)."""
    full = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env}
    full.setdefault("DATABASE_URL", f"sqlite:///{tmp_path}/p.sqlite3")
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SECRET_KEY": "", "HASH_KEY": ""}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": GOOD_KEY, "HASH_KEY": GOOD_KEY}, "DATA_KEY is not set"),
        (
            {"SECRET_KEY": "dev-secret-key-change-me", "HASH_KEY": GOOD_KEY, "DATA_KEY": GOOD_KEY},
            "SECRET_KEY is a development value",
        ),
        (
            {"SECRET_KEY": "kurz", "HASH_KEY": GOOD_KEY, "DATA_KEY": GOOD_KEY},
            "SECRET_KEY is shorter than 32 characters",
        ),
        (
            {"SECRET_KEY": GOOD_KEY, "HASH_KEY": GOOD_KEY, "DATA_KEYS": f"{GOOD_KEY},old"},
            "DATA_KEY is shorter than 32 characters",
        ),
        (
            {"SECRET_KEY": GOOD_KEY, "HASH_KEYS": f"{GOOD_KEY},old", "DATA_KEY": GOOD_KEY},
            "HASH_KEY is shorter than 32 characters",
        ),
        (
            {
                "SECRET_KEY": GOOD_KEY,
                "HASH_KEYS": f"{GOOD_KEY},dev-hash-key-change-me",
                "DATA_KEY": GOOD_KEY,
            },
            "HASH_KEY is a development value",
        ),
    ],
)
def test_production_refuses_to_start_without_its_own_keys(tmp_path, env, says):
    result = start(tmp_path, APP_ENV="production", **env)
    assert result.returncode != 0
    assert says in result.stderr and "Refusing to start" in result.stderr


def test_production_starts_with_its_own_keys(tmp_path):
    keys = {"SECRET_KEY": GOOD_KEY, "HASH_KEY": "h" * 40, "DATA_KEY": "d" * 40}
    result = start(tmp_path, APP_ENV="production", **keys)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["prod", "Production", "staging", "dev"])
def test_an_unknown_app_env_refuses_to_start(tmp_path, name):
    result = start(tmp_path, APP_ENV=name, SECRET_KEY=GOOD_KEY, HASH_KEY=GOOD_KEY)
    assert result.returncode != 0
    assert f"APP_ENV={name!r} is not known" in result.stderr


def test_development_with_the_public_keys_warns_loudly(tmp_path):
    result = start(tmp_path)  # no APP_ENV: development, the defaults of `make run`
    assert result.returncode == 0, result.stderr
    assert "DEVELOPMENT MODE with the public development keys" in result.stderr


def test_a_session_signed_with_the_dev_key_opens_nothing_in_production(tmp_path):
    """The attack: APP_ENV=prod ran with the dev key, so a forged cookie opened /admin/."""
    from flask.sessions import SecureCookieSessionInterface

    from referral_app import create_app as make

    forged_app = make({"SECRET_KEY": "dev-secret-key-change-me", "ENV_NAME": "testing"})
    serializer = SecureCookieSessionInterface().get_signing_serializer(forged_app)
    cookie = serializer.dumps({"_user_id": "1", "_fresh": True})
    keys = {"SECRET_KEY": GOOD_KEY, "HASH_KEY": "h" * 40, "DATA_KEY": "d" * 40}
    code = (
        "import wsgi; c = wsgi.app.test_client(); "
        f"c.set_cookie('session', {cookie!r}); print(c.get('/admin/').status_code)"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "APP_ENV": "production", **keys}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/p.sqlite3"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] in {"302", "401", "403"}


# --- i18n -----------------------------------------------------------------------------------


def test_both_catalogs_are_complete():
    """Every marked string has a German and an English translation (tools/i18n.py)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    method_map = [
        ("referral_app/**.py", "python"),
        ("jobs/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
    ]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
    wanted = set()
    for _f, _l, message, _c, _ctx in extract_from_dir(str(ROOT), method_map, keywords=keywords):
        wanted.add(message if isinstance(message, str) else message[0])
    for lang in ("de", "en"):
        path = ROOT / "referral_app" / "translations" / lang / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle)
        done = {
            m.id if isinstance(m.id, str) else m.id[0]
            for m in catalog
            if m.id
            and m.string
            and not m.fuzzy
            and (all(m.string) if isinstance(m.string, tuple) else True)
        }
        missing = sorted(wanted - done)
        assert not missing, f"{lang}: untranslated {missing[:10]} (run make messages)"
