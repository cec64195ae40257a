"""Who a visitor is, without storing who they are.

A visitor is known only by keyed, salted hashes: `fingerprint` = HMAC(program key, salt, IP,
UA) and `ip_hash` = HMAC(program key, salt, IP), where the program key is derived from the
newest HASH_KEYS per customer (`crypto.customer_key`): the same visitor has other hashes in
every program, so two programs' rows cannot be joined. The IP is `netaddr.ip_key` of the
address (an IPv6 client's /64). The salt is random per period (default a UTC day), stored so
every app server shares it, and deleted when old: yesterday's hashes can then no longer be
linked to today's. The 24-hour rules look at the current and the previous period.

`shared_ip_hash` is the one cross-program value (HMAC(HASH_KEY, salt, IP), the same in every
program): it only names the counter of the per-IP daily click limit, which spans programs,
and is never stored next to a program's rows (rate_counters.py keeps it in Redis or in the
short-lived counter table). A new first hash key changes every hash from then on: the
24-hour rules lose sight of earlier visits once, like at the turn of a salt period.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import re2
from crawlerdetect.providers.crawlers import data as _crawler_patterns
from crawlerdetect.providers.exclusions import data as _exclusion_patterns
from flask import current_app
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from ..core.crypto import customer_key, keyed_hash
from ..core.netaddr import ip_key
from ..core.sqlutil import insert_ignore
from ..extensions import db
from ..models import HashSalt, ParticipantDevice, utcnow

_EPOCH = datetime(2000, 1, 1)
# period_start -> (salt id, salt); salts never change once made, so a process may keep them.
_salt_cache: dict[tuple[URL, datetime], tuple[int, str] | None] = {}

# Link previewers and headless browsers that crawlerdetect's list may not name.
_EXTRA_BOTS = re.compile(
    r"headless|phantomjs|puppeteer|playwright|selenium|webdriver|electron|"
    r"whatsapp|telegrambot|slackbot|discordbot|skypeuripreview|facebookexternalhit|"
    r"twitterbot|linkedinbot|pinterestbot|embedly|quora link preview|vkshare|redditbot|"
    r"applebot|bingpreview|google-inspectiontool|python-requests|python-urllib|aiohttp|"
    r"httpx|go-http-client|okhttp|java/|curl/|wget/|libwww|scrapy|node-fetch|axios",
    re.IGNORECASE,
)


def _crawler_matchers() -> tuple[re.Pattern[str], re2._Regexp, re.Pattern[str]]:
    """crawlerdetect's lists, matched as crawlerdetect does (drop the known-harmless tokens,
    then look for any crawler pattern), but the 1,400-pattern alternation by RE2 in linear
    time: Python's backtracking `re` takes over a millisecond per new user agent there. The
    few patterns RE2 cannot take (lookaheads) stay with `re`."""
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 64 << 20
    linear = [p for p in _crawler_patterns if "(?!" not in p and "(?=" not in p]
    rest = [p for p in _crawler_patterns if p not in linear] or ["(?!)"]
    return (
        re.compile("|".join(_exclusion_patterns), re.IGNORECASE),
        re2.compile("|".join(linear), options),
        re.compile("|".join(rest), re.IGNORECASE),
    )


_EXCLUSIONS, _CRAWLERS, _CRAWLERS_REST = _crawler_matchers()


@dataclass(frozen=True)
class Visitor:
    """The hashes of one request's visitor under the current and the previous salt."""

    salt_id: int
    fingerprint: str
    ip_hash: str
    previous_salt_id: int | None
    previous_fingerprint: str | None
    previous_ip_hash: str | None
    is_bot: bool
    shared_ip_hash: str = ""

    def fingerprints(self) -> list[tuple[int, str]]:
        """(salt id, fingerprint) pairs to match the last 24 hours against."""
        pairs = [(self.salt_id, self.fingerprint)]
        if self.previous_salt_id is not None and self.previous_fingerprint:
            pairs.append((self.previous_salt_id, self.previous_fingerprint))
        return pairs

    def ip_hashes(self) -> list[str]:
        return [h for h in (self.ip_hash, self.previous_ip_hash) if h]


