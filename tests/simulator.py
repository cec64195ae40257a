"""A labelled traffic simulator for the anti-fraud rules (DESIGN.md "Anti-fraud": precision
and recall per rule, measured, not promised).

Actors with a ground-truth label — people, or the kind of fraud they commit — send their
requests through the real public API (track-click, track-conversion, register-lead,
confirm-lead, the hub) of a real app on a real database, each from its own IP (through
`X-Forwarded-For` and ProxyFix, as behind the production proxy) with its own user agent.
Time is moved with time_machine, so a person's ten minutes between click and conversion
cost nothing. The same seed gives the same traffic.

What counts as *flagged*: a click or conversion answered `blocked`, a conversion answered
`suspicious: true`, a sign-up refused as `disposable_email`, or a sign-up that wrote an
`alias_email` / `self_referral` fraud-log entry (those don't refuse, they are logged for
review). `duplicate` is not a flag: it is the rule that a visitor counts once per code and
24 h, and people who reload a page meet it every day. The rule(s) behind a flag are read
from the fraud log rows the request wrote.

Every event carries a truth:
- `legit`: a person doing what people do; a flag here is a false positive;
- `fraud`: the act a rule exists for (a bot's click, a farm's conversion, a disposable
  sign-up…) with the rule expected to catch it; no flag is a false negative;
- `unscored`: a fraud actor's step that no rule can judge on its own, such as a click farm's
  click from a fresh IP and a real browser, or the first, honest sign-up of a self-referrer.
  Neither precision nor recall counts these; the per-kind table shows them.

Run `python -m tests.simulator` for the table (docs/fraud.md holds one), `--set KEY=VALUE`
to try a threshold, `--sweep KEY=V1,V2,…` to compare values. tests/test_fraud_accuracy.py
asserts the targets.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import re
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import time_machine
from flask import Flask
from sqlalchemy import select

from referral_app.extensions import db

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2031, 3, 12, 6, 0, tzinfo=UTC)

LEGIT = "legit"
FRAUD = "fraud"
UNSCORED = "unscored"

# Fraud kinds beyond the list, each there because a rule exists for it. Two of them
# probe threshold rules, which by design let their allowance through (the first
# FRAUD_IP_DAILY_CLICKS clicks of an IP, the first FRAUD_CONVERSIONS_PER_IP conversions): the
# targets are scored on the population, and these are reported beside it.
EXTRA_KINDS = ("rotating_bot", "repeat_converter", "conversion_replayer")

# Fraud-log types that mark a `duplicate` answer, not a flag.
DUPLICATE_TYPES = ("click_rate_limit", "duplicate_fingerprint")
RULES = (
    "bot_user_agent",
    "self_referral",
    "ip_daily_limit",
    "conversion_rate_limit",
    "fast_conversion",
    "no_prior_click",
    "velocity",
    "disposable_email",
    "alias_email",
)

# --- user agents -------------------------------------------------------------------------------

# (user agent, weight): roughly the German mobile mix of 2024 (iOS ~40 %, Android the rest,
# Samsung Internet a good part of it), with the in-app browsers links shared on social media
# open in.
PHONES: list[tuple[str, int]] = [
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        14,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        6,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
        5,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
        3,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        2,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36",
        14,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/125.0.6422.165 Mobile Safari/537.36",
        3,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        6,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        5,
    ),
    ("Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0", 2),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 Instagram 337.0.3.23.54 (iPhone15,3; iOS 17_5; de_DE; de; "
        "scale=3.00; 1290x2796; 614203285)",
        6,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36 "
        "[FB_IAB/FB4A;FBAV/470.0.0.42.108;]",
        4,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.37.104;FBBV/613003389;"
        "FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/de_DE;FBOP/5]",
        3,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 [LinkedInApp]/9.29.7780",
        2,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/AP2A.240605.024; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36 "
        "[Pinterest/Android]",
        1,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; M2101K6G Build/TKQ1.221013.002; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36",
        2,
    ),
]
DESKTOPS: list[tuple[str, int]] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        16,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/125.0.0.0 Safari/537.36",
        5,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68",
        8,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0", 6),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0", 2),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.5 Safari/605.1.15",
        7,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/126.0.0.0 Safari/537.36",
        5,
    ),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0", 2),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        2,
    ),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", 1),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        1,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
        1,
    ),
]
SCRIPT_CLIENTS = [
    "curl/8.5.0",
    "curl/7.81.0",
    "python-requests/2.32.3",
    "python-requests/2.28.1",
    "Go-http-client/1.1",
    "Go-http-client/2.0",
]
HEADLESS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/126.0.6478.126 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
]
# (user agent, the prefix of the addresses it fetches from); WhatsApp fetches the preview
# on the sender's own phone (prefix None).
PREVIEWERS: list[tuple[str, str | None]] = [
    ("WhatsApp/2.23.20.0 A", None),
    ("WhatsApp/2.24.13.78 i", None),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "54.209"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "69.171"),
    ("TelegramBot (like TwitterBot)", "149.154"),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "35.227"),
    (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "108.174",
    ),
]

# --- names and addresses -----------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words(
    "anna lena julia laura sarah lisa katharina marie sophie hannah lea johanna clara emma "
    "sandra nicole sabine petra claudia stefanie melanie jana nina carina theresa franziska "
    "max paul lukas jonas felix leon tim jan david niklas moritz tobias daniel michael thomas "
    "andreas stefan markus christian florian sebastian alexander philipp simon kai jens"
)
LAST_NAMES = _words(
    "mueller schmidt schneider fischer weber meyer wagner becker schulz hoffmann koch richter "
    "klein wolf schroeder neumann schwarz zimmermann braun krueger hofmann hartmann lange "
    "schmitt werner krause meier lehmann schmid schulze maier koehler herrmann koenig walter "
    "mayer huber kaiser fuchs peters lang scholz moeller weiss jung hahn schubert vogel "
    "friedrich keller guenther frank berger winkler roth beck lorenz baumann franke albrecht"
)
MAIL_DOMAINS: list[tuple[str, int]] = [
    ("gmail.com", 24),
    ("gmx.de", 16),
    ("web.de", 16),
    ("t-online.de", 9),
    ("outlook.de", 5),
    ("hotmail.com", 3),
    ("icloud.com", 8),
    ("yahoo.de", 4),
    ("posteo.de", 3),
    ("mailbox.org", 2),
    ("proton.me", 2),
    ("googlemail.com", 2),
    ("freenet.de", 2),
    ("gmx.net", 2),
    ("me.com", 2),
]
DISPOSABLE_DOMAINS = [
    "mailinator.com",
    "10minutemail.com",
    "guerrillamail.com",
    "yopmail.com",
    "trashmail.com",
    "temp-mail.org",
    "sharklasers.com",
    "maildrop.cc",
    "wegwerfmail.de",
    "byom.de",
]
GMAIL = ("gmail.com", "googlemail.com")


def canonical(address: str) -> str:
    """The mailbox an address reaches (what a real person owns): no +tag; for Gmail no dots."""
    local, _, domain = address.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


# --- the world ---------------------------------------------------------------------------------


@dataclass
class Program:
    customer_id: int
    ref_code: str
    site: str


@dataclass
class Referrer:
    """A participant who shares their link; `code` is known once they confirmed."""

    program: int
    shares_at: datetime
    code: str | None = None
    ip: str = ""
    phone_ip: str = ""


class World:
    """What actors share: the programs, the referrers' codes, fresh addresses and names."""

    def __init__(self, rng: random.Random, programs: list[Program]) -> None:
        self.rng = rng
        self.programs = programs
        self.referrers: list[Referrer] = []
        self._ip_counters: Counter[str] = Counter()
        self._mailboxes: set[str] = set()

    # addresses on the internet
    def ip(self, prefix: str) -> str:
        """A fresh address in an IPv4 /16 (`"84.128"`) or an IPv6 /32 (`"2003:e5"`)."""
        n = self._ip_counters[prefix]
        self._ip_counters[prefix] += 1
        if ":" in prefix:
            return f"{prefix}:{n // 4096:x}:{n % 4096:x}::{self.rng.randrange(1, 65535):x}"
        return f"{prefix}.{(n // 250) % 256}.{n % 250 + 2}"

    def home_ip(self) -> str:
        """A household's line: Telekom (much of it IPv6), Vodafone, O2, 1&1, cable."""
        rng = self.rng
        if rng.random() < 0.3:
            return self.ip(rng.choice(["2003:e5", "2003:c1", "2a02:810d"]))
        return self.ip(rng.choice(["84.128", "79.197", "91.64", "95.90", "178.24", "87.123"]))

    def mobile_ip(self) -> str:
        rng = self.rng
        if rng.random() < 0.4:
            return self.ip(rng.choice(["2a01:598", "2a02:3038"]))
        return self.ip(rng.choice(["80.187", "176.0", "109.43", "31.150"]))

    def datacenter_ip(self) -> str:
        return self.ip(self.rng.choice(["34.89", "3.120", "159.89", "5.9", "195.201", "45.77"]))

    def proxy_ip(self) -> str:
        """A residential proxy exit, as click farms rent them: any ISP, any country."""
        return self.ip(self.rng.choice(["102.89", "41.210", "103.151", "117.206", "186.4"]))

    # browsers
    def phone(self) -> str:
        return _weighted(self.rng, PHONES)

    def desktop(self) -> str:
        return _weighted(self.rng, DESKTOPS)

    def device(self, phone_share: float = 0.65) -> str:
        return self.phone() if self.rng.random() < phone_share else self.desktop()

    # people's addresses
    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    def email(self, first: str, last: str) -> str:
        """A real person's own address: a mailbox no one else in the simulation has."""
        rng = self.rng
        domain = _weighted(rng, MAIL_DOMAINS)
        for attempt in itertools.count():
            local = rng.choice(
                [
                    f"{first}.{last}",
                    f"{first}{last}",
                    f"{first[0]}.{last}",
                    f"{first}_{last}",
                    f"{first}.{last}{rng.randrange(60, 100)}",
                    f"{last}.{first}",
                ]
            )
            if attempt:
                local += str(rng.randrange(1, 999))
            if rng.random() < 0.08:  # people who sort their mail with +tags
                local += rng.choice(["+freebie", "+news", "+coaching"])
            address = f"{local}@{domain}"
            if canonical(address) not in self._mailboxes:
                self._mailboxes.add(canonical(address))
                return address
        raise AssertionError("unreachable")

    def new_mailbox(self, address: str) -> bool:
        """Claim a mailbox for a fraud actor's base address (False: someone has it)."""
        if canonical(address) in self._mailboxes:
            return False
        self._mailboxes.add(canonical(address))
        return True

    def page(self, program: int) -> str:
        return f"https://{self.programs[program].site}/freebie"

    def code_for(self, referrer: int | None, program: int) -> str:
        if referrer is not None and self.referrers[referrer].code:
            return self.referrers[referrer].code
        return self.programs[program].ref_code


