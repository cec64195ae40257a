"""All models, importable from one place (and seen by Alembic's autogenerate)."""

from .account import (
    ROLE_ADMIN,
    ROLE_CUSTOMER,
    ApiKey,
    AuditEntry,
    Customer,
    CustomerFile,
    User,
)
from .auth_tokens import PasswordResetToken, RememberToken
from .base import utcnow
from .delivery import OutgoingMail, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .intake import SignupIntake
from .participant import CONFIRMED as CONFIRMED_STATUS
from .participant import PENDING as PENDING_STATUS
from .participant import UNSUBSCRIBED as UNSUBSCRIBED_STATUS
from .participant import ConsentText, Participant, ParticipantDevice, RetiredLinkToken
from .reward import RewardCode, RewardGrant, RewardMilestone
from .stats import (
    COUNTERS,
    PUBLIC_COUNTERS,
    TREND_COUNTERS,
    ArchivedCounts,
    CustomerStats,
    DailyStats,
)
from .tracking import (
    FRAUD_TYPES,
    STATUS_BLOCKED,
    STATUS_DUPLICATE,
    STATUS_TRACKED,
    Click,
    Conversion,
    FraudLogEntry,
    HashSalt,
    RateCounter,
)

__all__ = [
    "CONFIRMED_STATUS",
    "PENDING_STATUS",
    "UNSUBSCRIBED_STATUS",
    "COUNTERS",
    "PUBLIC_COUNTERS",
    "TREND_COUNTERS",
    "FRAUD_TYPES",
    "ROLE_ADMIN",
    "ROLE_CUSTOMER",
    "STATUS_BLOCKED",
    "STATUS_DUPLICATE",
    "STATUS_TRACKED",
    "ApiKey",
    "ArchivedCounts",
    "AuditEntry",
    "Click",
    "ConsentText",
    "PasswordResetToken",
    "RememberToken",
    "Conversion",
    "Customer",
    "CustomerFile",
    "CustomerStats",
    "DailyStats",
    "FraudLogEntry",
    "HashSalt",
    "OutgoingMail",
    "Participant",
    "ParticipantDevice",
    "RetiredLinkToken",
    "RateCounter",
    "RewardCode",
    "RewardGrant",
    "RewardMilestone",
    "SignupIntake",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "utcnow",
]
