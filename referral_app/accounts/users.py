"""Customers, logins and API keys."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..core import codes, crypto
from ..core.errors import Conflict, DomainError, ValidationFailed
from ..extensions import db
from ..models import ROLE_ADMIN, ROLE_CUSTOMER, ApiKey, Customer, CustomerStats, User, utcnow

API_KEY_PREFIX = "rk_"
MIN_PASSWORD_LENGTH = 8
MAX_KEY_NAME = 100
# Compared against when the e-mail is unknown, so a login takes as long either way.
_DUMMY_HASHES: dict[str, str] = {}


def _hash(password: str) -> str:
    """werkzeug's hash by the app's PASSWORD_HASH_METHOD (None: werkzeug's default, scrypt;
    the test configuration picks a cheap one)."""
    method = current_app.config.get("PASSWORD_HASH_METHOD")
    return generate_password_hash(password, method) if method else generate_password_hash(password)


def _dummy_hash() -> str:
    """The hash an unknown address is checked against: same method, same cost."""
    method = current_app.config.get("PASSWORD_HASH_METHOD") or ""
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = _hash("timing-equaliser")
    return _DUMMY_HASHES[method]


def normalise_login_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(str(exc), code="invalid_email", fields={"email": str(exc)}) from exc


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.",
            code="weak_password",
            fields={"password": "too short"},
        )


def _new_user(email: str, password: str, role: str, customer: Customer | None = None) -> User:
    email = normalise_login_email(email)
    _check_password(password)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"A user with the e-mail {email} already exists.", code="email_taken")
    return User(
        email=email,
        password_hash=_hash(password),
        role=role,
        customer=customer,
    )


def create_customer(email: str, password: str, company: str) -> tuple[Customer, User]:
    """A customer with its login, its program code and zeroed totals. Commits."""
    company = (company or "").strip()
    if not company or len(company) > 200:
        raise ValidationFailed(
            "The company name is required (at most 200 characters).",
            fields={"company_name": "required"},
        )
    customer = Customer(company_name=company, contact_email=None, ref_code=codes.program_code())
    user = _new_user(email, password, ROLE_CUSTOMER, customer)
    customer.contact_email = user.email
    db.session.add_all([customer, user])
    try:
        db.session.flush()
        db.session.add(CustomerStats(customer_id=customer.id))
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            f"A user with the e-mail {user.email} already exists.", code="email_taken"
        ) from exc
    return customer, user


def create_admin(email: str, password: str) -> User:
    user = _new_user(email, password, ROLE_ADMIN)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            f"A user with the e-mail {user.email} already exists.", code="email_taken"
        ) from exc
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work for unknown e-mails)."""
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    return user


def set_password(user: User, password: str) -> None:
    _check_password(password)
    user.password_hash = _hash(password)


def create_api_key(user: User, name: str | None = None) -> tuple[ApiKey, str]:
    """A new key for `user`. Returns the row and the raw key, which is shown only once."""
    name = (name or "").strip()
    if len(name) > MAX_KEY_NAME:
        message = _l("The name is too long (at most %(n)d characters).", n=MAX_KEY_NAME)
        raise ValidationFailed(str(message), code="name_too_long", fields={"name": str(message)})
    raw = API_KEY_PREFIX + crypto.new_token(32)
    key = ApiKey(
        user=user,
        name=name or None,
        prefix=raw[:10],
        key_hash=crypto.token_hash(raw),
    )
    db.session.add(key)
    db.session.commit()
    return key, raw


def user_for_api_key(raw: str) -> User | None:
    """The active user owning an unrevoked key, or None."""
    if not raw or not raw.startswith(API_KEY_PREFIX) or len(raw) > 200:
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == crypto.token_hash(raw)))
    if key is None or key.revoked_at is not None or not key.user.active:
        return None
    now = utcnow()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        key.last_used_at = now  # at most once a minute: no write on every API call
        db.session.commit()
    return key.user


def revoke_api_key(user: User, key_id: int) -> None:
    key = db.session.get(ApiKey, key_id)
    if key is None or key.user_id != user.id:
        raise DomainError("No such API key.", code="not_found", status=404)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()


def list_api_keys(user: User) -> list[ApiKey]:
    """The user's keys, newest first, revoked ones included (shown by prefix only)."""
    return list(
        db.session.scalars(
            select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id.desc())
        )
    )