def _weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    return rng.choices([item for item, _ in items], weights=[w for _, w in items])[0]


def human_gap(rng: random.Random) -> float:
    """Freebie page to thank-you page for a person: read, type name and address, submit.
    Log-uniform over 10 s … 10 min."""
    return math.exp(rng.uniform(math.log(10), math.log(600)))


# --- steps and results -----------------------------------------------------------------------


@dataclass
class Step:
    """One thing an actor does at `at`. `wait` only resumes the actor at that time."""

    action: str  # wait | click | conversion | signup | confirm | hub
    at: datetime
    ip: str = ""
    ua: str = ""
    ref: str | None = None
    program: int = 0
    click_id: int | None = None
    email: str | None = None
    name: str | None = None
    hub_path: str | None = None
    truth: str = LEGIT
    expected: str | None = None  # for truth == FRAUD: the rule that should catch it
    note: str = ""


@dataclass
class Result:
    http_status: int
    body: dict[str, Any]
    status: str
    flagged: bool
    rules: tuple[str, ...]


@dataclass
class Event:
    actor: int
    kind: str
    label: str
    step: Step
    result: Result


Script = Generator[Step, Result, None]


@dataclass
class Actor:
    kind: str
    label: str  # LEGIT or the fraud kind
    script: Callable[[World, int], Script]


# --- legit people ----------------------------------------------------------------------------


def referrer(index: int) -> Callable[[World, int], Script]:
    """A participant: came through the program's link, joined, confirmed, and later shares
    their own link (WhatsApp group, Slack, Facebook, Telegram…)."""

    def script(world: World, _actor: int) -> Script:
        rng, me = world.rng, world.referrers[index]
        program = me.program
        ua = world.device(0.5)
        at = START + timedelta(minutes=rng.uniform(0, 100))
        code = world.programs[program].ref_code
        clicked = yield Step("click", at, me.ip, ua, code, program)
        at += timedelta(seconds=human_gap(rng))
        yield Step("conversion", at, me.ip, ua, code, program, clicked.body.get("click_id"))
        first, last = world.person()
        email = world.email(first, last)
        at += timedelta(seconds=rng.uniform(20, 120))
        yield Step("signup", at, me.ip, ua, code, program, email=email, name=first.title())
        at += timedelta(minutes=rng.uniform(1, 40))
        confirmed = yield Step("confirm", at, me.ip, ua, program=program, email=email)
        me.code = confirmed.body.get("ref_code")
        if rng.random() < 0.6:  # opens the hub on the phone later
            yield Step(
                "hub",
                at + timedelta(minutes=rng.uniform(5, 60)),
                me.phone_ip,
                world.phone(),
                hub_path=confirmed.body.get("hub_path"),
            )

    return script


