"""A participant's name: what the sign-up takes, and when a mail may greet with it.

The name goes into mails sent in the customer's name, so it must not carry a message of its
own ("Hallo Ihr Gewinn: 500 EUR – jetzt abholen unter https://…"). The sign-up refuses
names with web or e-mail addresses, control, invisible or direction-changing characters,
and names too long to be one; a mail greets by name only when the name looks like one
("Hello Anna,"), else it says "Hello," — also for names stored before these rules.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import gettext as _

from ..core.errors import ValidationFailed

MAX_NAME_LENGTH = 60

# Control (Cc: CR, LF, tab …), format (Cf: zero-width, bidi overrides, soft hyphen),
# surrogates, private use, unassigned, line and paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_LINKISH = re.compile(r"https?|www\.|://|xn--|@")
# "gewinn.de", "bit.ly", "win.com": a word, a dot, then a country code or a common TLD.
_DOMAIN = re.compile(
    r"[^\W_][\w-]*\.(?:[a-z]{2}|com|net|org|info|biz|xyz|online|site|shop|top|club|app|dev"
    r"|link|click|live|store|win|vip|icu|pro|cc|tv|io|me)(?![^\W_])"
)
# What a greeting name is made of: letters, their accents, blanks, - . ' ’
_NAME_CHARACTERS = re.compile(r"(?:[^\W\d_]|[\s\-.'’])+")


def _refusal(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={"name": message})


def clean_name(value: str | None) -> str | None:
    """The name as stored: NFC, blanks collapsed to single spaces; None when empty.
    Raises ValidationFailed (with a message for the name field) for what a name must not
    hold."""
    if value is None:
        return None
    value = unicodedata.normalize("NFC", value)
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value):
        raise _refusal(_("Please enter your name without special or invisible characters."))
    value = " ".join(value.split())
    # Look-alikes (fullwidth dots and @, ligatures) count as what they look like.
    folded = unicodedata.normalize("NFKC", value).casefold()
    if _LINKISH.search(folded) or _DOMAIN.search(folded):
        raise _refusal(_("Please enter only your name, without web or e-mail addresses."))
    if len(value) > MAX_NAME_LENGTH:
        raise _refusal(_("At most %(n)d characters.", n=MAX_NAME_LENGTH))
    return value or None


def greeting_name(stored: str | None) -> str:
    """The name a mail may greet with, or "" (the mail then says "Hello,"): only a name
    the sign-up rules take and made of letters, blanks, hyphens, dots and apostrophes."""
    try:
        name = clean_name(stored)
    except ValidationFailed:
        return ""
    if not name or not _NAME_CHARACTERS.fullmatch(name):
        return ""
    return name
