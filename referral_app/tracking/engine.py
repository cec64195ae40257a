"""The tracking engine (the seed's ReferralHelper::trackClick / trackConversion).

A click or conversion is one unit of work in one transaction: decide its status with the
fraud rules (tracking/fraud.py), insert the event row, write the fraud log, bump the counters
(`stats.record`, upserts; a referral also grants the milestones it reaches) and commit. The
read that looks for an earlier counted event only decides the common case; the unique key
(one counted event per visitor, code and salt period) is what keeps two racing requests
from both counting. Only after the commit are webhooks told (`events.emit`), so a receiver
never hears of a rolled-back event.

Every event is stored, counted or not, so a customer can see why a click did not count:
`tracked` (counted), `duplicate` (this visitor was already counted for this code in the last
24 h) or `blocked` (a fraud rule held it back; `reason` says which).

Inputs are plain values (the view passes the raw request fields, the client IP and the user
agent); nothing here reads the Flask request. No raw IP or user agent is stored: the visitor
is known only by the keyed, salted hashes of `visitor.identify`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..core.metrics import count_event
from ..core.sqlutil import begin_write, insert_returning_id
from ..extensions import db
from ..models import (
    STATUS_BLOCKED,
    STATUS_DUPLICATE,
    STATUS_TRACKED,
    Click,
    Conversion,
    utcnow,
)
from ..rewards import ledger as rewards
from ..webhooks import events
from . import fraud, rate_counters, rule_lookups, sites, stats
from .fraud import Finding, Thresholds
from .owners import CodeOwner, clean_page, forget_cached_codes, parse_click_id, resolve
from .sites import PageSource
from .unit_of_work import in_transaction
from .visitor import Visitor, identify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What happened to one event, as the public API reports it."""

    status: str
    event_id: int
    customer_id: int
    participant_id: int | None
    suspicious: bool = False
    reasons: tuple[str, ...] = ()
    # (participant, reward) grants this referral earned, to announce after the commit
    rewards_earned: tuple[tuple[int, int], ...] = ()

    @property
    def counted(self) -> bool:
        return self.status == STATUS_TRACKED


def track_click(
    ref: object, page: object, ip: str, user_agent: str, now: datetime | None = None
) -> Outcome:
    """A visitor arrived through a referral link. See the module docstring for the rules."""
    now = now or utcnow()
    owner = resolve(ref)
    visitor = identify(ip, user_agent, now, customer_id=owner.customer_id)
    limits = Thresholds.from_config(current_app.config)
    page = clean_page(page)
    owner, outcome = _track(
        ref, owner, lambda owner: _write_click(owner, visitor, page, now, limits)
    )
    count_event("click", outcome.status, outcome.reasons[0] if outcome.reasons else None)
    if outcome.counted:
        _emit(
            owner,
            "click",
            {"click_id": outcome.event_id, "participant_id": owner.participant_id},
        )
    return outcome


def track_conversion(
    ref: object,
    page: object,
    click_id: object,
    ip: str,
    user_agent: str,
    now: datetime | None = None,
    *,
    source: PageSource,
) -> Outcome:
    """A visitor reached the thank-you page. See the module docstring for the rules;
    `source` is what the request says about the page it came from (`sites.foreign_site`)."""
    now = now or utcnow()
    owner = resolve(ref)
    visitor = identify(ip, user_agent, now, customer_id=owner.customer_id)
    limits = Thresholds.from_config(current_app.config)
    page, click_id = clean_page(page), parse_click_id(click_id)
    owner, outcome = _track(
        ref,
        owner,
        lambda owner: _write_conversion(owner, visitor, page, click_id, now, limits, source),
    )
    count_event("conversion", outcome.status, outcome.reasons[0] if outcome.reasons else None)
    if outcome.rewards_earned:
        _after_commit("reward.earned", rewards.announce, list(outcome.rewards_earned))
    if outcome.counted:
        _emit(
            owner,
            "conversion",
            {
                "conversion_id": outcome.event_id,
                "participant_id": owner.participant_id,
                "suspicious": outcome.suspicious,
                "reasons": list(outcome.reasons),
            },
        )
    return outcome