def visitor(
    referred_by: int | None,
    program: int,
    arrives: datetime,
    ip: str | None = None,
    ua: str | None = None,
    convert_share: float = 0.45,
    signup_share: float = 0.3,
) -> Callable[[World, int], Script]:
    """A person who follows a link: freebie page (maybe reloaded), often the thank-you page
    after a human while (maybe reloaded too), sometimes joins the program and confirms."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        phone = ua is None and rng.random() < 0.65
        agent = ua or (world.phone() if phone else world.desktop())
        address = ip or (world.mobile_ip() if phone and rng.random() < 0.5 else world.home_ip())
        yield Step("wait", arrives)
        code = world.code_for(referred_by, program)
        clicked = yield Step("click", arrives, address, agent, code, program)
        click_id = clicked.body.get("click_id")
        at = arrives
        if rng.random() < 0.15:  # reloads the freebie page
            at += timedelta(seconds=rng.uniform(3, 90))
            yield Step("click", at, address, agent, code, program, note="reload")
        if rng.random() >= convert_share:
            return
        at = max(at, arrives + timedelta(seconds=human_gap(rng)))
        if phone and rng.random() < 0.05:  # Wi-Fi to mobile data on the way
            address = world.mobile_ip()
        yield Step("conversion", at, address, agent, code, program, click_id)
        if rng.random() < 0.1:  # reloads the thank-you page
            at += timedelta(seconds=rng.uniform(2, 30))
            yield Step("conversion", at, address, agent, code, program, click_id, note="reload")
        if rng.random() >= signup_share:
            return
        first, last = world.person()
        email = world.email(first, last)
        at += timedelta(seconds=rng.uniform(20, 180))
        yield Step("signup", at, address, agent, code, program, email=email, name=first.title())
        if rng.random() < 0.85:
            at += timedelta(minutes=rng.uniform(1, 90))
            if rng.random() < 0.25:  # opens the mail on the computer at home
                agent, address = world.desktop(), world.home_ip()
            yield Step("confirm", at, address, agent, program=program, email=email)

    return script


# --- fraud -------------------------------------------------------------------------------------


def click_bot(program: int, arrives: datetime) -> Callable[[World, int], Script]:
    """A script (curl, python-requests, Go) hammering referral links from a server, now and
    then calling the conversion endpoint too."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        agent = rng.choice(SCRIPT_CLIENTS)
        addresses = [world.datacenter_ip() for _ in range(rng.randint(1, 3))]
        yield Step("wait", arrives)
        at = arrives
        converts = rng.random() < 0.3
        for _ in range(rng.randint(10, 40)):
            referred_by = _random_referrer(world, program)
            code = world.code_for(referred_by, program)
            ip = rng.choice(addresses)
            clicked = yield Step(
                "click", at, ip, agent, code, program, truth=FRAUD, expected="bot_user_agent"
            )
            if converts:
                at += timedelta(seconds=rng.uniform(0.1, 3))
                yield Step(
                    "conversion",
                    at,
                    ip,
                    agent,
                    code,
                    program,
                    clicked.body.get("click_id"),
                    truth=FRAUD,
                    expected="bot_user_agent",
                )
            at += timedelta(seconds=rng.uniform(1, 30))

    return script


def rotating_bot(program: int, arrives: datetime) -> Callable[[World, int], Script]:
    """A click bot that sends a different real browser's user agent every time (as the
    fake-useragent libraries do) from one server: each click looks like a new visitor."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        ip = world.datacenter_ip()
        yield Step("wait", arrives)
        at = arrives
        for n in range(rng.randint(30, 50)):
            base = world.device(0.5)
            agent = re.sub(r"(\d+)\.0\.0\.0", rf"\g<1>.0.{6000 + n}.{n}", base)
            if agent == base:
                agent = f"{base} (rv{n})"
            code = world.code_for(_random_referrer(world, program), program)
            yield Step(
                "click", at, ip, agent, code, program, truth=FRAUD, expected="ip_daily_limit"
            )
            at += timedelta(seconds=rng.uniform(5, 40))

    return script


def click_farm(owner: int, arrives: datetime) -> Callable[[World, int], Script]:
    """Paid workers (or a phone rack) on residential proxies with real browsers: one visit
    after the other to one participant's link, converting at once or almost at once."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        program = world.referrers[owner].program
        yield Step("wait", arrives)
        code = world.code_for(owner, program)
        at = arrives
        pool = [world.proxy_ip() for _ in range(120)]
        for _ in range(rng.randint(55, 80)):
            ip, agent = rng.choice(pool), world.device(0.8)
            clicked = yield Step("click", at, ip, agent, code, program, truth=UNSCORED)
            if rng.random() < 0.9:
                instant = rng.random() < 0.75
                delay = rng.uniform(0.3, 4.5) if instant else rng.uniform(5.5, 15)
                at += timedelta(seconds=delay)
                yield Step(
                    "conversion",
                    at,
                    ip,
                    agent,
                    code,
                    program,
                    clicked.body.get("click_id"),
                    truth=FRAUD,
                    expected="fast_conversion" if instant else "velocity",
                )
            at += timedelta(seconds=rng.uniform(10, 40))

    return script


