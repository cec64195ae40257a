"""Keyed hashing, encryption at rest and secret tokens.

- Visitor and e-mail hashes are HMAC-SHA256 keyed with HASH_KEY (never stored in the DB), so a
  copy of the database alone cannot reverse them by trying all 2^32 IPv4 addresses. What is
  stored per program is keyed per program (`customer_key`: HMAC(HASH_KEY, "customer:"+id)),
  so two programs' rows of the same address or visitor cannot be joined.
- HASH_KEYS rotates the hash key (newest first): new hashes and tokens use the newest, look-ups
  try every key, and `flask keys rehash` moves stored hashes to the newest.
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


def hash_keys() -> list[str]:
    """HASH_KEYS (newest first), else the one-key form HASH_KEY."""
    config = current_app.config
    return list(config.get("HASH_KEYS") or []) or [config["HASH_KEY"]]


def keyed_hash(*parts: str, key: str | None = None) -> str:
    """HMAC-SHA256 over the parts (joined unambiguously), hex. Key: the newest HASH_KEYS."""
    secret = (key or hash_keys()[0]).encode()
    message = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def customer_key(customer_id: int, key: str | None = None) -> str:
    """One program's own hash key, derived from the hash key: its stored hashes of an address
    or visitor differ from every other program's, so no join links them."""
    return keyed_hash("customer:" + str(int(customer_id)), key=key)


def customer_hash(customer_id: int, *parts: str, key: str | None = None) -> str:
    """`keyed_hash` under the program's key (derived from `key`, default the newest)."""
    return keyed_hash(*parts, key=customer_key(customer_id, key))


def customer_hashes(customer_id: int, *parts: str) -> list[str]:
    """Every value a stored hash of these parts may have: under each of HASH_KEYS, per
    program and (rows from before per-program keys, until `flask keys rehash`) global."""
    keys = hash_keys()
    return [customer_hash(customer_id, *parts, key=k) for k in keys] + [
        keyed_hash(*parts, key=k) for k in keys
    ]


def key_id(key: str) -> str:
    """A short name of one hash key that reveals nothing of it (to tell which key made what)."""
    return keyed_hash("key-id", key=key)[:16]


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
