"""The fraud rules in words: one table for the admin's fraud log and the customer's "Why
wasn't this counted?". The JSON API and the CSV keep the codes (API.md); pages show these.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

# A rule's name, short (the admin's fraud log, filters).
TYPE_LABELS = {
    "click_rate_limit": _l("Too many clicks from one visitor"),
    "ip_daily_limit": _l("Too many clicks from one network today"),
    "conversion_rate_limit": _l("Too many conversions from one network"),
    "fast_conversion": _l("Conversion too fast after the click"),
    "no_prior_click": _l("Conversion without a click"),
    "duplicate_fingerprint": _l("Same device counted before"),
    "self_referral": _l("Self-referral"),
    "bot_user_agent": _l("Bot or automated browser"),
    "disposable_email": _l("Throwaway e-mail address"),
    "alias_email": _l("Near-identical e-mail address"),
    "velocity": _l("Unusually many conversions for one participant"),
    "foreign_site": _l("Conversion from a foreign website"),
    "duplicate": _l("Already counted"),
    "program_inactive": _l("Program switched off"),
}

# A rule as a sentence (the customer's "Why wasn't this counted?").
REASONS = {
    "duplicate": _l("Already counted: this visitor used this link within the last 24 hours."),
    "bot_user_agent": _l("A bot or automated browser, not a person."),
    "click_rate_limit": _l("Too many clicks from this visitor in a short time."),
    "ip_daily_limit": _l("Too many clicks from one network (IP address) today."),
    "conversion_rate_limit": _l("More than one conversion from one network within 24 hours."),
    "fast_conversion": _l("Too fast: under 5 seconds between the click and the conversion."),
    "no_prior_click": _l("No prior click: the visitor never clicked a referral link."),
    "duplicate_fingerprint": _l("The same device was already counted."),
    "self_referral": _l("Self-referral: a participant used their own link."),
    "disposable_email": _l("A throwaway e-mail address."),
    "alias_email": _l("A near-identical copy of an existing participant's e-mail address."),
    "velocity": _l("Unusually many conversions for one participant within an hour."),
    "foreign_site": _l("The conversion came from a website that is not one of the program's."),
    "program_inactive": _l("The program was switched off at the time."),
}

# The keys of a fraud-log entry's details.
DETAIL_LABELS = {
    "rule": _l("Rule"),
    "window_hours": _l("Time window (hours)"),
    "clicks_today": _l("Clicks today"),
    "limit": _l("Allowed at most"),
    "seconds": _l("Seconds after the click"),
    "threshold_seconds": _l("At least (seconds)"),
    "conversions_from_ip": _l("Conversions from this network"),
    "conversions_this_hour": _l("Conversions this hour"),
    "domain": _l("Domain"),
    "host": _l("Website"),
    "participant_id": _l("Participant"),
    "matches_participant_id": _l("Similar to participant"),
    "event": _l("Event"),
    "score": _l("Score"),
    "reasons": _l("Reasons"),
}

# The fixed sentences the engine writes into `details["rule"]`.
RULE_TEXTS = {
    "bot, crawler or link-preview user agent": _l("a bot, crawler or link preview"),
    "the participant's own device": _l("the participant's own device"),
    "one counted click per visitor and code": _l("one counted click per visitor and link"),
    "one conversion per visitor and code": _l("one conversion per visitor and link"),
    "no click seen before": _l("no click seen before"),
    "no Origin or Referer": _l("the browser named no page (no Origin or Referer)"),
    "a page on a bare IP address": _l("a page on a bare IP address"),
}

EVENT_LABELS = {
    "click": _l("Click"),
    "conversion": _l("Conversion"),
    "signup": _l("Sign-up"),
}


def type_label(code: str | None) -> str:
    """A rule's short name; an unknown code is still named (never hidden)."""
    if code in TYPE_LABELS:
        return str(TYPE_LABELS[code])
    return str(_l("Rule “%(code)s”", code=code or "?"))


def reason_text(code: str | None) -> str:
    """The plain-language reason for a rule's code; unknown codes are still named."""
    if code in REASONS:
        return str(REASONS[code])
    return str(_l("Held back by the rule “%(code)s”.", code=code or "?"))


def event_label(code: str | None) -> str:
    return str(EVENT_LABELS[code]) if code in EVENT_LABELS else (code or "")


def details_in_words(details: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """A fraud-log entry's details as (label, value) pairs, in the table's order."""
    if not details:
        return []
    order = list(DETAIL_LABELS)
    pairs = []
    for key in sorted(details, key=lambda k: (order.index(k) if k in order else len(order), k)):
        value = details[key]
        if key == "rule" and value in RULE_TEXTS:
            value = str(RULE_TEXTS[value])
        elif key in ("reasons",) and isinstance(value, list):
            value = ", ".join(type_label(v) if isinstance(v, str) else str(v) for v in value)
        elif key == "event":
            value = event_label(value)
        label = str(DETAIL_LABELS[key]) if key in DETAIL_LABELS else key.replace("_", " ")
        pairs.append((label, value))
    return pairs
