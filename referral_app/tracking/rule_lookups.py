"""The reads the fraud rules need from the raw events: was this visitor counted before for
this code, their latest click, the participant's own devices. Compiled once per table.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, true
from sqlalchemy.orm import Session

from ..models import ParticipantDevice
from .visitor import Visitor

# Built once with bind parameters (hot path). A visitor without a previous salt passes
# salt id -1, which matches nothing.
_device = ParticipantDevice.__table__
_OWN_DEVICE = (
    select(_device.c.participant_id)
    .where(
        _device.c.participant_id == bindparam("participant_id"),
        or_(
            and_(_device.c.salt_id == bindparam("salt"), _device.c.fingerprint == bindparam("fp")),
            and_(
                _device.c.salt_id == bindparam("previous_salt"),
                _device.c.fingerprint == bindparam("previous_fp"),
            ),
        ),
    )
    .limit(1)
)


def _visitor_params(visitor: Visitor) -> dict[str, Any]:
    return {
        "salt": visitor.salt_id,
        "fp": visitor.fingerprint,
        "previous_salt": visitor.previous_salt_id if visitor.previous_salt_id else -1,
        "previous_fp": visitor.previous_fingerprint or "",
    }


def own_device(session: Session, participant_id: int, visitor: Visitor) -> bool:
    """Is this visitor one of the participant's own devices (seen at sign-up, confirmation or
    on their hub) under the current or the previous salt?"""
    params = {"participant_id": participant_id, **_visitor_params(visitor)}
    return session.execute(_OWN_DEVICE, params).first() is not None


@lru_cache(maxsize=4)
def _counted_before_statement(table: Any) -> Any:
    return (
        select(table.c.id)
        .where(
            table.c.ref_code == bindparam("code"),
            table.c.first_in_period == true(),
            or_(
                and_(table.c.salt_id == bindparam("salt"), table.c.fingerprint == bindparam("fp")),
                and_(
                    table.c.salt_id == bindparam("previous_salt"),
                    table.c.fingerprint == bindparam("previous_fp"),
                    table.c.created_at >= bindparam("since"),
                ),
            ),
        )
        .limit(1)
    )


def counted_before(
    session: Session, table: Any, ref_code: str, visitor: Visitor, since: datetime
) -> bool:
    """Was this visitor already counted on this code within the window? The current salt's
    period lies inside the window; the previous salt's rows are checked by their time."""
    params = {"code": ref_code, "since": since, **_visitor_params(visitor)}
    return session.execute(_counted_before_statement(table), params).first() is not None


@lru_cache(maxsize=2)
def _latest_click_statement(table: Any) -> Any:
    return (
        select(table.c.id, table.c.created_at)
        .where(
            table.c.ref_code == bindparam("code"),
            table.c.first_in_period == true(),
            or_(
                and_(table.c.salt_id == bindparam("salt"), table.c.fingerprint == bindparam("fp")),
                and_(
                    table.c.salt_id == bindparam("previous_salt"),
                    table.c.fingerprint == bindparam("previous_fp"),
                ),
            ),
        )
        .order_by(table.c.created_at.desc())
        .limit(1)
    )


@lru_cache(maxsize=2)
def _click_by_id_statement(table: Any) -> Any:
    return select(table.c.id, table.c.created_at).where(
        table.c.id == bindparam("click_id"), table.c.ref_code == bindparam("code")
    )


def prior_click(
    session: Session, clicks: Any, ref_code: str, visitor: Visitor, click_id: int | None
) -> tuple[int, datetime] | None:
    """The click a conversion follows: the one named by `click_id` if it is on this code,
    else this visitor's latest counted click on the code (current or previous salt)."""
    if click_id is not None:
        row = session.execute(
            _click_by_id_statement(clicks), {"click_id": click_id, "code": ref_code}
        ).first()
        if row is not None:
            return row[0], row[1]
    params = {"code": ref_code, **_visitor_params(visitor)}
    row = session.execute(_latest_click_statement(clicks), params).first()
    return (row[0], row[1]) if row is not None else None
