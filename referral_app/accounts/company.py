"""A customer's company details (shown in every e-mail sent in their name) and the program
switch. The JSON API and the dashboard forms both come through here, so both validate alike.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateNotFound
from markupsafe import Markup

from ..core.errors import DomainError, NotFound, ValidationFailed
from ..extensions import db
from ..models import Customer
from ..tracking.owners import forget_cached_codes
from ..tracking.sites import normalise_host
from . import branding, uploads

LANGUAGES = ("de", "en")
MAX_IMPRINT = 5000
MAX_URL = 500
MAX_TIME_ZONE = 64
MAX_DOMAINS = 20
MAX_DOMAIN = 253
DEFAULT_TIME_ZONE = "Europe/Berlin"
# The program's details beside the text fields: a request that leaves one out keeps it.
PROGRAM_FIELDS = ("privacy_url", "time_zone", "accent_color", "allowed_domains")
# What a program needs before it may go live (German law: an Impressum; Art. 13 DSGVO: a
# privacy notice wherever data is collected).
LAUNCH_REQUIREMENTS = ("imprint", "privacy_url")
_COLOR = re.compile(r"^#[0-9a-f]{6}$")
# (field, required, max length)
TEXT_FIELDS = (
    ("company_name", True, 200),
    ("contact_email", True, 254),
    ("sender_name", False, 200),
    ("website", False, 500),
    ("imprint", True, MAX_IMPRINT),
)


# A host name as DNS knows it: labels of letters, digits and hyphens, at least one dot.
# The top-level domain: letters, or an IDN one in punycode (`xn--p1ai`).
_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)


def web_address_ok(url: str) -> bool:
    """An http(s) address of a real host: `https://javascript:alert(1)` or
    `https://example` are not (a link in a mail or page must go where it says)."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return False
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return False
    return parts.scheme in ("http", "https") and bool(_HOST.match(host))


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def company_dict(customer: Customer, base_url: str = "") -> dict[str, Any]:
    """The company details as the API answers them (`logo_url` relative without a base)."""
    return {
        "company_name": customer.company_name,
        "contact_email": customer.contact_email,
        "sender_name": customer.sender_name,
        "website": customer.website,
        "imprint": customer.imprint,
        "language": customer.language,
        "privacy_url": customer.privacy_url,
        "time_zone": customer.time_zone or DEFAULT_TIME_ZONE,
        "accent_color": customer.accent_color,
        "allowed_domains": list(customer.allowed_domains or []),
        "logo_url": branding.public_urls(customer, base_url)["logo_url"],
    }


@cache
def time_zones() -> frozenset[str]:
    """The IANA zone names this machine knows."""
    return frozenset(zoneinfo.available_timezones())


