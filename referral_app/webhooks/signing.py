"""Endpoint secrets and signatures, as standardwebhooks.com specifies.

Secrets are `whsec_<base64>`, stored encrypted; during a rotation the old secret signs too
for ROTATION_OVERLAP, so receivers can switch without losing a message.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook

from ..core import crypto
from ..models import WebhookEndpoint, utcnow

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def seal(secret: str) -> str:
    return crypto.encrypt(secret).decode("ascii")


def unseal(sealed: str | None) -> str | None:
    return crypto.decrypt(sealed.encode("ascii")) if sealed else None


def signing_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """The current secret, plus the previous one while its rotation overlap lasts."""
    now = now or utcnow()
    found = [unseal(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        found.append(unseal(endpoint.previous_secret_encrypted))
    return [s for s in found if s]


def signature_headers(
    msg_id: str, body: str, secrets_: list[str], at: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers; one `v1,…` signature per secret."""
    at = at or datetime.now(UTC)
    signature = " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets_)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
