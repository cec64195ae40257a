"""stats archive: counts of deleted raw rows, so rebuild stays exact after deletions

Revision ID: 0002b
Revises: 0001
Create Date: 2026-11-25 12:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002b"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "referral_stats_archive",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("participant_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("unique_clicks", sa.Integer(), nullable=False),
        sa.Column("blocked_clicks", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.Integer(), nullable=False),
        sa.Column("suspicious_conversions", sa.Integer(), nullable=False),
        sa.Column("blocked_conversions", sa.Integer(), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("confirmed_leads", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_referral_stats_archive_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "customer_id", "day", "participant_id", name=op.f("pk_referral_stats_archive")
        ),
    )


def downgrade():
    op.drop_table("referral_stats_archive")