def _privacy_url(value: Any) -> tuple[str | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if not isinstance(value, str):
        return None, str(_l("Please enter text."))
    url = value.strip()
    if "://" not in url:
        url = "https://" + url
    if len(url) > MAX_URL:
        return None, str(_l("At most %(n)d characters.", n=MAX_URL))
    if not url.lower().startswith("https://") or not web_address_ok(url):
        return None, str(
            _l(
                "Please enter the https:// address of your privacy notice, like https://example.com/datenschutz."
            )
        )
    return url, None


def _time_zone(value: Any) -> tuple[str | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_TIME_ZONE, None
    if isinstance(value, str) and value.strip() in time_zones():
        return value.strip(), None
    return None, str(_l("Choose a time zone like Europe/Berlin."))


def _accent_color(value: Any) -> tuple[str | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    color = value.strip().lower() if isinstance(value, str) else ""
    if not _COLOR.match(color):
        return None, str(_l("A colour like #0b5cad (# and six hex digits)."))
    return color, None


def _allowed_domains(value: Any) -> tuple[list[str] | None, str | None]:
    """Host names (`example.com`, `www.example.com`); a string may list them separated by
    commas, blanks or lines. A pasted address (`https://example.com/page`) counts as its host."""
    if value is None:
        return [], None
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return None, str(_l("A list of host names, like example.com."))
    hosts: list[str] = []
    for item in items:
        # Punycode as browsers send it in Origin and Referer (tracking/sites.py compares).
        host = normalise_host(item) or ""
        if len(host) > MAX_DOMAIN or not _HOST.match(host):
            return None, str(_l("Not a host name: %(value)s", value=item.strip()[:80]))
        if host not in hosts:
            hosts.append(host)
    if len(hosts) > MAX_DOMAINS:
        return None, str(_l("At most %(n)s entries at once.", n=MAX_DOMAINS))
    return hosts, None


_PROGRAM_CHECKS = {
    "privacy_url": _privacy_url,
    "time_zone": _time_zone,
    "accent_color": _accent_color,
    "allowed_domains": _allowed_domains,
}


def validate_company(
    data: dict[str, Any], logo: uploads.Upload | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean the submitted details. Returns (clean values, field → message); never raises,
    so a form can show every error at once next to its field. The program fields are in
    `clean` only when sent; a logo's content type is `clean["logo"]`."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, check in _PROGRAM_CHECKS.items():
        if name in data:
            clean[name], problem = check(data[name])
            if problem:
                errors[name] = problem
    if logo is not None:
        clean["logo"], problem = uploads.check(uploads.LOGO, logo)
        if problem:
            errors["logo"] = problem
    for name, required, limit in TEXT_FIELDS:
        raw = data.get(name)
        value = raw.strip() if isinstance(raw, str) else ("" if raw is None else None)
        if value is None:
            errors[name] = str(_l("Please enter text."))
            continue
        if name == "imprint":
            value = value.replace("\r\n", "\n")
        if required and not value:
            errors[name] = str(_l("This field is required."))
        elif len(value) > limit:
            errors[name] = str(_l("At most %(n)d characters.", n=limit))
        clean[name] = value or None
    if clean.get("contact_email") and "contact_email" not in errors:
        try:
            clean["contact_email"] = validate_email(
                clean["contact_email"], check_deliverability=False
            ).normalized
        except EmailNotValidError:
            errors["contact_email"] = str(_l("Please enter a valid e-mail address."))
    if clean.get("sender_name") and any(ch in clean["sender_name"] for ch in '\r\n<>"'):
        # It becomes part of the From header: no line breaks or address syntax.
        errors["sender_name"] = str(_l("No line breaks, quotes or angle brackets, please."))
    if clean.get("website") and "website" not in errors:
        website = clean["website"]
        if "://" not in website:
            website = "https://" + website
        if not web_address_ok(website):
            errors["website"] = str(_l("Please enter a web address like https://example.com."))
        else:
            clean["website"] = website
    language = data.get("language")
    if language in (None, ""):
        language = None
    elif language not in LANGUAGES:
        errors["language"] = str(_l("Choose German or English."))
    clean["language"] = language
    return clean, errors


def update_company(
    customer_id: int,
    data: dict[str, Any],
    *,
    logo: uploads.Upload | None = None,
    remove_logo: bool = False,
    base_url: str = "",
) -> dict[str, Any]:
    """Validate and save, the logo included: all or nothing. Raises ValidationFailed with
    every field's message. Commits."""
    clean, errors = validate_company(data, logo)
    if errors:
        raise ValidationFailed(str(_l("Please check the highlighted fields.")), fields=errors)
    customer = get_customer(customer_id)
    for name, _required, _limit in TEXT_FIELDS:
        setattr(customer, name, clean[name])
    for name in PROGRAM_FIELDS:
        if name in clean:
            setattr(customer, name, clean[name])
    if clean["language"]:
        customer.language = clean["language"]
    if logo is not None:
        uploads.store(customer_id, uploads.LOGO, logo, clean["logo"])
    elif remove_logo:
        uploads.remove(customer_id, uploads.LOGO)
    db.session.commit()
    if "allowed_domains" in clean:
        _forget_cached_codes()  # the tracking engine checks the new list at once
    return company_dict(customer, base_url)


def missing_for_launch(customer: Customer) -> list[str]:
    """What the program still needs before it may be switched on (LAUNCH_REQUIREMENTS)."""
    return [name for name in LAUNCH_REQUIREMENTS if not (getattr(customer, name) or "").strip()]


def parse_bool(value: Any) -> bool:
    """JSON booleans and the usual form spellings; anything else is a validation error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "on", "yes"):
            return True
        if lowered in ("0", "false", "off", "no"):
            return False
    raise ValidationFailed(
        str(_l("Please choose whether the program is on or off.")),
        fields={"enabled": str(_l("on or off (true or false)"))},
    )


def set_enabled(customer_id: int, enabled: bool) -> bool:
    """Switch the program on or off and return the state the server now has. A program an
    admin suspended cannot be switched on by its customer. Commits."""
    customer = get_customer(customer_id)
    if enabled and customer.suspended_at is not None:
        raise DomainError(
            str(
                _l(
                    "An administrator has suspended this program, so it cannot be switched on. "
                    "The reason and whom to contact are on your dashboard."
                )
            ),
            code="program_suspended",
            status=403,
        )
    missing = missing_for_launch(customer) if enabled else []
    if missing and not customer.referral_enabled:
        raise DomainError(
            incomplete_message(missing), code="program_incomplete", extra={"missing": missing}
        )
    if customer.referral_enabled != enabled:
        customer.referral_enabled = enabled
        db.session.commit()
        _forget_cached_codes()
    return customer.program_active


def incomplete_message(missing: list[str]) -> str:
    """What the dashboard and the API say when a program cannot go live yet."""
    names = {"imprint": _l("your Impressum"), "privacy_url": _l("the link to your privacy notice")}
    return str(
        _l(
            "Before the program can go live, the company details need: %(missing)s.",
            missing=", ".join(str(names[name]) for name in missing),
        )
    )


def _forget_cached_codes() -> None:
    """The tracking engine keeps active codes for a few seconds per process: this one
    follows the switch at once (other app servers within TRACKING_CODE_CACHE_SECONDS)."""

    forget_cached_codes()


def program_links(customer: Customer, base_url: str) -> dict[str, str]:
    """The program's shareable link, its hosted pages and the tracking snippets."""
    base = base_url.rstrip("/")
    script = f"{base}/static/referral-tracking.js"
    links = {
        "program": f"{base}/p/{customer.ref_code}",
        "thankyou": f"{base}/p/{customer.ref_code}/danke",
        "snippet_freebie": f'<script src="{script}" data-page="freebie" async></script>',
        "snippet_thankyou": f'<script src="{script}" data-page="thankyou" async></script>',
        # Without JavaScript: an <img> sends no Origin, so the conversion's page is its
        # Referer; the attribute keeps it (the origin only) where the page turns referrers off.
        "pixel_thankyou": (
            f'<img src="{base}/api/referral/track?ref={customer.ref_code}&amp;e=conversion" '
            'width="1" height="1" alt="" referrerpolicy="strict-origin-when-cross-origin">'
        ),
    }
    if customer.website:
        separator = "&" if "?" in customer.website else "?"
        links["own_page"] = f"{customer.website}{separator}ref={customer.ref_code}"
    return links


def mail_preview_context(values: dict[str, Any], base_url: str) -> dict[str, Any]:
    """What the confirmation-mail preview shows for these (possibly unsaved, possibly
    invalid) details: the form's values as typed, so the preview follows every keystroke."""

    def text(name: str, limit: int) -> str:
        value = values.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    language = values.get("language") if values.get("language") in LANGUAGES else "de"
    company_name = text("company_name", 200)
    sender = text("sender_name", 200) or company_name
    base = base_url.rstrip("/")
    return {
        "language": language,
        "company_name": company_name,
        "sender_name": sender,
        "contact_email": text("contact_email", 254),
        "website": text("website", 500),
        "imprint": text("imprint", MAX_IMPRINT).replace("\r\n", "\n"),
        "brand": _preview_brand(values, company_name, base),
        "confirm_url": f"{base}/api/referral/confirm-lead?token=PREVIEW",
        "unsubscribe_url": f"{base}/#preview",
        "participant_name": "Alex",
    }


def _preview_brand(values: dict[str, Any], company_name: str, base: str) -> dict[str, Any]:
    """The mail's look for the typed (maybe invalid) values: what is valid shows."""
    accent = _accent_color(values.get("accent_color"))[0] or branding.DEFAULT_ACCENT
    privacy = _privacy_url(values.get("privacy_url"))[0]
    logo = values.get("logo_url")
    return {
        "company_name": company_name,
        "accent": accent,
        "accent_fg": branding.text_on(accent),
        "link": branding.link_color(accent),
        "logo_url": f"{base}{logo}" if isinstance(logo, str) and logo.startswith("/") else None,
        "imprint_url": None,
        "privacy_url": privacy,
    }


# Inline styles (refused by the dashboard's CSP) and ids (which would clash with the page's).
_STYLE_ATTRIBUTE = re.compile(r'\s(?:style|id)="[^"]*"')
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S)


def render_mail_preview(preview: dict[str, Any]) -> dict[str, Any]:
    """The real confirmation mail (templates/emails/confirmation.html, as the mail service
    sends it) for the preview values: its subject and its body without the e-mail's inline
    styles (the dashboard's CSP would refuse them) and ids. Call inside `force_locale` of the mail's
    language. `body_html` is None when there is no such template."""
    customer = SimpleNamespace(
        company_name=preview["company_name"] or "…",
        imprint=preview["imprint"],
        contact_email=preview["contact_email"],
        sender_name=preview["sender_name"],
        website=preview["website"],
        language=preview["language"],
    )
    subject = _(
        "Please confirm your sign-up for the referral program of %(company)s",
        company=customer.company_name,
    )
    try:
        html = render_template(
            "emails/confirmation.html",
            subject=subject,
            kind="confirmation",
            customer=customer,
            brand=preview["brand"],
            name=preview["participant_name"],
            confirm_url=preview["confirm_url"],
            unsubscribe_url=preview["unsubscribe_url"],
            confirm_hours=int(current_app.config.get("CONFIRMATION_TOKEN_HOURS", 48)),
        )
    except TemplateNotFound:
        return {"subject": subject, "body_html": None}
    match = _BODY.search(html)
    body = _STYLE_ATTRIBUTE.sub("", match.group(1) if match else html)
    # Our own template's output, with the customer's values already escaped by Jinja.
    return {"subject": subject, "body_html": Markup(body)}  # noqa: S704
