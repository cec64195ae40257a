"""click times with microseconds on MariaDB/MySQL (the fast-conversion rule measures from them)

Revision ID: 0003f
Revises: 0002b
Create Date: 2026-11-25 12:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = "0003f"
down_revision = "0002b"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "mysql":
        op.alter_column(
            "referral_clicks",
            "created_at",
            existing_type=sa.DateTime(),
            type_=mysql.DATETIME(fsp=6),
            existing_nullable=False,
        )


def downgrade():
    if op.get_bind().dialect.name == "mysql":
        op.alter_column(
            "referral_clicks",
            "created_at",
            existing_type=mysql.DATETIME(fsp=6),
            type_=sa.DateTime(),
            existing_nullable=False,
        )