def _write_click(
    owner: CodeOwner, visitor: Visitor, page: str | None, now: datetime, limits: Thresholds
) -> Outcome:
    session = db.session()
    begin_write(session)
    finding = _blocked_outright(owner, visitor)
    status = STATUS_BLOCKED if finding else STATUS_TRACKED
    if finding is None:
        if rule_lookups.counted_before(
            session, Click.__table__, owner.ref_code, visitor, now - limits.window
        ):
            status = STATUS_DUPLICATE
            finding = _duplicate_click(limits)
        else:
            # Across programs: the shared (never stored) hash names the counter.
            key, ttl = rate_counters.ip_day_key(visitor.shared_ip_hash, now)
            today = rate_counters.hit(session, key, ttl, now)
            if fraud.over_limit(today, limits.ip_daily_clicks):
                status = STATUS_BLOCKED
                finding = Finding(
                    fraud.IP_DAILY_LIMIT,
                    {"clicks_today": today, "limit": limits.ip_daily_clicks},
                )
    if owner.participant_id and status != STATUS_BLOCKED:
        # The participant's row first: its lock is taken before the event row's foreign key
        # check would share-lock it (two such transactions would deadlock on MariaDB).
        stats.record_participant(
            session, owner.participant_id, clicks=1, unique_clicks=int(status == STATUS_TRACKED)
        )
    row = _event_row(owner, visitor, page, now)
    row.update(status=status, reason=finding.type if finding else None)
    click_id = insert_returning_id(
        session,
        Click.__table__,
        {**row, "first_in_period": True if status == STATUS_TRACKED else None},
        ignore_conflict=status == STATUS_TRACKED,
    )
    if click_id is None:
        # The same visitor's identical request was counted a moment ago (the unique key).
        status, finding = STATUS_DUPLICATE, _duplicate_click(limits)
        if owner.participant_id:
            stats.record_participant(session, owner.participant_id, unique_clicks=-1)
        row.update(status=status, reason=finding.type)
        click_id = insert_returning_id(session, Click.__table__, row)
        assert click_id is not None
    fraud.write_log(
        session,
        [finding] if finding else [],
        event="click",
        customer_id=owner.customer_id,
        participant_id=owner.participant_id,
        ref_code=owner.ref_code,
        ip_hash=visitor.ip_hash,
        now=now,
        click_id=click_id,
    )
    stats.record(
        session,
        owner.customer_id,
        now.date(),
        clicks=int(status != STATUS_BLOCKED),
        unique_clicks=int(status == STATUS_TRACKED),
        blocked_clicks=int(status == STATUS_BLOCKED),
    )
    session.commit()
    return Outcome(
        status, click_id, owner.customer_id, owner.participant_id, False, _types(finding)
    )


def _write_conversion(
    owner: CodeOwner,
    visitor: Visitor,
    page: str | None,
    click_id: int | None,
    now: datetime,
    limits: Thresholds,
    source: PageSource,
) -> Outcome:
    session = db.session()
    begin_write(session)
    findings: list[Finding] = []
    # A page outside the program's allowed domains blocks like a bot: nothing counted, no
    # per-IP budget used up, and the answer says no more than `blocked`.
    blocked = _blocked_outright(owner, visitor) or sites.foreign_site(
        owner.allowed_domains, owner.customer_id, source
    )
    status = STATUS_BLOCKED if blocked else STATUS_TRACKED
    seconds: float | None = None
    matched_click: int | None = None
    if blocked:
        findings.append(blocked)
    elif rule_lookups.counted_before(
        session, Conversion.__table__, owner.ref_code, visitor, now - limits.window
    ):
        status = STATUS_DUPLICATE
        findings.append(_duplicate_conversion(limits))
    else:
        ip_key = rate_counters.conversion_ip_key(owner.customer_id, visitor.ip_hash)
        previous_key = (
            rate_counters.conversion_ip_key(owner.customer_id, visitor.previous_ip_hash)
            if visitor.previous_ip_hash
            else None
        )
        ttl = int(limits.window.total_seconds())
        count = rate_counters.hit(session, ip_key, ttl, now, also=previous_key)
        if fraud.over_limit(count, limits.conversions_per_ip):
            status = STATUS_BLOCKED
            findings.append(
                Finding(
                    fraud.CONVERSION_RATE_LIMIT,
                    {
                        "conversions_from_ip": count,
                        "limit": limits.conversions_per_ip,
                        "window_hours": ttl // 3600,
                    },
                )
            )
        else:
            matched_click, seconds, finding = _prior_click(owner, visitor, click_id, now, limits)
            if finding:
                findings.append(finding)
            if owner.participant_id:
                key, window = rate_counters.velocity_key(owner.participant_id, now)
                this_hour = rate_counters.hit(session, key, window, now)
                if fraud.over_limit(this_hour, limits.participant_hourly_conversions):
                    findings.append(
                        Finding(
                            fraud.VELOCITY,
                            {
                                "conversions_this_hour": this_hour,
                                "limit": limits.participant_hourly_conversions,
                            },
                        )
                    )
    suspicious = status == STATUS_TRACKED and bool(findings)
    if owner.participant_id and status == STATUS_TRACKED:
        stats.record_participant(
            session,
            owner.participant_id,
            conversions=1,
            suspicious_conversions=int(suspicious),
        )
    row = _event_row(owner, visitor, page, now)
    row.update(
        click_id=matched_click,
        status=status,
        suspicious=suspicious,
        reasons=[f.type for f in findings],
        seconds_since_click=seconds,
    )
    conversion_id = insert_returning_id(
        session,
        Conversion.__table__,
        {**row, "first_in_period": True if status == STATUS_TRACKED else None},
        ignore_conflict=status == STATUS_TRACKED,
    )
    if conversion_id is None:
        # The same visitor's identical request was counted a moment ago (the unique key).
        if owner.participant_id:
            stats.record_participant(
                session,
                owner.participant_id,
                conversions=-1,
                suspicious_conversions=-int(suspicious),
            )
        status, suspicious, findings = STATUS_DUPLICATE, False, [_duplicate_conversion(limits)]
        row.update(status=status, suspicious=False, reasons=[f.type for f in findings])
        conversion_id = insert_returning_id(session, Conversion.__table__, row)
        assert conversion_id is not None
    earned: list[tuple[int, int]] = []
    if owner.participant_id and status == STATUS_TRACKED and not suspicious:
        # A referral: grant the milestones it reaches in this same transaction, so the
        # ledger never lags behind the counters. Suspicious conversions earn nothing.
        earned = rewards.grant_on_referral(session, owner.participant_id)
    fraud.write_log(
        session,
        findings,
        event="conversion",
        customer_id=owner.customer_id,
        participant_id=owner.participant_id,
        ref_code=owner.ref_code,
        ip_hash=visitor.ip_hash,
        now=now,
        click_id=matched_click,
        conversion_id=conversion_id,
    )
    stats.record(
        session,
        owner.customer_id,
        now.date(),
        conversions=int(status == STATUS_TRACKED),
        suspicious_conversions=int(suspicious),
        blocked_conversions=int(status == STATUS_BLOCKED),
    )
    session.commit()
    return Outcome(
        status,
        conversion_id,
        owner.customer_id,
        owner.participant_id,
        suspicious,
        tuple(f.type for f in findings),
        tuple(earned),
    )


