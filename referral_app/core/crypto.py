"""Keyed hashing, encryption at rest and secret tokens.

- Visitor and e-mail hashes are HMAC-SHA256 keyed with HASH_KEY (never stored in the DB), so a
  copy of the database alone cannot reverse them by trying all 2^32 IPv4 addresses.
- E-mail addresses and names are encrypted with Fernet (AES-128-CBC + HMAC) under DATA_KEY.
- Tokens (confirmation, hub, API keys) are random; only their SHA-256 is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


def keyed_hash(*parts: str, key: str | None = None) -> str:
    """HMAC-SHA256 over the parts (joined unambiguously), hex. Key: HASH_KEY."""
    secret = (key or current_app.config["HASH_KEY"]).encode()
    message = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _fernet() -> Fernet:
    raw = current_app.config.get("DATA_KEY") or ""
    if raw:
        try:
            return Fernet(raw.encode())
        except ValueError:
            pass  # not a Fernet key: derive one from whatever string was given
    seed = raw or "data-key:" + current_app.config["SECRET_KEY"]
    digest = hashlib.sha256(seed.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(text: str) -> bytes:
    return _fernet().encrypt(text.encode("utf-8"))


def decrypt(token: bytes | None) -> str | None:
    if token is None:
        return None
    try:
        return _fernet().decrypt(bytes(token)).decode("utf-8")
    except InvalidToken:
        return None


def new_token(nbytes: int = 24) -> str:
    """A URL-safe secret with `nbytes`*8 random bits (default 192, above the 128 minimum)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """How a token is stored and looked up: SHA-256 is enough for high-entropy secrets."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