def _period_start(now: datetime) -> datetime:
    hours = max(1, int(current_app.config.get("SALT_ROTATION_HOURS", 24)))
    elapsed = int((now - _EPOCH).total_seconds() // 3600)
    return _EPOCH + timedelta(hours=elapsed - elapsed % hours)


def _cache_key(period: datetime) -> tuple[URL, datetime]:
    return (db.engine.url, period)


def _load_salt(period: datetime, create: bool) -> tuple[int, str] | None:
    key = _cache_key(period)
    if key in _salt_cache and (_salt_cache[key] is not None or not create):
        return _salt_cache[key]
    # Its own short transaction on its own connection: the salt must exist (and be the same
    # for every server) even if the caller's unit of work is rolled back.
    with db.engine.begin() as connection:
        if create:
            with Session(bind=connection) as session:
                insert_ignore(
                    session,
                    HashSalt.__table__,
                    {
                        "period_start": period,
                        "salt": secrets.token_hex(32),
                        "created_at": utcnow(),
                    },
                )
        row = connection.execute(
            select(HashSalt.id, HashSalt.salt).where(HashSalt.period_start == period)
        ).first()
    value = (row[0], row[1]) if row else None
    if value is not None or not create:
        _salt_cache[key] = value
    return value


def salts(now: datetime | None = None) -> tuple[tuple[int, str], tuple[int, str] | None]:
    """The current salt (made on first use) and the previous one (None once deleted)."""
    now = now or utcnow()
    period = _period_start(now)
    hours = max(1, int(current_app.config.get("SALT_ROTATION_HOURS", 24)))
    current = _load_salt(period, create=True)
    assert current is not None
    previous = _load_salt(period - timedelta(hours=hours), create=False)
    return current, previous


def forget_cached_salts() -> None:
    """After the daily job deleted old salts (and in tests)."""
    _salt_cache.clear()


def identify(ip: str, user_agent: str, now: datetime | None = None, *, customer_id: int) -> Visitor:
    """The visitor's hashes as program `customer_id` stores them."""
    (salt_id, salt), previous = salts(now)
    user_agent = (user_agent or "")[:512]
    ip = ip_key(ip)
    key = customer_key(customer_id)
    return Visitor(
        salt_id=salt_id,
        fingerprint=keyed_hash("fp", salt, ip, user_agent, key=key),
        ip_hash=keyed_hash("ip", salt, ip, key=key),
        previous_salt_id=previous[0] if previous else None,
        previous_fingerprint=(
            keyed_hash("fp", previous[1], ip, user_agent, key=key) if previous else None
        ),
        previous_ip_hash=keyed_hash("ip", previous[1], ip, key=key) if previous else None,
        is_bot=is_bot(user_agent),
        shared_ip_hash=keyed_hash("ip", salt, ip),
    )


@lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    """Bots, crawlers, headless browsers and link previewers (and no user agent at all)."""
    if not user_agent or len(user_agent) < 10:
        return True
    if _EXTRA_BOTS.search(user_agent):
        return True
    return listed_crawler(user_agent)


def listed_crawler(user_agent: str) -> bool:
    """crawlerdetect's verdict (`CrawlerDetect().is_crawler`), in microseconds."""
    agent = _EXCLUSIONS.sub("", user_agent.strip())
    return bool(agent) and bool(_CRAWLERS.search(agent) or _CRAWLERS_REST.search(agent))


def remember_participant_device(participant_id: int, visitor: Visitor) -> None:
    """Note a participant's own device (at sign-up, confirmation, hub visits) in the caller's
    transaction, so a click from it on their own link is a self-referral."""

    insert_ignore(
        db.session,
        ParticipantDevice.__table__,
        {
            "participant_id": participant_id,
            "salt_id": visitor.salt_id,
            "fingerprint": visitor.fingerprint,
            "created_at": utcnow(),
        },
    )
