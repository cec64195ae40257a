"""Keyed hashing, encryption at rest and secret tokens.

- Visitor and e-mail hashes are HMAC-SHA256 keyed with HASH_KEY (never stored in the DB), so a
  copy of the database alone cannot reverse them by trying all 2^32 IPv4 addresses.
- E-mail addresses and names are encrypted with Fernet (AES-128-CBC + HMAC) under the newest
  of DATA_KEYS; older keys still decrypt, and `flask keys reencrypt` moves rows to the newest.
- Tokens (confirmation, hub, API keys) are random; only their SHA-256 is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def keyed_hash(*parts: str, key: str | None = None) -> str:
    """HMAC-SHA256 over the parts (joined unambiguously), hex. Key: HASH_KEY."""
    secret = (key or current_app.config["HASH_KEY"]).encode()
    message = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _one_fernet(raw: str) -> Fernet:
    try:
        return Fernet(raw.encode())
    except ValueError:  # not a Fernet key: derive one from whatever string was given
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()))


def _data_keys() -> list[str]:
    """DATA_KEYS (newest first), else DATA_KEY, else one derived from SECRET_KEY (a first look
    only; production refuses to start without a DATA_KEY)."""
    config = current_app.config
    keys = list(config.get("DATA_KEYS") or []) or [config.get("DATA_KEY") or ""]
    return [key or "data-key:" + config["SECRET_KEY"] for key in keys]


def _fernet() -> MultiFernet:
    """Encrypts with the newest key, decrypts with any (cached per app and key list)."""
    keys = tuple(_data_keys())
    cache = current_app.extensions.setdefault("fernet", {})
    if keys not in cache:
        cache.clear()
        cache[keys] = MultiFernet([_one_fernet(key) for key in keys])
    return cache[keys]


def encrypt(text: str) -> bytes:
    return _fernet().encrypt(text.encode("utf-8"))


def decrypt(token: bytes | None) -> str | None:
    if token is None:
        return None
    try:
        return _fernet().decrypt(bytes(token)).decode("utf-8")
    except InvalidToken:
        return None


def reencrypt(token: bytes) -> bytes:
    """The same text under the newest key (MultiFernet.rotate); InvalidToken if no key fits."""
    return _fernet().rotate(bytes(token))


def new_token(nbytes: int = 24) -> str:
    """A URL-safe secret with `nbytes`*8 random bits (default 192, above the 128 minimum)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """How a token is stored and looked up: SHA-256 is enough for high-entropy secrets."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