def instant_converter(referred_by: int, arrives: datetime) -> Callable[[World, int], Script]:
    """Something that reaches the thank-you page faster than anyone can fill in a form."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        program = world.referrers[referred_by].program
        agent, ip = world.device(), world.home_ip()
        yield Step("wait", arrives)
        code = world.code_for(referred_by, program)
        clicked = yield Step("click", arrives, ip, agent, code, program, truth=UNSCORED)
        at = arrives + timedelta(seconds=rng.uniform(0.1, 4.5))
        yield Step(
            "conversion",
            at,
            ip,
            agent,
            code,
            program,
            clicked.body.get("click_id"),
            truth=FRAUD,
            expected="fast_conversion",
        )

    return script


def self_referrer(program: int, arrives: datetime) -> Callable[[World, int], Script]:
    """Joins the program like anyone (unscored), then clicks and converts on their own link
    from their own devices, and may sign up a second address through it."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        home, ua = world.home_ip(), world.desktop()
        phone_ua, phone_ip = world.phone(), world.mobile_ip()
        yield Step("wait", arrives)
        code = world.programs[program].ref_code
        clicked = yield Step("click", arrives, home, ua, code, program, truth=UNSCORED)
        at = arrives + timedelta(seconds=human_gap(rng))
        yield Step(
            "conversion", at, home, ua, code, program, clicked.body.get("click_id"), truth=UNSCORED
        )
        first, last = world.person()
        email = world.email(first, last)
        at += timedelta(seconds=rng.uniform(20, 120))
        yield Step("signup", at, home, ua, code, program, email=email, truth=UNSCORED)
        at += timedelta(minutes=rng.uniform(1, 30))
        confirmed = yield Step("confirm", at, home, ua, program=program, email=email)
        own = confirmed.body.get("ref_code")
        devices = [(home, ua)]
        if rng.random() < 0.5:  # the hub on the phone: that device is known too
            at += timedelta(minutes=rng.uniform(1, 60))
            yield Step("hub", at, phone_ip, phone_ua, hub_path=confirmed.body.get("hub_path"))
            devices.append((phone_ip, phone_ua))
        for _ in range(rng.randint(1, 3)):
            ip, agent = rng.choice(devices)
            at += timedelta(minutes=rng.uniform(10, 180))
            clicked = yield Step(
                "click", at, ip, agent, own, program, truth=FRAUD, expected="self_referral"
            )
            at += timedelta(seconds=human_gap(rng))
            yield Step(
                "conversion",
                at,
                ip,
                agent,
                own,
                program,
                clicked.body.get("click_id"),
                truth=FRAUD,
                expected="self_referral",
            )
        if rng.random() < 0.5:  # the partner's address, signed up through their own link
            first, last = world.person()
            at += timedelta(seconds=rng.uniform(30, 300))
            yield Step(
                "signup",
                at,
                home,
                ua,
                own,
                program,
                email=world.email(first, last),
                truth=FRAUD,
                expected="self_referral",
            )

    return script


def disposable(referred_by: int, arrives: datetime) -> Callable[[World, int], Script]:
    """Wants the freebie, not the mail: a throwaway address (and maybe a second one)."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        program = world.referrers[referred_by].program
        agent, ip = world.device(), world.home_ip()
        yield Step("wait", arrives)
        code = world.code_for(referred_by, program)
        clicked = yield Step("click", arrives, ip, agent, code, program, truth=UNSCORED)
        at = arrives + timedelta(seconds=human_gap(rng))
        click_id = clicked.body.get("click_id")
        yield Step("conversion", at, ip, agent, code, program, click_id, truth=UNSCORED)
        for _ in range(1 if rng.random() < 0.7 else 2):
            first, last = world.person()
            address = f"{first}{rng.randrange(100, 9999)}@{rng.choice(DISPOSABLE_DOMAINS)}"
            at += timedelta(seconds=rng.uniform(15, 120))
            yield Step(
                "signup",
                at,
                ip,
                agent,
                code,
                program,
                email=address,
                truth=FRAUD,
                expected="disposable_email",
            )

    return script


def alias_signups(referred_by: int, arrives: datetime) -> Callable[[World, int], Script]:
    """Signs up once honestly (unscored), then the same mailbox again and again under
    variants: +tags, Gmail dots, googlemail.com — to pad a friend's leads."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        program = world.referrers[referred_by].program
        agent, ip = world.device(), world.home_ip()
        while True:
            first, last = world.person()
            domain = rng.choice(["gmail.com", "gmail.com", "web.de", "gmx.de"])
            base = f"{first}{last}@{domain}"
            if world.new_mailbox(base):
                break
        yield Step("wait", arrives)
        program_code = world.programs[program].ref_code
        at = arrives
        yield Step("signup", at, ip, agent, program_code, program, email=base, truth=UNSCORED)
        local = f"{first}{last}"
        variants = [f"{first}{last}+{tag}@{domain}" for tag in ("x", "1", "freebie", "neu")]
        if domain == "gmail.com":
            variants += [
                f"{first}.{last}@gmail.com",
                ".".join(local) + "@gmail.com",
                f"{first}{last}@googlemail.com",
                f"{first[0]}.{first[1:]}{last}+2@gmail.com",
            ]
        for address in rng.sample(variants, rng.randint(1, 3)):
            at += timedelta(minutes=rng.uniform(2, 120))
            if rng.random() < 0.3:  # from the phone this time
                agent, ip = world.phone(), world.mobile_ip()
            code = world.code_for(referred_by, program)
            yield Step(
                "signup",
                at,
                ip,
                agent,
                code,
                program,
                email=address,
                truth=FRAUD,
                expected="alias_email",
            )

    return script


def headless(program: int, arrives: datetime) -> Callable[[World, int], Script]:
    """Puppeteer / Playwright in headless Chrome: runs the page's script like a browser."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        agent, ip = rng.choice(HEADLESS), world.datacenter_ip()
        yield Step("wait", arrives)
        at = arrives
        for _ in range(rng.randint(1, 4)):
            code = world.code_for(_random_referrer(world, program), program)
            clicked = yield Step(
                "click", at, ip, agent, code, program, truth=FRAUD, expected="bot_user_agent"
            )
            if rng.random() < 0.6:
                at += timedelta(seconds=rng.uniform(1, 12))
                yield Step(
                    "conversion",
                    at,
                    ip,
                    agent,
                    code,
                    program,
                    clicked.body.get("click_id"),
                    truth=FRAUD,
                    expected="bot_user_agent",
                )
            at += timedelta(seconds=rng.uniform(20, 600))

    return script


def link_previewer(referred_by: int, at: datetime) -> Callable[[World, int], Script]:
    """The preview a messenger or network fetches when a link is posted. Worst case: one
    that runs the page's script (as Google's and some messengers' renderers do)."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        me = world.referrers[referred_by]
        agent, prefix = rng.choice(PREVIEWERS)
        ip = me.phone_ip if prefix is None else world.ip(prefix)
        yield Step("wait", at)
        code = world.code_for(referred_by, me.program)
        yield Step("click", at, ip, agent, code, me.program, truth=FRAUD, expected="bot_user_agent")

    return script


