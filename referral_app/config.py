"""Configuration from the environment (and `.env`), one class per situation.

Every key of the outside contract (API.md "Configuration") is read here and only here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"

load_dotenv(ROOT / ".env")


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _keys(plural: str, singular: str) -> list[str]:
    """A key list for rotation, newest first (`DATA_KEYS=new,old`); the one-key form too."""
    raw = os.environ.get(plural) or os.environ.get(singular) or ""
    return [key.strip() for key in raw.split(",") if key.strip()]


def _delays(name: str, default: str) -> list[int]:
    raw = os.environ.get(name) or default
    return [int(part) for part in raw.split(",") if part.strip()]


# The development defaults are public (they are in this file): production refuses them.
DEV_SECRET_KEY = "dev-secret-key-change-me"  # noqa: S105
DEV_HASH_KEY = "dev-hash-key-change-me"
MIN_KEY_LENGTH = 32


class Config:
    """Production defaults: everything secret must come from the environment."""

    ENV_NAME = "production"
    TESTING = False
    DEBUG = False

    SECRET_KEY = os.environ.get("SECRET_KEY")
    # Rotation: the first hash key makes new hashes and link tokens, every key is still
    # accepted; the first data key encrypts, every key still decrypts (docs/deployment.md).
    DATA_KEYS = _keys("DATA_KEYS", "DATA_KEY")
    DATA_KEY = DATA_KEYS[0] if DATA_KEYS else None
    HASH_KEYS = _keys("HASH_KEYS", "HASH_KEY")
    HASH_KEY = HASH_KEYS[0] if HASH_KEYS else None

    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or (
        f"sqlite:///{INSTANCE_DIR / 'referral.sqlite3'}"
    )
    # pool_reset_on_return=None: db_setup rolls a returned connection back only when its
    # transaction may still be open (not after every COMMIT: a round trip per request saved).
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_pre_ping": True,
        "pool_recycle": 280,
        "pool_reset_on_return": None,
    }
    # A read replica for the dashboards' reads (core/readonly.py); unset: all on the primary.
    DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL") or None
    SQLALCHEMY_BINDS = {"replica": DATABASE_REPLICA_URL} if DATABASE_REPLICA_URL else {}
    # After a user's own write, their reads stay on the primary this long (replica lag).
    DATABASE_REPLICA_STICKY_SECONDS = _int("DATABASE_REPLICA_STICKY_SECONDS", 5)
    # A replica that did not answer is not tried again by this process for this long.
    DATABASE_REPLICA_RETRY_SECONDS = _int("DATABASE_REPLICA_RETRY_SECONDS", 30)
    REDIS_URL = os.environ.get("REDIS_URL") or None

    PUBLIC_BASE_URL = (os.environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "noreply@localhost")
    # Whom a customer writes to when an admin suspended their program (shown on the dashboard).
    SUPPORT_EMAIL = os.environ.get("SUPPORT_EMAIL", "").strip()
    MAIL_SUPPRESS_SEND = _bool("MAIL_SUPPRESS_SEND")

    WEBHOOK_ALLOW_PRIVATE = _bool("WEBHOOK_ALLOW_PRIVATE")
    # 6 attempts over about a day: 1 min, 5 min, 30 min, 2 h, 8 h, 14 h
    WEBHOOK_RETRY_DELAYS = _delays("WEBHOOK_RETRY_DELAYS", "60,300,1800,7200,28800,50400")
    # Seconds one attempt may take in all (connect, send, answer; at most 10): short, so a
    # slow receiver holds a worker briefly. Receivers answer first and work afterwards.
    WEBHOOK_TIMEOUT = _int("WEBHOOK_TIMEOUT", 5)

    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Redis down: limits fall back to per-process memory and errors never reach a client.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_timeout": 1, "socket_connect_timeout": 1}
    RATELIMIT_PUBLIC_API = "10/second;100/minute;1000/hour"
    RATELIMIT_LOGIN = "10/minute;50/hour"
    # An IPv6 client is keyed (rate limits, visitor hashes, per-IP rules) on its network of
    # this many bits: one subscriber usually holds a whole /64 (core/netaddr.py).
    IPV6_PREFIX_LENGTH = _int("IPV6_PREFIX_LENGTH", 64)
    # Per IP: the forgotten-password form and the reset link's form.
    RATELIMIT_PASSWORD_RESET = os.environ.get("RATELIMIT_PASSWORD_RESET") or "5/minute;20/hour"
    # Per account (a keyed hash of the address): reset mails, and the wrong-password lock
    # (after LOGIN_FAILURES_ALLOWED in LOGIN_FAILURE_WINDOW s: waits from 30 s doubling up
    # to LOGIN_LOCK_MAX_SECONDS). docs/deployment.md "Sessions and passwords".
    PASSWORD_RESET_PER_ACCOUNT = os.environ.get("PASSWORD_RESET_PER_ACCOUNT") or "3/hour"
    LOGIN_FAILURES_ALLOWED = _int("LOGIN_FAILURES_ALLOWED", 5)
    LOGIN_FAILURE_WINDOW = _int("LOGIN_FAILURE_WINDOW", 900)
    LOGIN_LOCK_MAX_SECONDS = _int("LOGIN_LOCK_MAX_SECONDS", 900)
    PASSWORD_RESET_TOKEN_MINUTES = _int("PASSWORD_RESET_TOKEN_MINUTES", 60)
    # Per customer (every key and login of one customer share it) on the customer API, and
    # per admin on the admin API: one integration in a loop cannot crowd out the others.
    RATELIMIT_CUSTOMER_API = os.environ.get("RATELIMIT_CUSTOMER_API") or (
        "20/second;600/minute;20000/hour"
    )
    RATELIMIT_ADMIN_API = os.environ.get("RATELIMIT_ADMIN_API") or "20/second;1200/minute"
    # Per customer, dashboard and API together: test events and replays each reach the
    # customer's receiver at once, however slow it is.
    RATELIMIT_WEBHOOK_TESTS = os.environ.get("RATELIMIT_WEBHOOK_TESTS") or "5/minute;30/hour"
    RATELIMIT_WEBHOOK_REPLAYS = os.environ.get("RATELIMIT_WEBHOOK_REPLAYS") or "30/minute"

    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES = ("de", "en")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = PUBLIC_BASE_URL.startswith("https://")
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # "Stay logged in": a rotating random token (accounts/sessions.py), valid this many days
    # after its last use.
    REMEMBER_COOKIE_DAYS = _int("REMEMBER_COOKIE_DAYS", 30)
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_HEADERS = ["X-CSRFToken", "X-CSRF-Token"]
    MAX_CONTENT_LENGTH = 64 * 1024

    # Anti-fraud thresholds (DESIGN.md "Anti-fraud"): the seed's numbers, except where the
    # labelled traffic simulator showed them flag real people (docs/fraud.md "Findings").
    FRAUD_CLICK_WINDOW_HOURS = _int("FRAUD_CLICK_WINDOW_HOURS", 24)
    FRAUD_IP_DAILY_CLICKS = _int("FRAUD_IP_DAILY_CLICKS", 10)
    # 5, not the seed's 1: colleagues behind one office NAT convert too (docs/fraud.md).
    FRAUD_CONVERSIONS_PER_IP = _int("FRAUD_CONVERSIONS_PER_IP", 5)
    FRAUD_FAST_CONVERSION_SECONDS = _int("FRAUD_FAST_CONVERSION_SECONDS", 5)
    FRAUD_PARTICIPANT_HOURLY_CONVERSIONS = _int("FRAUD_PARTICIPANT_HOURLY_CONVERSIONS", 20)
    # Active codes are kept this many seconds per process (the hot path then needs no query).
    TRACKING_CODE_CACHE_SECONDS = _int("TRACKING_CODE_CACHE_SECONDS", 5)

    SALT_ROTATION_HOURS = _int("SALT_ROTATION_HOURS", 24)
    RAW_EVENT_RETENTION_DAYS = _int("RAW_EVENT_RETENTION_DAYS", 180)
    UNCONFIRMED_RETENTION_DAYS = _int("UNCONFIRMED_RETENTION_DAYS", 7)
    CONFIRMATION_TOKEN_HOURS = _int("CONFIRMATION_TOKEN_HOURS", 48)
    MAIL_RETRY_DELAYS = _delays("MAIL_RETRY_DELAYS", "30,120,600,3600,14400")
    MAIL_TIMEOUT = _int("MAIL_TIMEOUT", 30)
    MAIL_LEASE_SECONDS = _int("MAIL_LEASE_SECONDS", 300)
    SIGNUP_MAIL_INTERVAL_MINUTES = _int("SIGNUP_MAIL_INTERVAL_MINUTES", 10)
    # Mail bombing (participants/throttle.py): sign-ups per mailbox (no +tag, Gmail without
    # dots) that may cause a mail within 24 h, across all programs; sign-up mails a program
    # sends per hour (more wait in the outbox, SIGNUP_MAIL_DEFER_MINUTES at a time).
    SIGNUP_MAILS_PER_MAILBOX_DAY = _int("SIGNUP_MAILS_PER_MAILBOX_DAY", 3)
    SIGNUP_MAILS_PER_PROGRAM_HOUR = _int("SIGNUP_MAILS_PER_PROGRAM_HOUR", 200)
    SIGNUP_MAIL_DEFER_MINUTES = _int("SIGNUP_MAIL_DEFER_MINUTES", 10)
    SCHEDULE_TICK_SECONDS = _int("SCHEDULE_TICK_SECONDS", 10)
    # The RQ worker runs jobs in its own process (fast: connections, compiled SQL and
    # templates are reused); true: a forked work horse per job, warmed up (docs/jobs.md).
    WORKER_FORK = _bool("WORKER_FORK")
    RATELIMIT_TOKEN_ROUTES = os.environ.get("RATELIMIT_TOKEN_ROUTES") or "30/minute"

    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None

    # werkzeug's generate_password_hash method, read at each hashing; None: werkzeug's
    # default (scrypt, ~0.1 s a hash by design). Only the test config makes it cheap.
    PASSWORD_HASH_METHOD: str | None = None

    # Jobs run in-process unless REDIS_URL is set (DESIGN.md "Jobs").
    JOBS_INLINE = REDIS_URL is None
    RQ_QUEUE = os.environ.get("RQ_QUEUE", "referral")


class DevelopmentConfig(Config):
    """`make run`: works with no environment at all, loudly not for production."""

    ENV_NAME = "development"
    DEBUG = False
    SECRET_KEY = Config.SECRET_KEY or DEV_SECRET_KEY
    HASH_KEY = Config.HASH_KEY or DEV_HASH_KEY
    MAIL_SUPPRESS_SEND = _bool("MAIL_SUPPRESS_SEND", True)


class TestConfig(Config):
    """The test suite: its own database and Redis from TEST_DATABASE_URL / TEST_REDIS_URL."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 - tests only
    HASH_KEY = "test-hash-key"
    HASH_KEYS: list[str] = []
    DATA_KEY = None
    DATA_KEYS: list[str] = []
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    DATABASE_REPLICA_URL = None
    SQLALCHEMY_BINDS: dict[str, str] = {}
    REDIS_URL = None
    JOBS_INLINE = True
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    PUBLIC_BASE_URL = "http://localhost"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    MAIL_SUPPRESS_SEND = True
    MAIL_SERVER = "127.0.0.1"
    WTF_CSRF_ENABLED = True
    SERVER_NAME = None
    # Test logins only: a cheap hash (scrypt costs ~0.1 s per create/login/failed login,
    # minutes over the suite). Never outside tests.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105 - a method name


