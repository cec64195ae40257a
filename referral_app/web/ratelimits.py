"""Rate limits keyed per account: the customer API per customer, the admin API per admin,
webhook test events and replays per customer (dashboard and API share one bucket each).

A customer's keys and logins share the customer's bucket, so a second key buys no second
allowance, and one customer running into a limit never slows another (issue 14). A request
without a valid login or key falls back to the client's IP (hashed, as every other limit),
so guessing keys is limited too. The public tracking API keeps its per-IP limit
(`public/api.py`), the login and the secret links theirs.
"""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from ..extensions import client_key, limiter


def account_key() -> str:
    """The bucket: the customer for a customer's login or key, the admin for an admin's,
    else the client (a keyed hash of the IP)."""
    if not current_user.is_authenticated:
        return client_key()
    if current_user.is_admin:
        return f"admin:{current_user.id}"
    if current_user.customer_id is not None:
        return f"customer:{current_user.customer_id}"
    return f"user:{current_user.id}"


def _config(key: str):
    return lambda: str(current_app.config[key])


customer_api = limiter.shared_limit(
    _config("RATELIMIT_CUSTOMER_API"), scope="customer_api", key_func=account_key
)
admin_api = limiter.shared_limit(
    _config("RATELIMIT_ADMIN_API"), scope="admin_api", key_func=account_key
)
# On top of the customer API's own limit (override_defaults=False keeps that one too).
webhook_tests = limiter.shared_limit(
    _config("RATELIMIT_WEBHOOK_TESTS"),
    scope="webhook_tests",
    key_func=account_key,
    override_defaults=False,
)
webhook_replays = limiter.shared_limit(
    _config("RATELIMIT_WEBHOOK_REPLAYS"),
    scope="webhook_replays",
    key_func=account_key,
    override_defaults=False,
)