def conversion_replayer(referred_by: int, arrives: datetime) -> Callable[[World, int], Script]:
    """Calls the conversion endpoint straight, no freebie page before it, through a new
    proxy each time (beyond the issue's list: the rule no_prior_click exists for it)."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        program = world.referrers[referred_by].program
        yield Step("wait", arrives)
        at = arrives
        for _ in range(rng.randint(1, 3)):
            code = world.code_for(referred_by, program)
            yield Step(
                "conversion",
                at,
                world.proxy_ip(),
                world.device(),
                code,
                program,
                truth=FRAUD,
                expected="no_prior_click",
            )
            at += timedelta(seconds=rng.uniform(30, 900))

    return script


def repeat_converter(referred_by: int, arrives: datetime) -> Callable[[World, int], Script]:
    """One person at home pushing a friend's count: the whole funnel again and again, each
    time in another browser or a private window, at a human pace (beyond the issue's list:
    the rule conversion_rate_limit exists for it). The first round looks like anyone."""

    def script(world: World, _actor: int) -> Script:
        rng = world.rng
        program = world.referrers[referred_by].program
        ip = world.home_ip()
        agents = [ua for ua, _ in DESKTOPS] + [world.phone()]
        rng.shuffle(agents)
        yield Step("wait", arrives)
        code = world.code_for(referred_by, program)
        at = arrives
        for agent in agents[: rng.randint(4, 7)]:
            clicked = yield Step("click", at, ip, agent, code, program, truth=UNSCORED)
            at += timedelta(seconds=rng.uniform(12, 60))
            yield Step(
                "conversion",
                at,
                ip,
                agent,
                code,
                program,
                clicked.body.get("click_id"),
                truth=FRAUD,
                expected="conversion_rate_limit",
            )
            at += timedelta(seconds=rng.uniform(60, 600))

    return script


def _random_referrer(world: World, program: int) -> int | None:
    mine = [i for i, r in enumerate(world.referrers) if r.program == program and r.code]
    return world.rng.choice(mine) if mine and world.rng.random() < 0.7 else None


# --- the population ----------------------------------------------------------------------------


@dataclass
class Mix:
    """How many of each. `scale` multiplies the crowd sizes (not the fixed scenarios)."""

    programs: int = 3
    referrers_per_program: int = 8
    visitors: int = 200
    audience: int = 30
    offices: tuple[int, ...] = (2, 3, 4, 6, 8, 12)
    click_bots: int = 6
    rotating_bots: int = 2
    click_farms: int = 3
    instant_converters: int = 30
    self_referrers: int = 12
    disposable: int = 20
    alias: int = 10
    headless: int = 8
    conversion_replayers: int = 12
    repeat_converters: int = 4

    def scaled(self, scale: float) -> Mix:
        def s(n: int) -> int:
            return max(1, round(n * scale))

        return Mix(
            programs=self.programs,
            referrers_per_program=s(self.referrers_per_program),
            visitors=s(self.visitors),
            audience=s(self.audience),
            offices=self.offices,
            click_bots=s(self.click_bots),
            rotating_bots=s(self.rotating_bots),
            click_farms=s(self.click_farms),
            instant_converters=s(self.instant_converters),
            self_referrers=s(self.self_referrers),
            disposable=s(self.disposable),
            alias=s(self.alias),
            headless=s(self.headless),
            conversion_replayers=s(self.conversion_replayers),
            repeat_converters=s(self.repeat_converters),
        )


def population(world: World, mix: Mix) -> list[Actor]:
    """Every actor with their plan. Traffic follows the moments referrers share their link;
    the day runs from 06:00 to past midnight (UTC), so the salt and the IP day roll over."""
    rng = world.rng
    actors: list[Actor] = []

    def day(start_hour: float = 8, end_hour: float = 22) -> datetime:
        return START + timedelta(hours=rng.uniform(start_hour - 6, end_hour - 6))

    def after_share(referrer: int, mean_minutes: float = 90) -> datetime:
        return world.referrers[referrer].shares_at + timedelta(
            minutes=min(rng.expovariate(1 / mean_minutes), 600)
        )

    for program in range(mix.programs):
        for _ in range(mix.referrers_per_program):
            world.referrers.append(
                Referrer(program, day(9, 20), ip=world.home_ip(), phone_ip=world.mobile_ip())
            )
    honest = list(range(len(world.referrers)))
    for index in honest:
        actors.append(Actor("referrer", LEGIT, referrer(index)))
        for _ in range(rng.choice([1, 1, 2, 3])):
            at = world.referrers[index].shares_at + timedelta(seconds=rng.uniform(1, 20))
            actors.append(Actor("link_previewer", "link_previewer", link_previewer(index, at)))

    weights = [rng.paretovariate(1.5) for _ in honest]  # a few referrers bring most visitors
    for _ in range(mix.visitors):
        if rng.random() < 0.25:
            program = rng.randrange(mix.programs)
            actors.append(Actor("visitor", LEGIT, visitor(None, program, day(7, 23))))
        else:
            index = rng.choices(honest, weights=weights)[0]
            program = world.referrers[index].program
            actors.append(Actor("visitor", LEGIT, visitor(index, program, after_share(index))))

    popular = honest[0]  # posts to a big audience: a burst within two hours
    for _ in range(mix.audience):
        program = world.referrers[popular].program
        arrives = after_share(popular, mean_minutes=35)
        actors.append(Actor("audience", LEGIT, visitor(popular, program, arrives)))

    for size in mix.offices:  # colleagues behind one NAT, the link posted in the team chat
        index = rng.choice(honest)
        program = world.referrers[index].program
        ip = world.ip("193.158")
        posted = START + timedelta(hours=rng.uniform(3, 9))
        agents = rng.sample([ua for ua, _ in DESKTOPS], k=min(size, len(DESKTOPS)))
        for n in range(size):
            agent = agents[n] if n < len(agents) and rng.random() < 0.8 else world.phone()
            arrives = posted + timedelta(minutes=min(rng.expovariate(1 / 45), 480))
            actors.append(
                Actor(
                    "office",
                    LEGIT,
                    visitor(index, program, arrives, ip=ip, ua=agent, convert_share=0.5),
                )
            )

    def owners(n: int) -> list[int]:
        """Fraudsters' own participant codes: they joined like anyone (08:00 at the latest)."""
        made = []
        for _ in range(n):
            program = rng.randrange(mix.programs)
            world.referrers.append(
                Referrer(
                    program,
                    START + timedelta(hours=3),
                    ip=world.home_ip(),
                    phone_ip=world.mobile_ip(),
                )
            )
            made.append(len(world.referrers) - 1)
        return made

    for owner in owners(mix.click_farms):
        actors.append(Actor("farm_owner", UNSCORED, referrer(owner)))
        actors.append(Actor("click_farm", "click_farm", click_farm(owner, day(10, 18))))

    for _ in range(mix.click_bots):
        actors.append(
            Actor("click_bot", "click_bot", click_bot(rng.randrange(mix.programs), day()))
        )
    for _ in range(mix.rotating_bots):
        actors.append(
            Actor("rotating_bot", "rotating_bot", rotating_bot(rng.randrange(mix.programs), day()))
        )
    for _ in range(mix.instant_converters):
        index = rng.choice(honest)
        actors.append(
            Actor(
                "instant_converter",
                "instant_converter",
                instant_converter(index, after_share(index)),
            )
        )
    for _ in range(mix.self_referrers):
        program = rng.randrange(mix.programs)
        actors.append(Actor("self_referrer", "self_referrer", self_referrer(program, day(7, 16))))
    for _ in range(mix.disposable):
        index = rng.choice(honest)
        actors.append(Actor("disposable", "disposable", disposable(index, after_share(index))))
    for _ in range(mix.alias):
        index = rng.choice(honest)
        actors.append(Actor("alias", "alias", alias_signups(index, after_share(index))))
    for _ in range(mix.headless):
        actors.append(Actor("headless", "headless", headless(rng.randrange(mix.programs), day())))
    for _ in range(mix.conversion_replayers):
        index = rng.choice(honest)
        actors.append(
            Actor(
                "conversion_replayer",
                "conversion_replayer",
                conversion_replayer(index, after_share(index)),
            )
        )
    for _ in range(mix.repeat_converters):
        index = rng.choice(honest)
        actors.append(
            Actor(
                "repeat_converter",
                "repeat_converter",
                repeat_converter(index, after_share(index, 120)),
            )
        )
    return actors


