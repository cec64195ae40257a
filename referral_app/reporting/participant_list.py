"""The customer's participant list: filter, search, page, and the CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from ..core import crypto, readonly
from ..core.errors import DomainError, NotFound, ValidationFailed
from ..core.formats import iso
from ..extensions import db
from ..models import (
    CONFIRMED_STATUS,
    PENDING_STATUS,
    UNSUBSCRIBED_STATUS,
    Participant,
    RewardGrant,
    RewardMilestone,
)
from ..participants.addresses import normalise_email
from .paging import PAGE_SIZE, decode_cursor, encode_cursor

PARTICIPANT_STATUSES = (PENDING_STATUS, CONFIRMED_STATUS, UNSUBSCRIBED_STATUS)


def normalise_search_email(text: str) -> str:
    """The searched address in the form sign-up stored and hashed (participants service),
    so an exact search finds it however it was typed."""

    try:
        return normalise_email(text)
    except DomainError:
        return text.strip().lower()


def _participant_query(customer_id: int, status: str | None, q: str | None):
    query = select(Participant).where(Participant.customer_id == customer_id)
    if status:
        if status not in PARTICIPANT_STATUSES:
            raise ValidationFailed(
                str(_l("Unknown status.")),
                code="invalid_status",
                fields={"status": ", ".join(PARTICIPANT_STATUSES)},
            )
        query = query.where(Participant.status == status)
    q = (q or "").strip()
    if q:
        # The address is stored encrypted: only an exact match on its keyed hash can find it.
        email_hash = crypto.keyed_hash("email", normalise_search_email(q))
        query = query.where(
            or_(Participant.email_hash == email_hash, Participant.ref_code == q.upper())
        )
    return query


def _rewards_of(
    session: readonly.Reader, participant_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    if not participant_ids:
        return {}
    rows = session.execute(
        select(RewardGrant.participant_id, RewardGrant.earned_at, RewardMilestone)
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .where(RewardGrant.participant_id.in_(participant_ids), RewardGrant.revoked_at.is_(None))
        .order_by(RewardMilestone.threshold)
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for pid, earned_at, milestone in rows:
        found.setdefault(pid, []).append(
            {
                "id": milestone.id,
                "tier": milestone.tier,
                "title": milestone.title,
                "threshold": milestone.threshold,
                "earned_at": iso(earned_at),
            }
        )
    return found


def _participant_item(participant: Participant, rewards: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": participant.id,
        "email": crypto.decrypt(participant.email_encrypted),
        "name": crypto.decrypt(participant.name_encrypted),
        "ref_code": participant.ref_code,
        "status": participant.status,
        "referrals": participant.referrals,
        "clicks": participant.clicks,
        "conversions": participant.conversions,
        "suspicious_conversions": participant.suspicious_conversions,
        "rewards": rewards,
        "created_at": iso(participant.created_at),
        "confirmed_at": iso(participant.confirmed_at),
    }


def list_participants(
    customer_id: int,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> dict[str, Any]:
    """One page of the customer's participants, newest first, with referrals and rewards."""
    query = _participant_query(customer_id, status, q)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Participant.id < after)
    reader = readonly.session()
    rows = list(reader.scalars(query.order_by(Participant.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    rewards = _rewards_of(reader, [p.id for p in rows])
    return {
        "items": [_participant_item(p, rewards.get(p.id, [])) for p in rows],
        "next_cursor": encode_cursor(rows[-1].id) if more and rows else None,
    }


def get_participant(customer_id: int, participant_id: int) -> dict[str, Any]:
    """One participant of this customer; another customer's id is not found (no IDOR).
    From the primary: it guards an export or an erasure."""
    participant = db.session.get(Participant, participant_id)
    if participant is None or participant.customer_id != customer_id:
        raise NotFound(str(_l("No such participant.")))
    rewards = _rewards_of(db.session, [participant.id])
    return _participant_item(participant, rewards.get(participant.id, []))


CSV_COLUMNS = (
    "id",
    "email",
    "name",
    "ref_code",
    "status",
    "referrals",
    "rewards",
    "created_at",
    "confirmed_at",
)


def participants_csv_rows(
    customer_id: int, status: str | None = None, q: str | None = None
) -> Iterator[list[Any]]:
    """Every participant matching the filter, a header row first, read in batches. The
    filters are checked now, before a streamed response has started."""
    _participant_query(customer_id, status, q)
    return _csv_rows(customer_id, status, q)


def _csv_rows(customer_id: int, status: str | None, q: str | None) -> Iterator[list[Any]]:
    yield list(CSV_COLUMNS)
    reader = readonly.session()
    after: int | None = None
    while True:
        query = _participant_query(customer_id, status, q)
        if after is not None:
            query = query.where(Participant.id < after)
        batch = list(reader.scalars(query.order_by(Participant.id.desc()).limit(500)))
        if not batch:
            return
        rewards = _rewards_of(reader, [p.id for p in batch])
        for participant in batch:
            item = _participant_item(participant, rewards.get(participant.id, []))
            item["rewards"] = "; ".join(f"{r['tier']}: {r['title']}" for r in item["rewards"])
            yield [item[column] for column in CSV_COLUMNS]
        after = batch[-1].id
