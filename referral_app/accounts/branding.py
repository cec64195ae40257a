"""The program's look and its public addresses: logo, accent colour, Impressum and privacy
notice, as the hosted pages, the hub, the sign-up form and the mails show them.

Everything is served by the app (`/p/<code>/logo`, `/p/<code>/theme.css`), so a visitor's
browser asks no third party. The page CSP forbids inline styles, hence a tiny stylesheet per
program that sets the colours as custom properties; mails carry inline styles instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..extensions import db
from ..models import Customer
from . import uploads

DEFAULT_ACCENT = "#0b5cad"
DARK_TEXT = "#1b1f24"
LIGHT_TEXT = "#ffffff"


def _luminance(color: str) -> float:
    """WCAG 2 relative luminance of `#rrggbb`."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: float, b: float) -> float:
    light, dark = max(a, b), min(a, b)
    return (light + 0.05) / (dark + 0.05)


def text_on(accent: str) -> str:
    """White or dark text on the accent, whichever reads better."""
    lum = _luminance(accent)
    light = _contrast(lum, _luminance(LIGHT_TEXT))
    dark = _contrast(lum, _luminance(DARK_TEXT))
    return LIGHT_TEXT if light >= dark else DARK_TEXT


def link_color(accent: str) -> str:
    """The accent for links on white, or the default blue when the accent is too light to
    read as text (under 4.5:1 against white)."""
    if _contrast(_luminance(accent), 1.0) >= 4.5:
        return accent
    return DEFAULT_ACCENT


def accent_of(customer: Customer) -> str:
    return customer.accent_color or DEFAULT_ACCENT


def theme_css(customer: Customer) -> str:
    """The per-program stylesheet: the colours as custom properties (app.css reads them)."""
    accent = accent_of(customer)
    return (
        f":root {{ --accent: {link_color(accent)}; --brand: {accent}; "
        f"--brand-fg: {text_on(accent)}; }}\n"
    )


def public_urls(customer: Customer, base_url: str) -> dict[str, str | None]:
    """The program's public addresses; `logo_url` is None without a logo, and changes with
    the logo (a version in the query), so caches may keep it long."""
    base = f"{base_url.rstrip('/')}/p/{quote(customer.ref_code)}"
    logo = uploads.files_of(customer.id).get(uploads.LOGO)
    return {
        "imprint_url": f"{base}/impressum" if (customer.imprint or "").strip() else None,
        "privacy_url": customer.privacy_url or None,
        "logo_url": f"{base}/logo?v={logo['version']}" if logo else None,
        "theme_url": f"{base}/theme.css?v={accent_of(customer)[1:]}",
    }


def brand(customer: Customer, base_url: str = "") -> dict[str, Any]:
    """What a page or mail needs to look like the customer's: name, logo, colours, links."""
    accent = accent_of(customer)
    return {
        "company_name": customer.company_name,
        "accent": accent,
        "accent_fg": text_on(accent),
        "link": link_color(accent),
        **public_urls(customer, base_url),
    }


def brand_of(customer_id: int | None, base_url: str = "") -> dict[str, Any] | None:
    """`brand` for a program known by id (a participant's page); None for no program."""
    customer = db.session.get(Customer, customer_id) if customer_id else None
    return brand(customer, base_url) if customer else None