# --- the driver ------------------------------------------------------------------------------


class Driver:
    """Sends each step through the app's public HTTP API and reads what it answered and
    which fraud-log rows it wrote."""

    def __init__(self, app: Flask, mailbox: Any) -> None:
        self.app = app
        self.client = app.test_client()
        self.mailbox = mailbox
        self.last_log_id = 0

    def _headers(self, step: Step) -> dict[str, str]:
        return {"User-Agent": step.ua, "X-Forwarded-For": step.ip}

    def _post(self, path: str, step: Step, body: dict[str, Any]):
        return self.client.post(f"/api/referral/{path}", json=body, headers=self._headers(step))

    def _new_log_types(self) -> list[str]:
        from referral_app.models import FraudLogEntry

        with self.app.app_context():
            rows = db.session.execute(
                select(FraudLogEntry.id, FraudLogEntry.type)
                .where(FraudLogEntry.id > self.last_log_id)
                .order_by(FraudLogEntry.id)
            ).all()
        if rows:
            self.last_log_id = rows[-1][0]
        return [row[1] for row in rows]

    def perform(self, step: Step) -> Result:
        handler = getattr(self, "_" + step.action)
        return handler(step)

    def _click(self, step: Step) -> Result:
        body = {"ref": step.ref, "page": f"https://example.org/{step.program}/freebie"}
        response = self._post("track-click", step, body)
        data = response.get_json() or {}
        types = self._new_log_types()
        status = data.get("status", f"http_{response.status_code}")
        flagged = status == "blocked"
        return Result(response.status_code, data, status, flagged, _flag_rules(types, flagged))

    def _conversion(self, step: Step) -> Result:
        body: dict[str, Any] = {"ref": step.ref, "page": f"https://example.org/{step.program}/ok"}
        if step.click_id:
            body["click_id"] = step.click_id
        response = self._post("track-conversion", step, body)
        data = response.get_json() or {}
        types = self._new_log_types()
        status = data.get("status", f"http_{response.status_code}")
        flagged = status == "blocked" or bool(data.get("suspicious"))
        return Result(response.status_code, data, status, flagged, _flag_rules(types, flagged))

    def _signup(self, step: Step) -> Result:
        body = {"ref": step.ref, "email": step.email, "consent": True}
        if step.name:
            body["name"] = step.name
        response = self._post("register-lead", step, body)
        data = response.get_json() or {}
        types = self._new_log_types()
        status = data.get("status") or data.get("error") or f"http_{response.status_code}"
        flagged = status == "disposable_email" or any(
            t in ("alias_email", "self_referral") for t in types
        )
        return Result(response.status_code, data, status, flagged, _flag_rules(types, flagged))

    def _confirm(self, step: Step) -> Result:
        assert step.email
        token = self._token(step.email, r"/api/referral/confirm-lead\?token=([A-Za-z0-9_-]+)")
        response = self._post("confirm-lead", step, {"token": token})
        data = dict(response.get_json() or {})
        self._new_log_types()
        if response.status_code == 200:
            data["hub_path"] = "/hub/" + self._token(step.email, r"/hub/([A-Za-z0-9_-]+)")
        return Result(response.status_code, data, data.get("status", "?"), False, ())

    def _hub(self, step: Step) -> Result:
        response = self.client.get(step.hub_path or "/hub/-", headers=self._headers(step))
        self._new_log_types()
        return Result(response.status_code, {}, f"http_{response.status_code}", False, ())

    def _wait(self, step: Step) -> Result:
        return Result(0, {}, "waited", False, ())

    def _token(self, address: str, pattern: str) -> str:
        """The newest link of `pattern` in a mail to `address` (the real SMTP server's)."""
        from .support_mail import text_of

        with self.mailbox.lock:
            messages = list(self.mailbox.messages)
        for message in reversed(messages):
            if address.lower() not in [a.lower() for _, a in getaddresses([str(message["To"])])]:
                continue
            found = re.search(pattern, text_of(message))
            if found:
                return found.group(1)
        raise AssertionError(f"no mail with {pattern} to a simulated address")


def _flag_rules(types: Iterable[str], flagged: bool) -> tuple[str, ...]:
    if not flagged:
        return ()
    return tuple(t for t in dict.fromkeys(types) if t not in DUPLICATE_TYPES)


# --- running -----------------------------------------------------------------------------------


def setup_programs(app: Flask, count: int) -> list[Program]:
    """The customers whose programs the traffic visits (set up directly, not traffic)."""
    from referral_app.accounts import users as accounts
    from referral_app.models import Customer

    programs = []
    with app.app_context():
        for n in range(count):
            customer, _user = accounts.create_customer(
                f"kunde{n}@sim.example", "kunden-passwort", f"Coaching {n} GmbH"
            )
            customer.referral_enabled = True
            customer.imprint = f"Coaching {n} GmbH\nHauptstraße {n + 1}\n80331 München"
            customer.sender_name = f"Coaching {n}"
            customer.contact_email = f"hallo{n}@sim.example"
            db.session.commit()
            row = db.session.get(Customer, customer.id)
            programs.append(Program(row.id, row.ref_code, f"coaching{n}.example"))
    return programs