CONFIGS = {
    "production": Config,
    "development": DevelopmentConfig,
    "testing": TestConfig,
}


def config_from_env() -> type[Config]:
    """`APP_ENV` picks the class; no value means development, so a newcomer needs nothing.
    Any other value refuses to start (`prod` must not quietly run with development keys)."""
    name = os.environ.get("APP_ENV") or "development"
    if name not in CONFIGS:
        raise RuntimeError(
            f"APP_ENV={name!r} is not known: use production, development or testing. "
            "Refusing to start."
        )
    return CONFIGS[name]


def check_secrets(config: Mapping[str, Any]) -> list[str]:
    """Refuse (RuntimeError) what must never run; return warnings for what may, loudly.

    Production needs SECRET_KEY, HASH_KEY and DATA_KEY(S), none of them a development
    value or shorter than MIN_KEY_LENGTH characters. Development with the public development
    keys gets a warning on every start."""
    env = config.get("ENV_NAME")
    secret = config.get("SECRET_KEY") or ""
    hash_keys = list(config.get("HASH_KEYS") or []) or [config.get("HASH_KEY") or ""]
    data_keys = list(config.get("DATA_KEYS") or []) or [config.get("DATA_KEY") or ""]
    if env != "production":
        if not secret or not hash_keys[0]:
            raise RuntimeError("SECRET_KEY and HASH_KEY must be set; refusing to start.")
        if secret == DEV_SECRET_KEY:
            return [
                "DEVELOPMENT MODE with the public development keys: anyone can sign a session "
                "for this instance. Never expose it; on a server set APP_ENV=production and "
                "real SECRET_KEY, HASH_KEY and DATA_KEY (see .env.example)."
            ]
        return []
    problems = []
    named = (("SECRET_KEY", [secret]), ("HASH_KEY", hash_keys), ("DATA_KEY", data_keys))
    for name, values in named:
        for value in values:
            if not value:
                problems.append(f"{name} is not set")
            elif value in (DEV_SECRET_KEY, DEV_HASH_KEY) or "change-me" in value:
                problems.append(f"{name} is a development value")
            elif len(value) < MIN_KEY_LENGTH:
                problems.append(f"{name} is shorter than {MIN_KEY_LENGTH} characters")
    if problems:
        raise RuntimeError(
            "Production needs its own SECRET_KEY, HASH_KEY and DATA_KEY of at least "
            f"{MIN_KEY_LENGTH} characters each: " + "; ".join(problems) + ". Refusing to start."
        )
    return []
