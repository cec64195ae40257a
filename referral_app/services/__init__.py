"""The business rules (the seed's ReferralHelper and friends). No Flask `request` in here:
functions take plain values and work in `db.session`; the caller owns the commit unless a
function says it commits (a unit of work such as tracking one event)."""
