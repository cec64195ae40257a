"""The customer's participant list: filter, search, page, and the CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..core import crypto, readonly
from ..core.errors import NotFound, ValidationFailed
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
from . import participant_search
from .paging import PAGE_SIZE, decode_cursor, encode_cursor

PARTICIPANT_STATUSES = (PENDING_STATUS, CONFIRMED_STATUS, UNSUBSCRIBED_STATUS)


def _participant_query(customer_id: int, status: str | None):
    query = select(Participant).where(Participant.customer_id == customer_id)
    if status:
        if status not in PARTICIPANT_STATUSES:
            raise ValidationFailed(
                str(_l("Unknown status.")),
                code="invalid_status",
                fields={"status": ", ".join(PARTICIPANT_STATUSES)},
            )
        query = query.where(Participant.status == status)
    return query


def _has_exact_match(query, q: str, customer_id: int) -> bool:
    reader = readonly.session()
    return (
        reader.scalar(query.where(participant_search.exact_condition(q, customer_id)).limit(1))
        is not None
    )


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
    """One page of the customer's participants, newest first, with referrals and rewards.

    `q`: a whole address or referral code finds that participant (index); any other text
    is searched in the decrypted addresses and names, at most
    `participant_search.SCAN_LIMIT` per page (`search_incomplete` says the page stopped
    there; its `next_cursor` searches on)."""
    query = _participant_query(customer_id, status)
    q = participant_search.clean_query(q)
    after = decode_cursor(cursor)
    reader = readonly.session()
    incomplete = False
    if q and not _has_exact_match(query, q, customer_id):
        result = participant_search.scan(query, q, after, want=limit + 1)
        rows, incomplete = result.found, result.incomplete
        next_after = rows[limit - 1].id if len(rows) > limit else result.next_after
        rows = rows[:limit]
    else:
        if q:
            query = query.where(participant_search.exact_condition(q, customer_id))
        if after is not None:
            query = query.where(Participant.id < after)
        rows = list(reader.scalars(query.order_by(Participant.id.desc()).limit(limit + 1)))
        next_after = rows[limit - 1].id if len(rows) > limit else None
        rows = rows[:limit]
    rewards = _rewards_of(reader, [p.id for p in rows])
    page: dict[str, Any] = {
        "items": [_participant_item(p, rewards.get(p.id, [])) for p in rows],
        "next_cursor": encode_cursor(next_after) if next_after is not None else None,
    }
    if q:
        page["search_incomplete"] = incomplete
    return page


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
    filters are checked now, before a streamed response has started. Times stay
    datetimes: the CSV format writes them (local or ISO)."""
    query = _participant_query(customer_id, status)
    q = participant_search.clean_query(q)
    return _csv_rows(query, q, customer_id)


def _matching(query, q: str, customer_id: int) -> Iterator[Participant]:
    if q and not _has_exact_match(query, q, customer_id):
        yield from participant_search.scan_all(query, q)
        return
    if q:
        query = query.where(participant_search.exact_condition(q, customer_id))
    reader = readonly.session()
    after: int | None = None
    while True:
        statement = query if after is None else query.where(Participant.id < after)
        batch = list(reader.scalars(statement.order_by(Participant.id.desc()).limit(500)))
        if not batch:
            return
        yield from batch
        after = batch[-1].id


def _csv_rows(query, q: str, customer_id: int) -> Iterator[list[Any]]:
    yield list(CSV_COLUMNS)
    reader = readonly.session()
    pending: list[Participant] = []
    for participant in _matching(query, q, customer_id):
        pending.append(participant)
        if len(pending) == 500:
            yield from _csv_batch(reader, pending)
            pending = []
    yield from _csv_batch(reader, pending)


def _csv_batch(reader: readonly.Reader, batch: list[Participant]) -> Iterator[list[Any]]:
    rewards = _rewards_of(reader, [p.id for p in batch])
    for participant in batch:
        item = _participant_item(participant, rewards.get(participant.id, []))
        item["rewards"] = "; ".join(f"{r['tier']}: {r['title']}" for r in item["rewards"])
        item["created_at"] = participant.created_at
        item["confirmed_at"] = participant.confirmed_at
        yield [item[column] for column in CSV_COLUMNS]