def _blocked_outright(owner: CodeOwner, visitor: Visitor) -> Finding | None:
    """The rules that block whatever else holds: bots, and a participant's own device."""
    if visitor.is_bot:
        return Finding(fraud.BOT_USER_AGENT, {"rule": "bot, crawler or link-preview user agent"})
    if owner.participant_id and rule_lookups.own_device(db.session, owner.participant_id, visitor):
        return Finding(fraud.SELF_REFERRAL, {"rule": "the participant's own device"})
    return None


def _duplicate_click(limits: Thresholds) -> Finding:
    return Finding(
        fraud.CLICK_RATE_LIMIT,
        {"rule": "one counted click per visitor and code", "window_hours": _hours(limits)},
    )


def _duplicate_conversion(limits: Thresholds) -> Finding:
    return Finding(
        fraud.DUPLICATE_FINGERPRINT,
        {"rule": "one conversion per visitor and code", "window_hours": _hours(limits)},
    )


def _hours(limits: Thresholds) -> int:
    return int(limits.window.total_seconds() // 3600)


def _prior_click(
    owner: CodeOwner, visitor: Visitor, click_id: int | None, now: datetime, limits: Thresholds
) -> tuple[int | None, float | None, Finding | None]:
    """(click id, seconds since it, finding): fast_conversion under the threshold,
    no_prior_click when there is no click to follow."""
    found = rule_lookups.prior_click(
        db.session(), Click.__table__, owner.ref_code, visitor, click_id
    )
    if found is None:
        return None, None, Finding(fraud.NO_PRIOR_CLICK, {"rule": "no click seen before"})
    matched, clicked_at = found
    seconds = fraud.seconds_between(clicked_at, now)
    if fraud.is_fast_conversion(seconds, limits.fast_conversion_seconds):
        return (
            matched,
            seconds,
            Finding(
                fraud.FAST_CONVERSION,
                {"seconds": seconds, "threshold_seconds": limits.fast_conversion_seconds},
            ),
        )
    return matched, seconds, None


def _event_row(owner: CodeOwner, visitor: Visitor, page: str | None, now: datetime) -> dict:
    return {
        "customer_id": owner.customer_id,
        "participant_id": owner.participant_id,
        "ref_code": owner.ref_code,
        "salt_id": visitor.salt_id,
        "fingerprint": visitor.fingerprint,
        "ip_hash": visitor.ip_hash,
        "page": page,
        "created_at": now,
    }


def _types(finding: Finding | None) -> tuple[str, ...]:
    return (finding.type,) if finding else ()


def _track(
    ref: object, owner: CodeOwner, write: Callable[[CodeOwner], Outcome]
) -> tuple[CodeOwner, Outcome]:
    """Write the event. A cached code whose participant was erased a moment ago fails the
    foreign key: forget the cache and resolve once more (now a 404)."""
    try:
        return owner, in_transaction(lambda: write(owner))
    except IntegrityError:
        forget_cached_codes()
        owner = resolve(ref)
        return owner, in_transaction(lambda: write(owner))


def _emit(owner: CodeOwner, event: str, data: dict[str, Any]) -> None:
    _after_commit(event, events.emit, owner.customer_id, event, data, owner.ref_code)


def _after_commit(event: str, call: Callable[..., Any], *args: Any) -> None:
    """Tell webhooks after the commit. The event is stored either way, so a failure to queue
    it must not turn the visitor's answer into an error."""
    try:
        call(*args)
    except Exception:  # noqa: BLE001 - logged; the tracked event stands
        db.session.rollback()
        log.exception("tracking: could not queue the %s webhook event", event)