def run(app: Flask, mailbox: Any, seed: int = 20310312, scale: float = 1.0) -> Report:
    """Play the whole day through `app` (a fresh database; mail to `mailbox`, a
    tests.support_mail.SmtpServer) and score it."""
    from referral_app.tracking.owners import forget_cached_codes
    from referral_app.tracking.visitor import forget_cached_salts

    forget_cached_salts()
    forget_cached_codes()
    rng = random.Random(seed)
    world = World(rng, setup_programs(app, Mix().programs))
    actors = population(world, Mix().scaled(scale))
    driver = Driver(app, mailbox)
    events: list[Event] = []
    queue: list[tuple[datetime, int, int, Script, Step]] = []
    order = itertools.count()
    with time_machine.travel(START, tick=False) as traveller:
        for number, actor in enumerate(actors):
            script = actor.script(world, number)
            first = next(script)
            heapq.heappush(queue, (first.at, next(order), number, script, first))
        now = START
        while queue:
            at, _, number, script, step = heapq.heappop(queue)
            now = max(now, at)
            traveller.move_to(now)
            result = driver.perform(step)
            if step.action in ("click", "conversion", "signup"):
                actor = actors[number]
                if actor.label != LEGIT and step.truth == LEGIT:
                    step.truth = UNSCORED  # a fraudster's honest-looking step
                events.append(Event(number, actor.kind, actor.label, step, result))
            try:
                following = script.send(result)
            except StopIteration:
                continue
            heapq.heappush(queue, (following.at, next(order), number, script, following))
    forget_cached_salts()
    forget_cached_codes()
    return Report(events, actors, {k: app.config.get(k) for k in CONFIG_KEYS}, seed)


CONFIG_KEYS = (
    "FRAUD_CLICK_WINDOW_HOURS",
    "FRAUD_IP_DAILY_CLICKS",
    "FRAUD_CONVERSIONS_PER_IP",
    "FRAUD_FAST_CONVERSION_SECONDS",
    "FRAUD_PARTICIPANT_HOURLY_CONVERSIONS",
)


# --- scoring -----------------------------------------------------------------------------------


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return (self.tp / (self.tp + self.fn)) if self.tp + self.fn else 1.0


@dataclass
class KindRow:
    kind: str
    label: str
    actors: int
    events: int = 0
    scored: int = 0
    flagged: int = 0
    caught_by_expected: int = 0
    duplicates: int = 0
    people_flagged: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)


