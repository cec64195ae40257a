"""reward fulfilment: kinds, holds, approval, the code bank

Existing grants keep what they had: a revoked one is `revoked` (as a clawback), every
other one `delivered` (its mail goes out, or went out, as before). Existing milestones
hold nothing (hold_days 0): they behave as they did.

Revision ID: 0006a
Revises: 0005b
Create Date: 2026-12-06 05:01:45.416516

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006a'
down_revision = '0005b'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE … ADD COLUMN (both engines have it): a batch "move and copy" of
    # referral_rewards would, on SQLite with foreign keys on, drop the old table and so
    # cascade-delete every grant of it.
    op.create_table('referral_reward_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reward_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=200), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['referral_reward_grants.id'], name=op.f('fk_referral_reward_codes_grant_id_referral_reward_grants'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reward_id'], ['referral_rewards.id'], name=op.f('fk_referral_reward_codes_reward_id_referral_rewards'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_reward_codes')),
    sa.UniqueConstraint('grant_id', name=op.f('uq_referral_reward_codes_grant_id')),
    sa.UniqueConstraint('reward_id', 'code', name='uq_reward_code')
    )
    op.create_index('idx_reward_code_free', 'referral_reward_codes', ['reward_id', 'used_at'], unique=False)

    op.add_column('referral_reward_grants', sa.Column('status', sa.String(length=16), server_default='delivered', nullable=False))
    op.add_column('referral_reward_grants', sa.Column('due_at', sa.DateTime(), nullable=True))
    op.add_column('referral_reward_grants', sa.Column('approved_at', sa.DateTime(), nullable=True))
    op.add_column('referral_reward_grants', sa.Column('delivered_at', sa.DateTime(), nullable=True))
    op.add_column('referral_reward_grants', sa.Column('reason_code', sa.String(length=16), nullable=True))
    op.add_column('referral_reward_grants', sa.Column('reason', sa.String(length=500), nullable=True))
    op.create_index('idx_grant_status_due', 'referral_reward_grants', ['status', 'due_at'], unique=False)

    op.add_column('referral_rewards', sa.Column('kind', sa.String(length=16), server_default='text', nullable=False))
    op.add_column('referral_rewards', sa.Column('amount_cents', sa.Integer(), nullable=True))
    op.add_column('referral_rewards', sa.Column('hold_days', sa.Integer(), server_default='0', nullable=False))
    op.add_column('referral_rewards', sa.Column('manual_approval', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('referral_rewards', sa.Column('low_stock_notified_at', sa.DateTime(), nullable=True))

    grants = sa.table(
        'referral_reward_grants',
        sa.column('status', sa.String),
        sa.column('earned_at', sa.DateTime),
        sa.column('due_at', sa.DateTime),
        sa.column('delivered_at', sa.DateTime),
        sa.column('mail_sent_at', sa.DateTime),
        sa.column('revoked_at', sa.DateTime),
        sa.column('reason_code', sa.String),
    )
    op.execute(
        grants.update()
        .where(grants.c.revoked_at.is_not(None))
        .values(status='revoked', reason_code='clawback', due_at=grants.c.earned_at)
    )
    op.execute(
        grants.update()
        .where(grants.c.revoked_at.is_(None))
        .values(
            status='delivered',
            due_at=grants.c.earned_at,
            delivered_at=sa.func.coalesce(grants.c.mail_sent_at, grants.c.earned_at),
        )
    )


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+ and MariaDB have it), not a batch copy: see upgrade.
    for column in ('low_stock_notified_at', 'manual_approval', 'hold_days', 'amount_cents', 'kind'):
        op.drop_column('referral_rewards', column)
    op.drop_index('idx_grant_status_due', table_name='referral_reward_grants')
    for column in ('reason', 'reason_code', 'delivered_at', 'approved_at', 'due_at', 'status'):
        op.drop_column('referral_reward_grants', column)
    op.drop_table('referral_reward_codes')
