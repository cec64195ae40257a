"""A milestone's code bank: single-use coupon codes the customer uploads, one per grant.

Each delivered grant takes exactly one code, and no code is ever handed out twice, also
when several daily runs (or an approval click) deliver at the same moment on any number of
hosts. The take happens inside the delivery's write transaction: on SQLite that
transaction holds the single write lock (`begin_write`); on MariaDB/MySQL the free code is
locked with `SELECT … FOR UPDATE SKIP LOCKED`, so racing runs pick different codes instead
of waiting for each other. The UPDATE is guarded (`used_at IS NULL`) either way, and the
unique `grant_id` forbids a second code for the same grant.

Low stock: a bank is low when at most `max(5, 10 % of all codes ever added)` are left. The
dashboard shows it; the customer's contact address gets one mail per low spell (cleared
when the bank is topped up above the line again), never one a day.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from datetime import datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_mail import Message
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core.errors import ValidationFailed
from ..core.sqlutil import begin_write, insert_ignore
from ..extensions import db, mail
from ..models import Customer, RewardCode, RewardMilestone, utcnow
from ..models.reward import CODE

log = logging.getLogger(__name__)

MAX_CODE_LENGTH = 200
MAX_CODES_PER_REQUEST = 10_000
MAX_CSV_BYTES = 2 * 1024 * 1024
LOW_STOCK_MIN = 5
LOW_STOCK_SHARE = 0.10


def parse_codes(text: str) -> list[str]:
    """Codes from a paste or a CSV file: one per line, or the first column of a CSV
    (comma or semicolon, as Excel writes it). Blanks and a header named `code` are
    skipped; the order is kept and repeats are dropped."""
    text = text.lstrip("\ufeff")
    sample = text[:2048]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    found: list[str] = []
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        cell = row[0].strip() if row else ""
        if cell and cell.lower() not in ("code", "codes", "gutscheincode", "coupon"):
            found.append(cell)
    return list(dict.fromkeys(found))


def check_codes(codes: list[Any]) -> list[str]:
    """The submitted codes, cleaned; a 400 names what is wrong with them."""
    if not codes:
        message = str(_l("Please enter at least one code."))
        raise ValidationFailed(message, fields={"codes": message})
    if len(codes) > MAX_CODES_PER_REQUEST:
        message = str(_l("At most %(n)d codes at once.", n=MAX_CODES_PER_REQUEST))
        raise ValidationFailed(message, fields={"codes": message})
    clean = []
    for code in codes:
        value = code.strip() if isinstance(code, str) else ""
        if not value or len(value) > MAX_CODE_LENGTH or any(ch.isspace() for ch in value):
            message = str(
                _l(
                    "Each code must be one word of 1 to %(n)d characters, without spaces.",
                    n=MAX_CODE_LENGTH,
                )
            )
            raise ValidationFailed(message, fields={"codes": message})
        clean.append(value)
    return list(dict.fromkeys(clean))


def add_codes(milestone: RewardMilestone, codes: list[Any]) -> dict[str, int]:
    """Add codes to the bank; ones already in it are ignored. Clears the low-stock note
    when the bank is above the line again. Commits."""
    if milestone.kind != CODE:
        message = str(_l("This reward does not hand out codes."))
        raise ValidationFailed(message, code="not_a_code_reward", fields={"codes": message})
    clean = check_codes(codes)
    now = utcnow()
    begin_write(db.session())
    added = 0
    for code in clean:
        added += insert_ignore(
            db.session,
            RewardCode.__table__,
            {"reward_id": milestone.id, "code": code, "created_at": now},
        )
    db.session.commit()
    counts = stock(milestone.id)
    if not counts["low"] and milestone.low_stock_notified_at is not None:
        table = RewardMilestone.__table__
        begin_write(db.session())
        db.session.execute(
            table.update().where(table.c.id == milestone.id).values(low_stock_notified_at=None)
        )
        db.session.commit()
    return {"added": added, "available": counts["available"]}


def low_stock_line(total: int) -> int:
    """At most this many codes left is "low"."""
    return max(LOW_STOCK_MIN, math.ceil(total * LOW_STOCK_SHARE))


def stock(reward_id: int) -> dict[str, Any]:
    """Available and used codes of one bank, and whether it runs low."""
    return stocks([reward_id]).get(reward_id) or _stock_entry(0, 0)


def _stock_entry(total: int, used: int) -> dict[str, Any]:
    available = total - used
    return {
        "available": available,
        "used": used,
        "total": total,
        "low": available <= low_stock_line(total),
        "line": low_stock_line(total),
    }


def stocks(reward_ids: list[int]) -> dict[int, dict[str, Any]]:
    """`stock` for many banks in one query (the reward editor)."""
    if not reward_ids:
        return {}
    rows = db.session.execute(
        select(RewardCode.reward_id, func.count(), func.count(RewardCode.used_at))
        .where(RewardCode.reward_id.in_(reward_ids))
        .group_by(RewardCode.reward_id)
    ).all()
    found = {reward_id: _stock_entry(total, used) for reward_id, total, used in rows}
    return {reward_id: found.get(reward_id) or _stock_entry(0, 0) for reward_id in reward_ids}


def take(session: Session, reward_id: int, grant_id: int, now: datetime) -> str | None:
    """Give grant `grant_id` one free code of the bank, in the caller's write transaction
    (see the module's docstring). Returns the code, or None when the bank is empty. A
    grant that already holds a code keeps it."""
    held = session.scalar(select(RewardCode.code).where(RewardCode.grant_id == grant_id))
    if held is not None:
        return held
    table = RewardCode.__table__
    for _attempt in range(3):
        free = session.execute(
            select(table.c.id, table.c.code)
            .where(table.c.reward_id == reward_id, table.c.used_at.is_(None))
            .order_by(table.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if free is None:
            return None
        taken = session.execute(
            table.update()
            .where(table.c.id == free.id, table.c.used_at.is_(None))
            .values(grant_id=grant_id, used_at=now)
        ).rowcount
        if taken:
            return free.code
    return None


def code_of_grants(grant_ids: list[int]) -> dict[int, str]:
    if not grant_ids:
        return {}
    rows = db.session.execute(
        select(RewardCode.grant_id, RewardCode.code).where(RewardCode.grant_id.in_(grant_ids))
    )
    return {grant_id: code for grant_id, code in rows}


def warn_low_stock(base_url: str, now: datetime | None = None) -> int:
    """One mail to the customer for each code bank that fell to its low line since the
    last top-up. The note is claimed before the mail (two runs send one); a mail that
    fails gives it back, so the next run tries again. Returns the mails sent."""
    now = now or utcnow()
    milestones = list(
        db.session.scalars(
            select(RewardMilestone).where(
                RewardMilestone.kind == CODE, RewardMilestone.low_stock_notified_at.is_(None)
            )
        )
    )
    counts = stocks([m.id for m in milestones])
    db.session.commit()
    sent = 0
    table = RewardMilestone.__table__
    for milestone in milestones:
        entry = counts[milestone.id]
        if not entry["low"]:
            continue
        begin_write(db.session())
        claimed = db.session.execute(
            table.update()
            .where(table.c.id == milestone.id, table.c.low_stock_notified_at.is_(None))
            .values(low_stock_notified_at=now)
        ).rowcount
        db.session.commit()
        if not claimed:
            continue
        if _send_low_stock_mail(milestone.id, entry, base_url):
            sent += 1
        else:
            begin_write(db.session())
            db.session.execute(
                table.update().where(table.c.id == milestone.id).values(low_stock_notified_at=None)
            )
            db.session.commit()
    return sent


def _send_low_stock_mail(reward_id: int, entry: dict[str, Any], base_url: str) -> bool:
    milestone = db.session.get(RewardMilestone, reward_id)
    customer = db.session.get(Customer, milestone.customer_id) if milestone else None
    if milestone is None or customer is None or not customer.contact_email:
        return False
    link = base_url.rstrip("/") + "/dashboard/rewards"
    with force_locale(customer.language or "de"):
        subject = _("Your reward codes are running low: %(title)s", title=milestone.title)
        body = "\n\n".join(
            [
                _("Hello,"),
                _(
                    "only %(n)d codes are left for the reward “%(tier)s: %(title)s”.",
                    n=entry["available"],
                    tier=milestone.tier,
                    title=milestone.title,
                ),
                _(
                    "When the codes run out, participants who reach this reward wait until "
                    "you add new ones. You can add codes in your dashboard: %(link)s",
                    link=link,
                ),
                _("Your referral program"),
            ]
        )
    message = Message(subject=subject, recipients=[customer.contact_email], body=body)
    try:
        mail.send(message)
    except Exception:  # noqa: BLE001 - the dashboard shows it too; the run must go on
        log.warning("could not send the low-stock notice for reward %s", reward_id)
        return False
    return True