@dataclass
class Report:
    events: list[Event]
    actors: list[Actor]
    config: dict[str, Any]
    seed: int

    def scored(self, extra_kinds: bool = True) -> list[Event]:
        return [
            e
            for e in self.events
            if e.step.truth in (LEGIT, FRAUD) and (extra_kinds or e.kind not in EXTRA_KINDS)
        ]

    def overall(self, extra_kinds: bool = False) -> Score:
        """Over the issue's population (DESIGN.md's targets), or with the extra kinds too."""
        score = Score()
        for event in self.scored(extra_kinds):
            if event.step.truth == FRAUD:
                if event.result.flagged:
                    score.tp += 1
                else:
                    score.fn += 1
            elif event.result.flagged:
                score.fp += 1
        return score

    def per_rule(self) -> dict[str, tuple[Score, float]]:
        """rule -> (TP/FP/FN, recall). TP: fraud events the rule flagged; FP: legit events it
        flagged; FN: fraud events this rule is meant for (their `expected` rule) that went
        through unflagged. Recall: the share of the rule's events that were flagged — by it,
        or by a rule checked before it (a farm's instant conversion from an IP that already
        converted is blocked before its speed is looked at)."""
        rows: dict[str, tuple[Score, float]] = {}
        for rule in RULES:
            score, expected = Score(), 0
            for event in self.scored():
                hit = rule in event.result.rules
                if event.step.truth == FRAUD:
                    score.tp += hit
                    if event.step.expected == rule:
                        expected += 1
                        score.fn += not event.result.flagged
                elif hit:
                    score.fp += 1
            recall = (expected - score.fn) / expected if expected else float("nan")
            rows[rule] = (score, recall)
        return rows

    def legit_people(self) -> tuple[int, int]:
        """(legit people with any flag, legit people)."""
        legit = {n for n, actor in enumerate(self.actors) if actor.label == LEGIT}
        flagged = {e.actor for e in self.events if e.actor in legit and e.result.flagged}
        return len(flagged), len(legit)

    def people_flagged_share(self) -> float:
        flagged, total = self.legit_people()
        return flagged / total if total else 0.0

    def kinds(self) -> list[KindRow]:
        rows: dict[str, KindRow] = {}
        counts = Counter(actor.kind for actor in self.actors)
        for actor in self.actors:
            rows.setdefault(actor.kind, KindRow(actor.kind, actor.label, counts[actor.kind]))
        flagged_people: dict[str, set[int]] = defaultdict(set)
        for event in self.events:
            row = rows[event.kind]
            row.events += 1
            row.duplicates += event.result.status == "duplicate"
            if event.result.flagged:
                flagged_people[event.kind].add(event.actor)
                row.rules.update(event.result.rules or ("?",))
            if event.step.truth == UNSCORED:
                continue
            row.scored += 1
            row.flagged += event.result.flagged
            if event.step.expected:
                row.expected[event.step.expected] += 1
                row.caught_by_expected += event.step.expected in event.result.rules
        for kind, people in flagged_people.items():
            rows[kind].people_flagged = len(people)
        return list(rows.values())

    def offices(self) -> list[tuple[int, int, int]]:
        """Per office (one NAT address): (colleagues, colleagues who converted, colleagues
        flagged), smallest office first."""
        people: dict[str, set[int]] = defaultdict(set)
        converted: dict[str, set[int]] = defaultdict(set)
        flagged: dict[str, set[int]] = defaultdict(set)
        office_of: dict[int, str] = {}
        for event in self.events:
            if event.kind != "office":
                continue
            office = office_of.setdefault(event.actor, event.step.ip)
            people[office].add(event.actor)
            if event.step.action == "conversion":
                converted[office].add(event.actor)
            if event.result.flagged:
                flagged[office].add(event.actor)
        return sorted((len(people[ip]), len(converted[ip]), len(flagged[ip])) for ip in people)

    def kind(self, name: str) -> KindRow:
        return next(row for row in self.kinds() if row.kind == name)

    def table(self) -> str:
        """The report as Markdown (what `python -m tests.simulator` prints)."""
        out = []
        config = ", ".join(f"`{k}={v}`" for k, v in self.config.items())
        out.append(f"Seed {self.seed}; {config}.\n")
        out.append("| rule | TP | FP | FN | precision | recall |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for rule, (score, recall) in self.per_rule().items():
            shown = "—" if math.isnan(recall) else f"{recall:.3f}"
            precision = f"{score.precision:.3f}" if score.tp + score.fp else "—"
            out.append(
                f"| `{rule}` | {score.tp} | {score.fp} | {score.fn} | {precision} | {shown} |"
            )
        for title, extra in (("the issue's actors", False), ("all actors", True)):
            total = self.overall(extra)
            out.append(
                f"| **overall, {title}** | **{total.tp}** | **{total.fp}** | **{total.fn}** | "
                f"**{total.precision:.3f}** | **{total.recall:.3f}** |"
            )
        flagged, people = self.legit_people()
        out.append("")
        out.append(
            f"Legit people flagged: **{flagged} of {people} ({flagged / people:.1%})**. "
            f"Events: {len(self.events)} ({len(self.scored())} scored)."
        )
        out.append("")
        out.append(
            "| actor kind | actors | events | scored | flagged | caught by its rule | "
            "duplicates | flags by rule |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---|")
        order = {LEGIT: 0, UNSCORED: 1}
        for row in sorted(
            self.kinds(), key=lambda r: (order.get(r.label, 2), r.kind in EXTRA_KINDS, r.kind)
        ):
            expected = sum(row.expected.values())
            caught = f"{row.caught_by_expected}/{expected}" if expected else "—"
            if row.label == LEGIT:
                caught = f"people flagged: {row.people_flagged}"
            rules = ", ".join(f"{k} {v}" for k, v in row.rules.most_common()) or "—"
            name = f"{row.kind} (extra)" if row.kind in EXTRA_KINDS else row.kind
            out.append(
                f"| {name} | {row.actors} | {row.events} | {row.scored} | {row.flagged} | "
                f"{caught} | {row.duplicates} | {rules} |"
            )
        offices = "; ".join(
            f"{people} colleagues, {converted} converted, {flagged} flagged"
            for people, converted, flagged in self.offices()
        )
        out.append("")
        out.append(f"Offices (one IP each): {offices}.")
        return "\n".join(out)

    def summary(self) -> str:
        total, everything = self.overall(), self.overall(extra_kinds=True)
        flagged, people = self.legit_people()
        return (
            f"precision {total.precision:.3f}  recall {total.recall:.3f}  "
            f"people flagged {flagged}/{people} ({flagged / people:.1%})  "
            f"TP {total.tp} FP {total.fp} FN {total.fn}  |  all actors: precision "
            f"{everything.precision:.3f} recall {everything.recall:.3f}  |  office colleagues "
            f"flagged (by office size): "
            + ", ".join(f"{flagged}/{people}" for people, _, flagged in self.offices())
        )


# --- standalone --------------------------------------------------------------------------------


def standalone_app(url: str, redis_url: str | None, **overrides: Any) -> Flask:
    """An app on a fresh database (a new SQLite file, or the given database, whose tables are
    dropped and made anew by the migrations) and a flushed Redis db."""
    from flask_migrate import upgrade

    from referral_app import create_app
    from referral_app.config import TestConfig

    config = {key: getattr(TestConfig, key) for key in dir(TestConfig) if key.isupper()}
    config.update(
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        REDIS_URL=redis_url,
        TRUSTED_PROXY_COUNT=1,
        RATELIMIT_ENABLED=False,
    )
    config.update(overrides)
    app = create_app(config)
    with app.app_context():
        if not url.startswith("sqlite"):
            with db.engine.begin() as connection:
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
                tables = ("alembic_version", *[t.name for t in db.metadata.sorted_tables])
                for table in tables:
                    connection.exec_driver_sql(f"DROP TABLE IF EXISTS `{table}`")
        upgrade(directory=str(ROOT / "migrations"))
        if redis_url:
            from referral_app.core.redis_conn import get_redis

            get_redis().flushdb()
    return app


def _value(raw: str) -> Any:
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulator", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seed", type=int, default=20310312)
    parser.add_argument(
        "--seeds", type=int, default=1, help="play this many seeds from --seed on; summaries"
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sweep", metavar="KEY=V1,V2,...", help="one summary line per value")
    parser.add_argument("--database-url", help="MariaDB URL; its tables are dropped first")
    parser.add_argument("--redis-url", help="Redis URL; this db is flushed first")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        overrides[key] = _value(raw)
    runs: list[dict[str, Any]] = [overrides]
    if args.sweep:
        key, _, values = args.sweep.partition("=")
        runs = [{**overrides, key: _value(v)} for v in values.split(",")]
    summaries = bool(args.sweep) or args.seeds > 1

    from .support_mail import SmtpServer

    mailbox = SmtpServer()
    mailbox.start()
    scratch = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - RAM, if any
    try:
        for config in runs:
            shown = ", ".join(f"{k}={v}" for k, v in config.items()) or "defaults"
            totals = []
            for seed in range(args.seed, args.seed + args.seeds):
                with tempfile.TemporaryDirectory(prefix="fraud-sim-", dir=scratch) as folder:
                    url = args.database_url or f"sqlite:///{folder}/sim.sqlite3"
                    app = standalone_app(url, args.redis_url, **mailbox.config, **config)
                    report = run(app, mailbox, seed=seed, scale=args.scale)
                    with app.app_context():
                        db.engine.dispose()
                if not summaries:
                    print(report.table())
                    continue
                print(f"{shown}, seed {seed}: {report.summary()}", flush=True)
                score, (flagged, people) = report.overall(), report.legit_people()
                totals.append((score.precision, score.recall, flagged / people))
            if len(totals) > 1:
                precision, recall, share = (sum(t) / len(t) for t in zip(*totals, strict=True))
                print(
                    f"{shown}, mean of {len(totals)} seeds: precision {precision:.3f}  "
                    f"recall {recall:.3f}  people flagged {share:.1%}  (worst: precision "
                    f"{min(t[0] for t in totals):.3f}, recall {min(t[1] for t in totals):.3f}, "
                    f"people flagged {max(t[2] for t in totals):.1%})",
                    flush=True,
                )
    finally:
        mailbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
